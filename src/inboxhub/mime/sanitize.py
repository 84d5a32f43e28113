"""Making a stranger's HTML safe to show, and readable as plain text.

``sanitize_html`` runs ammonia (through nh3): an allow-list of tags, attributes and
URL schemes, so scripts, event handlers, ``javascript:`` links, frames, forms and
``<base>``/``<meta>`` never survive. ``cid:`` stays allowed so inline images keep
working (the web client resolves them to attachment URLs), and ``data:`` only for
images. Style attributes are kept but filtered to presentational properties.
"""

from __future__ import annotations

import html as htmllib
import re
from copy import deepcopy

import nh3

_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "big", "style-less", "section", "main", "address"}
_TAGS.discard("style-less")
_PRESENTATIONAL = {
    "align",
    "valign",
    "width",
    "height",
    "bgcolor",
    "color",
    "border",
    "cellpadding",
    "cellspacing",
    "dir",
    "lang",
    "title",
    "style",
}
_ATTRIBUTES: dict[str, set[str]] = deepcopy(nh3.ALLOWED_ATTRIBUTES)
_ATTRIBUTES.setdefault("*", set()).update(_PRESENTATIONAL)
_ATTRIBUTES.setdefault("font", set()).update({"face", "size", "color"})
_ATTRIBUTES.setdefault("img", set()).update({"src", "alt", "width", "height"})
_ATTRIBUTES.setdefault("td", set()).update({"colspan", "rowspan", "nowrap"})
_ATTRIBUTES.setdefault("th", set()).update({"colspan", "rowspan", "nowrap"})
_STYLE_PROPERTIES = {
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-indent",
    "line-height",
    "letter-spacing",
    "white-space",
    "vertical-align",
    "width",
    "height",
    "max-width",
    "min-width",
    "margin",
    "margin-top",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-color",
    "border-style",
    "border-width",
    "border-collapse",
    "border-spacing",
    "border-radius",
    "list-style-type",
    "display",
    "direction",
}
_SCHEMES = {"http", "https", "mailto", "tel", "cid", "data"}


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    """``data:`` URLs only as image sources; CSS never with url()/expression()."""
    lowered = value.strip().lower()
    if attr in ("src", "href") and lowered.startswith("data:"):
        return value if tag == "img" and lowered.startswith("data:image/") else None
    if attr == "style" and ("url(" in lowered or "expression" in lowered):
        return None
    return value


_CLEANER = nh3.Cleaner(
    tags=_TAGS,
    clean_content_tags={
        "script",
        "style",
        "title",
        "noscript",
        "template",
        "object",
        "iframe",
        "frame",
        "frameset",
        "embed",
        "applet",
        "svg",
        "math",
    },
    attributes=_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    url_schemes=_SCHEMES,
    link_rel="noopener noreferrer",
    strip_comments=True,
    filter_style_properties=_STYLE_PROPERTIES,
)


def sanitize_html(html: str) -> str:
    return _CLEANER.clean(html)


_DROP = re.compile(r"<(script|style|head|title|noscript|template)\b.*?</\1\s*>", re.I | re.S)
_BREAK = re.compile(
    r"<\s*(br|/p|/div|/tr|/li|/h[1-6]|/table|/blockquote|/pre|hr|p|div|li|tr|h[1-6])\b[^>]*>",
    re.I,
)
_CELL = re.compile(r"<\s*/t[dh]\s*>", re.I)
_TAG = re.compile(r"<[^>]*>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n\s*\n+")


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (for search and snippets; not for display)."""
    if not html:
        return ""
    text = _COMMENT.sub(" ", html)
    text = _DROP.sub(" ", text)
    text = _BREAK.sub("\n", text)
    text = _CELL.sub(" ", text)
    text = htmllib.unescape(_TAG.sub("", text))
    text = _SPACES.sub(" ", text)
    lines = (line.strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


_WS = re.compile(r"\s+")


def make_snippet(text: str, html: str, length: int = 200) -> str:
    """The first words of the message, skipping quoted reply lines when there is more.
    Reads only as far as it needs: this runs for every message."""
    source = text or html_to_text(html[:20_000])
    fresh: list[str] = []
    quoted: list[str] = []
    size = 0
    for line in source[:20_000].splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith(">"):
            if len(quoted) < 10:
                quoted.append(line)
            continue
        fresh.append(line)
        size += len(line)
        if size > 2 * length:
            break
    snippet = _WS.sub(" ", " ".join(fresh or quoted)).strip()
    if len(snippet) <= length:
        return snippet
    cut = snippet[:length].rsplit(" ", 1)[0]
    return (cut or snippet[:length]) + "…"
