"""Streaming the elements of an untrusted XML document, in flat memory.

Parsed by lxml (libxml2) with entity substitution, DTD loading and network access
off and libxml2's size limits on (no ``huge_tree``), and a document that declares a
DTD at all is refused (none of the formats read here has one): entity expansion
("billion laughs", quadratic blow-up) and external entities cannot happen. lxml
rather than defusedxml: its pure-Python parser took 4-7× as long over the rows of a
500-row sheet, where libxml2 hands over only the elements asked for.

Elements are handed out as they complete and then dropped, with everything before
them, so a huge document costs the memory of one paragraph or row, not of its tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from inboxhub.extract.budget import Unreadable

Element = Any  # lxml.etree._Element (lxml ships no type hints)


def local(tag: object) -> str:
    """An element's name without its namespace: ``{urn:…}p`` → ``p``. The formats
    come in several namespace editions (OOXML transitional and strict), the local
    names do not change. Comments and the like have no name."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _inside(el: Element, names: set[str]) -> bool:
    node = el.getparent()
    while node is not None:
        if local(node.tag) in names:
            return True
        node = node.getparent()
    return False


def _forget_before(node: Element) -> None:
    """Drop what precedes ``node`` and each of its ancestors: all of it is read."""
    while (parent := node.getparent()) is not None:
        while node.getprevious() is not None:
            del parent[0]
        node = parent


def units(
    stream: IO[bytes], wanted: set[str], skip: frozenset[str] = frozenset()
) -> Iterator[Element]:
    """Each complete element named (locally, in any namespace) in ``wanted``, innermost
    first, unless it lies inside one named in ``skip``. Once read, an element is
    emptied; unless it lies inside another wanted one (which must not repeat its text,
    and keeps its tail), it is dropped with what precedes it."""
    events = etree.iterparse(
        stream,
        events=("end",),
        tag=[f"{{*}}{name}" for name in wanted],
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    read = 0
    skipped = set(skip)
    try:
        for _, el in events:
            if read == 0 and el.getroottree().docinfo.doctype:
                raise Unreadable("XML with a DTD refused (entity expansion attack?)")
            read += 1
            if not (skipped and _inside(el, skipped)):
                yield el
            el.clear(keep_tail=True)
            if _inside(el, wanted) or (parent := el.getparent()) is None:
                continue
            while el.getprevious() is not None:
                del parent[0]
            if read % 256 == 0:  # the levels above change less often
                _forget_before(parent)
    except etree.XMLSyntaxError as exc:
        raise Unreadable(f"XML refused or malformed ({exc})") from None
