"""Text of OpenDocument files (ODT, ODS, ODP and their templates): ``content.xml``.

Every piece of text sits in a ``text:p`` or ``text:h`` paragraph (spreadsheet cells
and slide frames too), with ``text:s``, ``text:tab`` and ``text:line-break`` for
spaces, tabs and breaks.
"""

from __future__ import annotations

from inboxhub.extract.budget import Sink, Unreadable
from inboxhub.extract.safexml import Element, local, units
from inboxhub.extract.safezip import SafeZip

MIMETYPE_PREFIX = b"application/vnd.oasis.opendocument."
SPECIAL = {"s": " ", "tab": "\t", "line-break": "\n"}


def is_odf(z: SafeZip) -> bool:
    return "mimetype" in z and "content.xml" in z and z.read("mimetype").startswith(MIMETYPE_PREFIX)


def paragraph(el: Element) -> str:
    """The paragraph's text: its own, its spans', and what follows each child."""
    out = [el.text or ""]
    stack: list[tuple[Element, bool]] = [(child, False) for child in reversed(el)]
    while stack:  # iterative: a hostile file may nest spans very deeply
        node, closing = stack.pop()
        if closing:
            out.append(node.tail or "")
            continue
        special = SPECIAL.get(local(node.tag))
        out.append(special if special is not None else node.text or "")
        stack.append((node, True))
        if special is None:
            stack.extend((child, False) for child in reversed(node))
    return "".join(out)


def odf_text(z: SafeZip, sink: Sink) -> None:
    if not is_odf(z):
        raise Unreadable("not an OpenDocument file (no mimetype and content.xml)")
    with z.open("content.xml") as stream:
        for el in units(stream, {"p", "h"}):
            sink.add(paragraph(el) + "\n")
