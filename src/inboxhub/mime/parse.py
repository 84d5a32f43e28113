"""Raw message bytes → ``ParsedEmail``. Never raises: what cannot be read is reported
in ``parse_errors`` and everything else is still filled in.

Two engines (measured in ``bench/parse_candidates.py``): ``fast.py`` takes the
ordinary message through fast-mail-parser (Rust, ~25× faster); everything it is not
sure of goes the careful way, the standard library's parser with the ``compat32``
policy (no header registry: 3× faster than ``policy.default`` and it never raises on
the corpus) and our own header decoding (``headers.py``).
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser

from inboxhub.domain.models import ParsedEmail
from inboxhub.mime.fast import parse_fast
from inboxhub.mime.headers import (
    decode_value,
    header_end,
    message_ids,
    parse_addresses,
    parse_date,
)
from inboxhub.mime.parts import Bodies, walk

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Outlook .msg (compound file)
ADDRESS_HEADERS = {
    "from": "from_",
    "sender": "sender",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "reply-to": "reply_to",
}


_NEWLINES = re.compile(r"\r\n?")
MAX_HEADER_LINE = 64 * 1024  # bytes of one header line kept when the section is too big


@dataclass(frozen=True)
class ParseLimits:
    max_parts: int = 2000
    max_depth: int = 40
    max_header_bytes: int = 1024 * 1024
    max_message_bytes: int = 64 * 1024 * 1024
    fast_path: bool = True  # False: always the standard-library path (for comparisons)


def _strip_from_line(raw: bytes) -> bytes:
    """An mbox ``From `` separator is not a header (RFC 4155)."""
    if raw.startswith(b"From "):
        end = raw.find(b"\n")
        return raw[end + 1 :] if end != -1 else b""
    return raw


def _bound_headers(raw: bytes, limit: int, errors: list[str]) -> bytes:
    """Bring an oversized header section within ``limit`` bytes, keeping the body and
    as many whole headers as fit: a single giant header is cut to its first
    ``MAX_HEADER_LINE`` bytes rather than taking From, To and Subject down with it."""
    if len(raw) <= limit:
        return raw
    end = header_end(raw)
    if end <= limit:
        return raw
    kept: list[bytes] = []
    size = 0
    for line in raw[:end].split(b"\n"):
        line = line[:MAX_HEADER_LINE]
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    errors.append(f"header section of {end} bytes truncated to {size}")
    return b"\n".join(kept) + b"\n\n" + raw[end:].lstrip(b"\r\n")


def _headers(msg: Message, errors: list[str]) -> list[tuple[str, str]]:
    return [
        (str(name), decode_value(str(value), errors, str(name))) for name, value in msg.raw_items()
    ]


def _fill_envelope(msg: Message, out: ParsedEmail, errors: list[str]) -> None:
    raw: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        raw.setdefault(str(name).lower(), []).append(str(value))
    for header, field in ADDRESS_HEADERS.items():
        if header in raw:
            addresses = parse_addresses(raw[header], errors, header.title())
            if field in ("from_", "sender"):
                setattr(out, field, addresses[0] if addresses else None)
            else:
                setattr(out, field, addresses)
    first = {k: v[0] for k, v in raw.items()}
    out.subject = decode_value(first.get("subject", ""), errors, "Subject")
    out.date = parse_date(first.get("date"), errors)
    ids = message_ids(first.get("message-id"))
    out.message_id = ids[0] if ids else None
    reply = message_ids(first.get("in-reply-to"))
    out.in_reply_to = reply[0] if reply else None
    out.references = message_ids(first.get("references"))


def _defects(msg: Message, errors: list[str]) -> None:
    for defect in getattr(msg, "defects", [])[:20]:
        errors.append(f"MIME: {type(defect).__name__}: {defect.__doc__ or ''}".strip()[:200])


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedEmail:
    limits = limits or ParseLimits()
    errors: list[str] = []
    if raw.startswith(OLE_MAGIC):
        return ParsedEmail(parse_errors=["not an RFC 5322 message: Outlook .msg (OLE) file"])
    if len(raw) > limits.max_message_bytes:
        errors.append(f"message of {len(raw)} bytes truncated to {limits.max_message_bytes}")
        raw = raw[: limits.max_message_bytes]
    raw = _bound_headers(_strip_from_line(raw), limits.max_header_bytes, errors)
    if not raw.strip():
        return ParsedEmail(parse_errors=["empty message"])
    parsed = parse_fast(raw, limits.max_parts) if limits.fast_path and not errors else None
    if parsed is None:
        parsed = _parse_careful(raw, limits, errors)
    # Line ends as readers expect them (CRLF on the wire, bare CR from old Macs).
    parsed.text, parsed.html = _NEWLINES.sub("\n", parsed.text), _NEWLINES.sub("\n", parsed.html)
    return parsed


def _parse_careful(raw: bytes, limits: ParseLimits, errors: list[str]) -> ParsedEmail:
    """The standard-library path: slower, bounded, and it never gives up."""
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32)
    except RecursionError:
        errors.append("MIME structure nested too deeply to parse; headers only")
        msg = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    out = ParsedEmail()
    if not msg.keys():
        errors.append("no headers")
    _defects(msg, errors)
    _fill_envelope(msg, out, errors)
    out.headers = _headers(msg, errors)
    bodies = Bodies()
    walk(msg, bodies, limits.max_parts, limits.max_depth, errors)
    out.text, out.html, out.attachments = bodies.text(), bodies.html(), bodies.attachments
    out.parse_errors = errors
    return out
