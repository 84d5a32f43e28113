"""Text of Office Open XML files: Word (DOCX), Excel (XLSX), PowerPoint (PPTX).

Read with the standard library's zip and lxml's streaming parser rather than
python-docx/openpyxl/python-pptx: those build the whole document in memory and have
no budgets, and we want only the text. The parts come from ``[Content_Types].xml``
(each part's type), so renamed parts and the macro and template variants work too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from inboxhub.extract.budget import Sink, Unreadable
from inboxhub.extract.safexml import Element, local, units
from inboxhub.extract.safezip import SafeZip

CONTENT_TYPES = "[Content_Types].xml"
_PREFIX = "application/vnd.openxmlformats-officedocument."
# Word: the body, then what surrounds it.
WORD_PARTS = (
    "wordprocessingml.document.main+xml",
    "wordprocessingml.template.main+xml",
    "ms-word.document.macroenabled.main+xml",
    "ms-word.template.macroenabledtemplate.main+xml",
    "wordprocessingml.header+xml",
    "wordprocessingml.footer+xml",
    "wordprocessingml.footnotes+xml",
    "wordprocessingml.endnotes+xml",
    "wordprocessingml.comments+xml",
)
SHEETS = ("spreadsheetml.worksheet+xml",)
SHARED_STRINGS = "spreadsheetml.sharedstrings+xml"
SLIDES = ("presentationml.slide+xml", "presentationml.notesslide+xml")
_DIGITS = re.compile(r"(\d+)")
# mc:Fallback repeats the content of mc:Choice for older readers.
SKIP = frozenset({"Fallback"})


def _natural(name: str) -> list[object]:
    """slide2 before slide10."""
    return [int(p) if p.isdigit() else p for p in _DIGITS.split(name)]


def part_types(z: SafeZip) -> dict[str, str]:
    """Part name (without the leading /) → its content type, lower case."""
    types: dict[str, str] = {}
    with z.open(CONTENT_TYPES) as stream:
        for el in units(stream, {"Override"}):
            name, ctype = el.get("PartName", ""), el.get("ContentType", "")
            types[name.lstrip("/")] = ctype.lower()
    return types


def _parts(types: dict[str, str], z: SafeZip, suffixes: Iterable[str]) -> list[str]:
    """The parts of the given types, in the order of ``suffixes`` then by name."""
    found: list[str] = []
    for suffix in suffixes:
        names = [n for n, t in types.items() if t.endswith(suffix) and n in z]
        found += sorted(names, key=_natural)
    return found


_BREAKS = {"tab": "\t", "br": "\n", "cr": "\n"}


def paragraph(el: Element) -> str:
    """A w:p (Word) or a:p (DrawingML: slides, shapes) as one line."""
    out: list[str] = []
    for node in el.iter("{*}t", "{*}tab", "{*}br", "{*}cr"):
        name = local(node.tag)
        out.append(node.text or "" if name == "t" else _BREAKS[name])
    return "".join(out)


def _paragraphs(z: SafeZip, names: list[str], sink: Sink) -> None:
    for name in names:
        with z.open(name) as stream:
            for el in units(stream, {"p"}, SKIP):
                sink.add(paragraph(el) + "\n")
        sink.add("\n")


def _shared_strings(z: SafeZip, name: str | None, sink: Sink) -> list[str]:
    """The workbook's string table, read as far as the text it holds could be kept:
    a sheet's text is cut there anyway, and the table is held in memory."""
    if name is None:
        return []
    strings: list[str] = []
    size = 0
    with z.open(name) as stream:
        for si in units(stream, {"si"}):
            # the runs' text; phonetic guides (rPh) hold readings, not content
            text = "".join(
                t.text or "" for t in si.iter("{*}t") if local(t.getparent().tag) != "rPh"
            )
            strings.append(text)
            size += len(text) + 1
            if size > sink.limit:
                sink.note(f"shared strings past the first {len(strings)} not read")
                break
    return strings


def _cell(c: Element, strings: list[str]) -> str:
    kind = c.get("t", "n")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in c.iter("{*}t"))
    value = next((v.text for v in reversed(c) if local(v.tag) == "v"), None)  # after <f>
    if not value:
        return ""
    if kind == "s":
        try:
            return strings[int(value)]
        except (ValueError, IndexError):
            return ""
    if kind == "b":
        return "TRUE" if value.strip() == "1" else "FALSE"
    return value  # numbers as written (dates are numbers too), formula results, errors


def _sheets(z: SafeZip, types: dict[str, str], sink: Sink) -> None:
    shared = _parts(types, z, (SHARED_STRINGS,))
    strings = _shared_strings(z, shared[0] if shared else None, sink)
    for name in _parts(types, z, SHEETS):
        with z.open(name) as stream:
            for row in units(stream, {"row"}):
                cells = (_cell(c, strings) for c in row if local(c.tag) == "c")
                line = "\t".join(v for v in cells if v)
                if line:
                    sink.add(line + "\n")
        sink.add("\n")


def ooxml_text(z: SafeZip, sink: Sink, quiet: bool = False) -> None:
    """The text of a Word, Excel or PowerPoint file. Other packages of the same build
    (XPS, 3MF, NuGet) are refused, or with ``quiet`` ignored."""
    if CONTENT_TYPES not in z:
        raise Unreadable("no [Content_Types].xml: not an Office Open XML file")
    types = {
        name: ctype.removeprefix(_PREFIX).removeprefix("application/vnd.")
        for name, ctype in part_types(z).items()
    }
    main = " ".join(t for t in types.values() if t.endswith(".main+xml"))
    if "wordprocessingml." in main or "ms-word." in main:
        _paragraphs(z, _parts(types, z, WORD_PARTS), sink)
    elif "spreadsheetml." in main or "ms-excel." in main:
        _sheets(z, types, sink)
    elif "presentationml." in main or "ms-powerpoint." in main:
        _paragraphs(z, _parts(types, z, SLIDES), sink)
    elif not quiet:
        raise Unreadable("an Office Open XML file of no known kind (not Word, Excel, PowerPoint)")
