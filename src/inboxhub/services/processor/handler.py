"""The processor's event handler: ``email.eml.uploaded`` → document + events.

Idempotent: the email id is derived from (tenant, mailbox, provider message id), the
document and attachment blobs are upserted, and the follow-up events carry the same
ids, so a replayed batch rewrites the same things.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from inboxhub.domain.encoded import EncodedEmail
from inboxhub.domain.events import (
    EMAIL_PROCESSED,
    INDEX_REQUESTED,
    EmailProcessed,
    EmlUploaded,
    Envelope,
    IndexRequested,
    message_key,
)
from inboxhub.domain.ids import attachment_blob_key
from inboxhub.extract import ExtractLimits
from inboxhub.mime.parse import ParseLimits
from inboxhub.ports import BlobStore, EmailStore, EventBus, Record
from inboxhub.services.processor.document import Source, build_many
from inboxhub.services.processor.threads import DEFAULT_SUBJECT_WINDOW, Threader

log = structlog.get_logger(__name__)


class ByteBudget:
    """At most ``limit`` bytes held at once; one holder may exceed it alone, so a
    single message larger than the budget still goes through."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: self.held == 0 or self.held + size <= self.limit)
            self.held += size
        try:
            yield
        finally:
            async with self._changed:
                self.held -= size
                self._changed.notify_all()


@dataclass
class Processor:
    blobs: BlobStore
    emails: EmailStore
    bus: EventBus
    limits: ParseLimits
    executor: Executor | None = None  # a process pool; None parses in a thread
    chunk: int = 32
    in_flight_bytes: int = 256 * 1024 * 1024  # raw bytes being worked on at once
    extract: ExtractLimits = field(default_factory=ExtractLimits)  # attachments' text
    subject_window: timedelta = DEFAULT_SUBJECT_WINDOW  # threads by subject: see threads.py
    threads: Threader = field(init=False)

    def __post_init__(self) -> None:
        self.threads = Threader(self.emails, self.subject_window)

    async def handle(self, records: list[Record]) -> None:
        """Chunks go through read → parse → store concurrently, so the parse pool works
        on some while the event loop reads and writes others; a byte budget keeps a
        batch of huge messages from filling memory. Events of one message share a
        chunk, in order, so a later one is never overtaken by an earlier one."""
        budget = ByteBudget(self.in_flight_bytes)

        async def run(chunk: list[Record]) -> None:
            size = sum(int(r.envelope.data.get("size", 0)) for r in chunk)
            async with budget.hold(size):
                await self._handle_chunk(chunk)

        results = await asyncio.gather(*map(run, self._chunks(records)), return_exceptions=True)
        for result in results:  # every chunk has settled: a retry never overlaps one
            if isinstance(result, BaseException):
                raise result

    def _chunks(self, records: list[Record]) -> list[list[Record]]:
        chunks: list[list[Record]] = []
        home: dict[tuple[str, str, str], int] = {}  # a message → the chunk holding it
        for record in records:
            data = record.envelope.data
            key = (record.envelope.tenant_id, data["mailbox_id"], data["provider_message_id"])
            if key not in home:
                if not chunks or len(chunks[-1]) >= self.chunk:
                    chunks.append([])
                home[key] = len(chunks) - 1
            chunks[home[key]].append(record)
        return chunks

    async def _handle_chunk(self, records: list[Record]) -> None:
        sources = [Source(r.envelope.tenant_id, EmlUploaded.of(r.envelope)) for r in records]
        raws = await self.blobs.get_many([s.upload.blob_key for s in sources])
        loop = asyncio.get_running_loop()
        items = list(zip(sources, raws, strict=True))
        built = await loop.run_in_executor(
            self.executor, build_many, items, self.limits, self.extract
        )
        # Attachments first: a document never points at bytes that are not there.
        attachments = {
            attachment_blob_key(b.email.tenant_id, digest): data
            for b in built
            for digest, data in b.attachment_data.items()
        }
        await self.blobs.put_many(list(attachments.items()))  # content-addressed
        emails = await self.threads.store([b.email for b in built])  # in conversations
        await self._publish_follow_ups(emails)

    async def _publish_follow_ups(self, emails: Sequence[EncodedEmail]) -> None:
        index: list[Envelope] = []
        processed: list[Envelope] = []
        for e in emails:
            key = message_key(e.tenant_id, e.mailbox_id, e.id)
            index.append(
                IndexRequested(mailbox_id=e.mailbox_id, email_id=e.id).envelope(e.tenant_id, key)
            )
            processed.append(
                EmailProcessed(
                    mailbox_id=e.mailbox_id,
                    email_id=e.id,
                    subject=e.subject,
                    from_email=e.from_email,
                    has_parse_errors=e.has_parse_errors,
                ).envelope(e.tenant_id, key)
            )
        await self.bus.publish(INDEX_REQUESTED, index)
        await self.bus.publish(EMAIL_PROCESSED, processed)
