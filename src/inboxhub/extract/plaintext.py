"""Text of plain-text attachments (``.txt``, ``.csv``, logs, patches …).

A text attachment's charset is not kept by the parser: a byte-order mark decides,
else it is detected as for message bodies (``mime/charsets.py``: UTF-8 when valid,
else charset-normalizer's guess).
"""

from __future__ import annotations

import codecs

from inboxhub.extract.budget import Sink, Unreadable
from inboxhub.extract.limits import ExtractLimits
from inboxhub.mime.charsets import decode_bytes

BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(data: bytes, declared: str | None = None) -> str:
    for bom, codec in BOMS:
        if data.startswith(bom):
            return data.decode(codec, "replace")
    return decode_bytes(data, declared)[0]


def plain_text(data: bytes, sink: Sink, limits: ExtractLimits) -> None:
    if b"\x00" in data[:8192] and not data.startswith(tuple(b for b, _ in BOMS)):
        raise Unreadable("binary data, not text")
    sink.add(decode(data).replace("\r\n", "\n"))
