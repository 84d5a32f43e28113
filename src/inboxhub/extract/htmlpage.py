"""Text of an HTML attachment, read as the message bodies are (``mime/sanitize.py``)."""

from __future__ import annotations

import re

from inboxhub.extract.budget import Sink
from inboxhub.extract.limits import ExtractLimits
from inboxhub.extract.plaintext import decode
from inboxhub.mime.sanitize import html_to_text

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.I
)


def html_text(data: bytes, sink: Sink, limits: ExtractLimits) -> None:
    declared = _META_CHARSET.search(data[:4096])
    sink.add(html_to_text(decode(data, declared.group(1).decode() if declared else None)))
