"""The fast path: ``fast-mail-parser`` (Rust) for the ordinary message.

It parses ~30× faster than the standard library (``bench/parse_candidates.py``), but
we take its result only when it is sure of it: it reported no repair
(``warnings``), the header section is plain ASCII (raw 8-bit headers need our
charset guessing), there is at most one text and one HTML body (it reads every text
part as body, even one sent as a named file), and the message holds nothing we
treat specially (TNEF, attached messages, deep nesting). Anything else returns None
and goes the careful way (``parse.py``'s standard-library path), which never gives
up on a message.
"""

from __future__ import annotations

from typing import Any

import fast_mail_parser

from inboxhub.domain.models import Address, ParsedAttachment, ParsedEmail
from inboxhub.mime.headers import (
    decode_value,
    header_end,
    message_ids,
    parse_addresses,
    parse_date,
)
from inboxhub.mime.parts import EXTENSIONS, TNEF_TYPES

MAX_BOUNDARIES = 20  # more nested multiparts than this: the bounded walk is safer
SPECIAL_TYPES = TNEF_TYPES | {"message/rfc822", "message/global"}


def _address(a: Any) -> Address:
    return Address(name=(a.display_name or "").strip(), email=(a.address or "").strip())


def _attachment(a: Any, index: int) -> ParsedAttachment:
    ctype = (a.mimetype or "application/octet-stream").lower()
    cid = (a.content_id or "").strip().strip("<>").strip() or None
    default = (
        "invite.ics" if ctype == "text/calendar" else f"part{index}" + EXTENSIONS.get(ctype, "")
    )
    return ParsedAttachment(
        filename=(a.filename or default).replace("/", "_").replace("\\", "_"),
        content_type=ctype,
        content_id=cid,
        inline=a.disposition == "inline" or (a.disposition is None and cid is not None),
        data=bytes(a.content),
    )


def parse_fast(raw: bytes, max_parts: int) -> ParsedEmail | None:
    """The parsed message, or None when the careful path must decide (including when
    the message has more parts than ``max_parts``: the careful path enforces limits
    and records where it cut)."""
    if raw.count(b"boundary=") > MAX_BOUNDARIES or not raw[: header_end(raw)].isascii():
        return None
    try:
        mail = fast_mail_parser.parse_email(raw)
    except Exception:
        return None
    if len(mail.attachments) + 2 > max_parts:
        return None
    if not mail.headers or mail.warnings or len(mail.text_plain) > 1 or len(mail.text_html) > 1:
        return None  # several text parts: which are bodies and which attachments is ours to say
    if not (mail.text_plain or mail.text_html or mail.attachments):
        return None  # nothing found: let the careful path say why
    for a in mail.attachments:
        if (a.mimetype or "").lower() in SPECIAL_TYPES or (a.filename or "").lower() == (
            "winmail.dat"
        ):
            return None
    errors: list[str] = []
    headers = [
        (name, decode_value(v, errors, name))
        for name, values in mail.headers.items()
        for v in values
    ]
    by_name: dict[str, list[str]] = {}
    for name, values in mail.headers.items():
        by_name.setdefault(name.lower(), []).extend(values)
    first = {name: values[0] for name, values in by_name.items() if values}
    reply = message_ids(first.get("in-reply-to"))
    ids = message_ids(first.get("message-id"))
    senders = parse_addresses(by_name.get("sender", []), errors, "Sender")
    out = ParsedEmail(
        message_id=ids[0] if ids else None,
        subject=decode_value(mail.subject or "", errors, "Subject"),
        sender=senders[0] if senders else None,
        to=[_address(a) for a in mail.to],
        cc=[_address(a) for a in mail.cc],
        bcc=[_address(a) for a in mail.bcc],
        reply_to=[_address(a) for a in mail.reply_to],
        date=parse_date(first.get("date"), errors),
        in_reply_to=reply[0] if reply else None,
        references=message_ids(first.get("references")),
        headers=headers,
        text="\n\n".join(t for t in mail.text_plain if t.strip()).replace("\x00", ""),
        html=(mail.text_html[0] if mail.text_html else "").replace("\x00", ""),
        attachments=[_attachment(a, i) for i, a in enumerate(mail.attachments, start=2)],
    )
    out.from_ = _address(mail.from_) if mail.from_ else None
    out.parse_errors = errors
    return out
