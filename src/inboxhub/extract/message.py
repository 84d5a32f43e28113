"""Text of an attached message (``message/rfc822``, ``.eml``): who wrote it, its
subject, its body, and the text of its own attachments, to ``max_depth`` levels."""

from __future__ import annotations

from collections.abc import Callable

from inboxhub.domain.models import Address, ParsedAttachment
from inboxhub.extract.budget import Sink, Unreadable
from inboxhub.extract.limits import ExtractLimits
from inboxhub.mime.parse import ParseLimits, parse_message
from inboxhub.mime.sanitize import html_to_text

# Reads one inner attachment into the sink (run.read_inner), one level deeper.
ReadInner = Callable[[ParsedAttachment, Sink, ExtractLimits, int], None]


def _addresses(addresses: list[Address]) -> str:
    return ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in addresses)


def message_text(
    data: bytes, sink: Sink, limits: ExtractLimits, depth: int, read_inner: ReadInner
) -> None:
    limit = ParseLimits(max_message_bytes=limits.max_attachment_bytes)
    parsed = parse_message(data, limit)
    if not parsed.headers and not parsed.text and not parsed.html:
        raise Unreadable("not a message (" + "; ".join(parsed.parse_errors[:1]) + ")")
    head = [
        ("From", _addresses([parsed.from_]) if parsed.from_ else ""),
        ("To", _addresses(parsed.to + parsed.cc)),
        ("Subject", parsed.subject),
    ]
    sink.add("".join(f"{name}: {value}\n" for name, value in head if value) + "\n")
    sink.add((parsed.text or html_to_text(parsed.html)) + "\n\n")
    if not parsed.attachments:
        return
    if depth >= limits.max_depth:
        sink.note(f"attachments of messages nested deeper than {limits.max_depth} not read")
        return
    for attachment in parsed.attachments:
        read_inner(attachment, sink, limits, depth + 1)
