"""Walking a message's MIME tree: which parts are the body, which are attachments.

The walk is iterative (a stack, not recursion) and bounded by part count and depth,
so a hostile message with thousands of nested multiparts costs little. The first
inline text/plain and text/html parts are the bodies; further inline text/plain
parts (list footers, signatures) are appended to the text, as mail clients show
them. ``message/rfc822`` parts are kept whole as ``.eml`` attachments, TNEF
(``winmail.dat``) is unpacked into its attachments.
"""

from __future__ import annotations

import base64
import binascii
import quopri
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message

from inboxhub.domain.models import ParsedAttachment
from inboxhub.mime.charsets import decode_bytes
from inboxhub.mime.headers import decode_value
from inboxhub.mime.tnef import unpack_tnef

TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
EXTENSIONS = {
    "text/calendar": ".ics",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "message/disposition-notification": ".txt",
}


@dataclass
class Bodies:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)

    def text(self) -> str:
        return "\n\n".join(t for t in self.texts if t.strip()).replace("\x00", "")

    def html(self) -> str:
        return (self.htmls[0] if self.htmls else "").replace("\x00", "")


def _payload(part: Message, errors: list[str], where: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # broken transfer encoding: keep the raw text
        errors.append(f"{where}: undecodable body ({type(exc).__name__})")
        raw = part.get_payload(decode=False)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data if isinstance(data, bytes) else b""


def _filename(part: Message, errors: list[str], where: str) -> str:
    try:
        name = part.get_filename() or ""
    except Exception as exc:
        errors.append(f"{where}: unreadable filename ({type(exc).__name__})")
        return ""
    return decode_value(str(name), errors, "filename").replace("/", "_").replace("\\", "_")


def _content_id(part: Message) -> str | None:
    cid = part.get("Content-ID")
    return str(cid).strip().strip("<>").strip() or None if cid else None


def _text(part: Message, errors: list[str], where: str) -> str:
    data = _payload(part, errors, where)
    declared = part.get_param("charset")
    charset = declared if isinstance(declared, str) else None
    text, guessed = decode_bytes(data, charset)
    if guessed and charset:
        errors.append(f"{where}: charset {charset!r} unusable, read as {guessed}")
    return text


def _attachment(part: Message, ctype: str, errors: list[str], where: str) -> ParsedAttachment:
    if ctype == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        try:
            data = inner.as_bytes() if isinstance(inner, Message) else b""
        except Exception as exc:
            errors.append(f"{where}: attached message could not be re-serialised ({exc})")
            data = b""
        if _encoded_message(part):
            data = _decode_message(part, data, errors, where)
            inner = message_from_bytes(data, policy=policy.compat32)
        subject = (
            decode_value(str(inner.get("Subject", "")), errors, "Subject")
            if isinstance(inner, Message)
            else ""
        )
        default = (subject[:80] or "message") + ".eml"
    else:
        data = _payload(part, errors, where)
        default = f"part{where.split()[-1]}" + EXTENSIONS.get(ctype, "")
    disposition = part.get_content_disposition()
    cid = _content_id(part)
    return ParsedAttachment(
        filename=_filename(part, errors, where)
        or (default if ctype != "text/calendar" else "invite.ics"),
        content_type=ctype,
        content_id=cid,
        inline=disposition == "inline" or (disposition is None and cid is not None),
        data=data,
    )


def _encoded_message(part: Message) -> bool:
    """RFC 2046 §5.2.1 allows only 7bit/8bit/binary on message/rfc822, but mailers do
    send it base64 or quoted-printable; the stdlib then reads the encoded text as if
    it were the message, so it has to be decoded here."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    return cte in ("base64", "quoted-printable")


def _decode_message(part: Message, encoded: bytes, errors: list[str], where: str) -> bytes:
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    try:
        if cte == "base64":
            return base64.b64decode(b"".join(encoded.split()), validate=True)
        return quopri.decodestring(encoded.lstrip(b"\r\n"))
    except (binascii.Error, ValueError) as exc:
        errors.append(f"{where}: attached message is not valid {cte} ({exc}); kept as sent")
        return encoded


def _is_body(part: Message, ctype: str) -> bool:
    if ctype not in ("text/plain", "text/html"):
        return False
    if part.get_content_disposition() == "attachment":
        return False
    return not part.get_filename()


def walk(msg: Message, bodies: Bodies, max_parts: int, max_depth: int, errors: list[str]) -> None:
    stack: list[tuple[Message, int, str]] = [(msg, 0, "1")]
    count = 0
    while stack:
        part, depth, where = stack.pop()
        count += 1
        if count > max_parts:
            errors.append(f"more than {max_parts} MIME parts; the rest is ignored")
            return
        ctype = part.get_content_type().lower()
        if part.is_multipart() and ctype != "message/rfc822":
            if depth >= max_depth:
                errors.append(f"part {where}: nested deeper than {max_depth}; not descended")
                continue
            children = part.get_payload()
            if not isinstance(children, list):
                continue
            for i in range(len(children) - 1, -1, -1):
                child = children[i]
                if isinstance(child, Message):
                    stack.append((child, depth + 1, f"{where}.{i + 1}"))
            continue
        _leaf(part, ctype, bodies, errors, f"part {where}")


def _leaf(part: Message, ctype: str, bodies: Bodies, errors: list[str], where: str) -> None:
    if _is_body(part, ctype):
        if ctype == "text/plain":
            bodies.texts.append(_text(part, errors, where))
            return
        if not bodies.htmls:
            bodies.htmls.append(_text(part, errors, where))
            return
    filename = (part.get_filename() or "").lower()
    if ctype in TNEF_TYPES or filename == "winmail.dat":
        data = _payload(part, errors, where)
        unpacked = unpack_tnef(data, errors)
        if unpacked is not None:
            body, attachments = unpacked
            if body:
                bodies.texts.append(body)
            bodies.attachments.extend(attachments)
            return
    bodies.attachments.append(_attachment(part, ctype, errors, where))
