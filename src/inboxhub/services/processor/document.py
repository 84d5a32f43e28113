"""Raw bytes → an email document. Pure and picklable: runs in the parse workers.

Everything CPU-heavy of the processor happens here (MIME parsing, HTML
sanitising, hashing attachments, reading their text, building and serialising the
document), so it runs in a process pool while the event loop does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from inboxhub.domain.dedup import dedup_key
from inboxhub.domain.encoded import EncodedEmail, encode
from inboxhub.domain.events import EmlUploaded
from inboxhub.domain.ids import email_id, sha256_hex
from inboxhub.domain.models import Attachment, EmailDocument, ParsedEmail
from inboxhub.extract import ExtractLimits, attachment_text
from inboxhub.extract import warm_up as load_extractors
from inboxhub.mime.parse import ParseLimits, parse_message
from inboxhub.mime.sanitize import make_snippet, sanitize_html

log = structlog.get_logger(__name__)
FUTURE_SLACK = timedelta(days=1)


@dataclass
class Built:
    """The document made of one message, serialised here in the worker (see
    ``domain/encoded.py``), and each attachment's bytes by sha256."""

    email: EncodedEmail
    attachment_data: dict[str, bytes]


@dataclass(frozen=True)
class Source:
    """What the ``email.eml.uploaded`` event says about one raw message."""

    tenant_id: str
    upload: EmlUploaded


def sort_date(date: datetime | None, received_at: datetime) -> datetime:
    """The list-order date: the Date header, unless missing or implausibly later than
    when the message reached us (spam dated 2099 must not sit on top forever)."""
    if date is None or date - received_at > FUTURE_SLACK:
        return received_at
    return date


def _attachments(parsed: ParsedEmail) -> tuple[list[Attachment], dict[str, bytes]]:
    attachments: list[Attachment] = []
    data: dict[str, bytes] = {}
    for index, part in enumerate(parsed.attachments, start=1):
        digest = sha256_hex(part.data)
        data[digest] = part.data
        attachments.append(
            Attachment(
                id=str(index),
                filename=part.filename,
                content_type=part.content_type,
                size=len(part.data),
                sha256=digest,
                content_id=part.content_id,
                inline=part.inline,
            )
        )
    return attachments, data


def _safe_html(parsed: ParsedEmail) -> str:
    if not parsed.html:
        return ""
    try:
        return sanitize_html(parsed.html)
    except Exception as exc:  # nh3 is robust, but a message must never be lost
        parsed.parse_errors.append(f"html could not be sanitised: {exc!r}; dropped")
        return ""


def document(source: Source, parsed: ParsedEmail, attachments_text: str = "") -> Built:
    up = source.upload
    html = _safe_html(parsed)
    attachments, data = _attachments(parsed)
    doc = EmailDocument(
        id=email_id(source.tenant_id, up.mailbox_id, up.provider_message_id),
        tenant_id=source.tenant_id,
        mailbox_id=up.mailbox_id,
        provider_message_id=up.provider_message_id,
        blob_key=up.blob_key,
        size=up.size,
        sha256=up.sha256,
        message_id=parsed.message_id,
        subject=parsed.subject,
        from_=parsed.from_,
        sender=parsed.sender,
        to=parsed.to,
        cc=parsed.cc,
        bcc=parsed.bcc,
        reply_to=parsed.reply_to,
        date=parsed.date,
        sort_date=sort_date(parsed.date, up.received_at),
        received_at=up.received_at,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        headers=parsed.headers,
        text=parsed.text,
        html=html,
        snippet=make_snippet(parsed.text, parsed.html),
        attachments=attachments,
        attachment_text=attachments_text,
        has_attachments=any(not a.inline for a in attachments),
        flags=up.flags,
        labels=up.labels,
        parse_errors=parsed.parse_errors,
        dedup_key=_dedup_key(parsed, attachments),
    )
    return Built(email=encode(doc), attachment_data=data)


def _dedup_key(parsed: ParsedEmail, attachments: list[Attachment]) -> str:
    """The same for every copy of this message, whichever mailbox it came through."""
    return dedup_key(
        parsed.message_id,
        from_=parsed.from_,
        to=parsed.to,
        cc=parsed.cc,
        subject=parsed.subject,
        date=parsed.date,
        text=parsed.text,
        html=parsed.html,
        attachment_sha256s=[a.sha256 for a in attachments],
    )


def extract_text(parsed: ParsedEmail, limits: ExtractLimits) -> str:
    """The attachments' text, each read within its own size and time budget; what
    could not be read or was cut becomes a parse error of the message."""
    try:
        found = attachment_text(parsed.attachments, limits)
    except Exception as exc:  # written not to raise; the message is kept regardless
        parsed.parse_errors.append(f"attachment text not extracted: {type(exc).__name__}: {exc}")
        return ""
    parsed.parse_errors.extend(found.errors)
    return found.text


def build(
    source: Source, raw: bytes, limits: ParseLimits, extract: ExtractLimits = ExtractLimits()
) -> Built:
    parsed = parse_message(raw, limits)
    return document(source, parsed, extract_text(parsed, extract))


def warm_up() -> None:
    """Sent once to each new parse worker so it imports this module (and the parsers)
    while the processor is still starting, not when the first batch waits on it."""
    load_extractors()


def build_many(
    items: list[tuple[Source, bytes]], limits: ParseLimits, extract: ExtractLimits = ExtractLimits()
) -> list[Built]:
    """``build`` for a batch. Should the parser ever crash (it is written not to), that
    message is still stored, raw and marked, instead of failing its neighbours."""
    out: list[Built] = []
    for source, raw in items:
        try:
            out.append(build(source, raw, limits, extract))
        except Exception as exc:  # the last fence
            log.error("parse.crashed", blob_key=source.upload.blob_key, error=repr(exc))
            crashed = ParsedEmail(parse_errors=[f"parser crashed: {type(exc).__name__}: {exc}"])
            out.append(document(source, crashed))
    return out
