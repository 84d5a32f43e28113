"""Building the MIME message we send (pure: no I/O). One entry point, ``build_message``,
plus the helpers the outbox needs; reply/forward rules live in ``quoting.py`` and
field validation in ``fields.py``, both re-exported here.

Structure, as mail clients write it (RFC 2046, RFC 2387):
text only → text/plain; HTML → multipart/alternative (a text version made from the
HTML when none is given); inline parts (``Part.content_id``) → multipart/related
around the HTML; attachments → multipart/mixed around all of it.

Bytes come from the standard library's generator with ``policy.SMTP`` (``folding.py``: CRLF, lines
folded at 78, non-ASCII names and subjects as RFC 2047 encoded words, filenames as
RFC 2231 parameters). Bodies are 7bit when they can be, else quoted-printable for
mostly-ASCII text and base64 for the rest: never 8bit, which a relay without
8BITMIME would have to convert (and so break a DKIM signature).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import Any

from inboxhub.domain.models import Address
from inboxhub.mime.draft import ForwardFields, Original, Part, ReplyFields
from inboxhub.mime.fields import (
    BadAddress,
    HeaderInjection,
    check_header_value,
    message_id,
    new_message_id,
    parse_address,
    parse_addresses,
)
from inboxhub.mime.folding import SEND_POLICY
from inboxhub.mime.headers import header_end
from inboxhub.mime.quoting import forward_fields, reply_fields
from inboxhub.mime.sanitize import html_to_text

__all__ = [
    "SEND_POLICY",
    "BadAddress",
    "ForwardFields",
    "HeaderInjection",
    "Original",
    "Part",
    "ReplyFields",
    "build_message",
    "check_header_value",
    "forward_fields",
    "new_message_id",
    "parse_addresses",
    "reply_fields",
    "strip_bcc",
]

AddressLike = Address | str


_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_CONTENT_TYPE = re.compile(rf"^({_TOKEN})/({_TOKEN})$")
_CONTENT_ID = re.compile(r"^[!-;=?-~]+$")  # printable ASCII but <, > and space
_BCC = re.compile(rb"bcc[ \t]*:", re.I)


def _mailbox(value: AddressLike) -> HeaderAddress:
    if isinstance(value, Address):
        check_header_value(value.name, "display name")
        value = Address(name=value.name, email=parse_address(value.email).email)
    else:
        value = parse_address(value)
    return HeaderAddress(display_name=value.name, addr_spec=value.email)


def _cte(text: str) -> str:
    raw = text.encode("utf-8")
    if raw.isascii() and max(len(line) for line in raw.split(b"\n")) <= 998:
        return "7bit"  # RFC 5322 section 2.1.1: lines up to 998 characters
    # Mostly-Latin text stays readable as quoted-printable; Cyrillic, Greek or CJK
    # text is shorter, and no less readable, as base64 (what Gmail does too).
    non_ascii = sum(1 for char in text if not char.isascii())
    return "quoted-printable" if non_ascii * 3 < len(text) else "base64"


def _text_part(text: str, subtype: str) -> MIMEPart:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    part = MIMEPart(policy=SEND_POLICY)
    part.set_content(text, subtype=subtype, charset="utf-8", cte=_cte(text))
    return part


def _multipart(subtype: str, parts: Sequence[MIMEPart]) -> MIMEPart:
    container = MIMEPart(policy=SEND_POLICY)
    container["Content-Type"] = f"multipart/{subtype}"
    for part in parts:
        container.attach(part)
    return container


def _content_id(value: str) -> str:
    check_header_value(value, "content id")
    bare = value.strip().strip("<>")
    if not _CONTENT_ID.match(bare):
        raise HeaderInjection(f"content id is not usable: {value[:80]!r}")
    return f"<{bare}>"


def _embedded_message(part: Part, filename: str) -> MIMEPart | None:
    """message/rfc822 may only be 7bit, 8bit or binary (RFC 2046 section 5.2.1): sent
    as 7bit when the message allows it; otherwise ``None`` (it goes as octet-stream)."""
    lines = part.data.replace(b"\r\n", b"\n").split(b"\n")
    if not part.data.isascii() or max(len(line) for line in lines) > 998:
        return None
    mime = MIMEPart(policy=SEND_POLICY)
    mime["Content-Type"] = "message/rfc822"
    mime["Content-Transfer-Encoding"] = "7bit"
    mime.set_payload(b"\r\n".join(lines).decode("ascii"))
    mime.add_header(
        "Content-Disposition", "attachment", **({"filename": filename} if filename else {})
    )
    return mime


def _attachment(part: Part, *, inline: bool) -> MIMEPart:
    filename = check_header_value(part.filename, "attachment filename").replace("\\", "/")
    filename = filename.rsplit("/", 1)[-1].strip()
    kind = _CONTENT_TYPE.match(part.content_type.split(";", 1)[0].strip().lower())
    maintype, subtype = kind.groups() if kind else ("application", "octet-stream")
    if (maintype, subtype) == ("message", "rfc822") and not inline:
        embedded = _embedded_message(part, filename)
        if embedded is not None:
            return embedded
    if maintype in ("message", "multipart"):  # these cannot be base64 (RFC 2046)
        maintype, subtype = "application", "octet-stream"
    mime = MIMEPart(policy=SEND_POLICY)
    options: dict[str, Any] = {"disposition": "inline" if inline else "attachment"}
    if filename:
        options["filename"] = filename
    if inline and part.content_id:
        options["cid"] = _content_id(part.content_id)
    mime.set_content(part.data, maintype, subtype, **options)
    return mime


def _body(text: str, html: str, attachments: Sequence[Part]) -> MIMEPart:
    inline = [p for p in attachments if html and p.content_id]
    attached = [p for p in attachments if not (html and p.content_id)]
    if html:
        html_part = _text_part(html, "html")
        if inline:
            html_part = _multipart(
                "related", [html_part, *(_attachment(p, inline=True) for p in inline)]
            )
        root = _multipart(
            "alternative", [_text_part(text or html_to_text(html), "plain"), html_part]
        )
    else:
        root = _text_part(text, "plain")
    if attached:
        root = _multipart("mixed", [root, *(_attachment(p, inline=False) for p in attached)])
    return root


def _message_ids(values: Sequence[str], field: str) -> str:
    return " ".join(message_id(v, field) for v in values)


def build_message(
    *,
    sender: AddressLike,
    to: Sequence[AddressLike],
    cc: Sequence[AddressLike],
    bcc: Sequence[AddressLike],
    subject: str,
    text: str | None,
    html: str | None,
    attachments: Sequence[Part],
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
) -> EmailMessage:
    """The message, ready for ``bytes(msg)``. Bcc stays a header (the transports strip
    it on the wire with ``strip_bcc``). Raises ``HeaderInjection`` or ``BadAddress``
    (both ``ValueError``) naming the field or entry at fault."""
    msg = EmailMessage(policy=SEND_POLICY)
    msg["Date"] = format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC))
    msg["From"] = _mailbox(sender)
    for name, values in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if values:
            msg[name] = [_mailbox(v) for v in values]
    msg["Subject"] = " ".join(check_header_value(subject, "subject").split())
    msg["Message-ID"] = _message_ids([message_id], "Message-ID")
    if in_reply_to:
        msg["In-Reply-To"] = _message_ids([in_reply_to], "In-Reply-To")
    if references:
        msg["References"] = _message_ids(references, "References")
    msg["MIME-Version"] = "1.0"
    body = _body(text or "", html or "", attachments)
    for name, value in body.items():
        msg[name] = value
    msg.set_payload(body.get_payload())
    return msg


def strip_bcc(raw: bytes) -> bytes:
    """``raw`` without its Bcc header (and that header's folded lines); every other byte
    stays as it was, so a DKIM signature that did not cover Bcc still verifies."""
    end = header_end(raw)
    cut = end + (2 if raw[end : end + 2] == b"\r\n" else 1) if end < len(raw) else end
    kept: list[bytes] = []
    dropping = False
    for line in raw[:cut].splitlines(keepends=True):
        if dropping and line[:1] in (b" ", b"\t"):
            continue
        dropping = _BCC.match(line) is not None
        if not dropping:
            kept.append(line)
    return b"".join(kept) + raw[cut:]
