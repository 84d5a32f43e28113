"""The processor's event handler: ``email.eml.uploaded`` → document + events.

Idempotent: the email id is derived from (tenant, mailbox, provider message id), the
document and attachment blobs are upserted, and the follow-up events carry the same
ids, so a replayed batch rewrites the same things.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from inboxhub.domain.events import (
    EMAIL_PROCESSED,
    INDEX_REQUESTED,
    EmailProcessed,
    EmlUploaded,
    Envelope,
    IndexRequested,
    mailbox_key,
)
from inboxhub.domain.ids import attachment_blob_key, email_id
from inboxhub.domain.models import EmailDocument, ParsedEmail
from inboxhub.mime.parse import ParseLimits
from inboxhub.ports import BlobStore, EmailStore, EventBus, Record
from inboxhub.services.processor.document import Built, build_many

log = structlog.get_logger(__name__)
FUTURE_SLACK = timedelta(days=1)


@dataclass
class Processor:
    blobs: BlobStore
    emails: EmailStore
    bus: EventBus
    limits: ParseLimits
    executor: Executor | None = None  # a process pool; None parses in a thread
    chunk: int = 32

    async def handle(self, records: list[Record]) -> None:
        uploads = [(r.envelope, EmlUploaded.of(r.envelope)) for r in records]
        raws = await asyncio.gather(*(self.blobs.get(u.blob_key) for _, u in uploads))
        built = await self._build_all(list(raws))
        docs = [
            _document(env, up, raw, b)
            for (env, up), raw, b in zip(uploads, raws, built, strict=True)
        ]
        await self._store_attachments(uploads, built)
        await self.emails.upsert_many(docs)
        await self._publish_follow_ups(docs)

    async def _build_all(self, raws: list[bytes]) -> list[Built | str]:
        loop = asyncio.get_running_loop()
        chunks = [raws[i : i + self.chunk] for i in range(0, len(raws), self.chunk)]
        runs = [loop.run_in_executor(self.executor, build_many, c, self.limits) for c in chunks]
        return [b for part in await asyncio.gather(*runs) for b in part]

    async def _store_attachments(
        self, uploads: Sequence[tuple[Envelope, EmlUploaded]], built: Sequence[Built | str]
    ) -> None:
        puts: dict[str, bytes] = {}
        for (env, _), b in zip(uploads, built, strict=True):
            if isinstance(b, Built):
                for digest, data in b.attachment_data.items():
                    puts[attachment_blob_key(env.tenant_id, digest)] = data
        missing = [k for k in puts if not await self.blobs.exists(k)]
        await asyncio.gather(*(self.blobs.put(k, puts[k]) for k in missing))

    async def _publish_follow_ups(self, docs: Sequence[EmailDocument]) -> None:
        index: list[Envelope] = []
        processed: list[Envelope] = []
        for d in docs:
            key = mailbox_key(d.tenant_id, d.mailbox_id)
            index.append(
                IndexRequested(mailbox_id=d.mailbox_id, email_id=d.id).envelope(d.tenant_id, key)
            )
            processed.append(
                EmailProcessed(
                    mailbox_id=d.mailbox_id,
                    email_id=d.id,
                    subject=d.subject,
                    from_email=d.from_.email if d.from_ else "",
                    has_parse_errors=bool(d.parse_errors),
                ).envelope(d.tenant_id, key)
            )
        await self.bus.publish(INDEX_REQUESTED, index)
        await self.bus.publish(EMAIL_PROCESSED, processed)


def _document(env: Envelope, up: EmlUploaded, raw: bytes, built: Built | str) -> EmailDocument:
    if isinstance(built, str):  # stored raw and marked, never dropped
        log.warning("parse.failed", tenant_id=env.tenant_id, blob_key=up.blob_key, error=built)
        parsed, snippet, attachments = ParsedEmail(parse_errors=[built]), "", []
    else:
        parsed, snippet, attachments = built.parsed, built.snippet, built.attachments
    return EmailDocument(
        id=email_id(env.tenant_id, up.mailbox_id, up.provider_message_id),
        tenant_id=env.tenant_id,
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
        html=parsed.html,
        snippet=snippet,
        attachments=attachments,
        has_attachments=any(not a.inline for a in attachments),
        flags=up.flags,
        parse_errors=parsed.parse_errors,
    )


def sort_date(date: datetime | None, received_at: datetime) -> datetime:
    """The list-order date: the Date header, unless missing or implausibly later than
    when the message reached us (spam dated 2099 must not sit on top forever)."""
    if date is None or date - received_at > FUTURE_SLACK:
        return received_at
    return date
