"""Splitting mbox files (RFC 4155) into messages.

A message starts at a ``From `` line at the start of the file or after a blank line.
Lines quoted as ``>From `` (mboxo) or ``>>From `` (mboxrd) lose one ``>``. Each
message keeps its ``From `` separator line: it carries the delivery date, and the
parser skips it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A separator carries a time of day ("From a@b Thu Jan  4 10:00:00 2024"), which keeps a
# body paragraph that happens to start with "From " from splitting a message.
_SEPARATOR = re.compile(rb"(?:\A|(?<=\n\n)|(?<=\r\n\r\n))From \S+ [^\r\n]*\d\d:\d\d[^\r\n]*\r?\n")
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.M)
# "From sender date": a sender token then something that looks like a date.
_FROM_LINE = re.compile(rb"\AFrom \S+ +\S+.*\d\d:\d\d", re.S)


def looks_like_mbox(data: bytes) -> bool:
    """True when the data starts with an mbox ``From `` separator line."""
    first = data[:1024].split(b"\n", 1)[0]
    return bool(_FROM_LINE.match(first))


def split_mbox(data: bytes) -> Iterator[bytes]:
    starts = [m.start() for m in _SEPARATOR.finditer(data)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    for begin, end in zip(starts, [*starts[1:], len(data)], strict=True):
        chunk = data[begin:end]
        if chunk.endswith(b"\r\n\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n\n"):
            chunk = chunk[:-1]
        chunk = _QUOTED_FROM.sub(rb"\1", chunk)
        if chunk.strip():
            yield chunk
