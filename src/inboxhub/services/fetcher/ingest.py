"""Raw messages from any provider → blob store → ``email.eml.uploaded``.

The order of the two writes is what makes a crash harmless: the blob is durable
before its event is published, and both are keyed by content and id, so running the
same import again after a crash rewrites the same blob and the same email.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import structlog

from inboxhub.domain.events import EML_UPLOADED, EmlUploaded, message_key
from inboxhub.domain.ids import email_id, eml_blob_key, sha256_hex
from inboxhub.ports import BlobStore, EmailStore, EventBus
from inboxhub.providers.base import FetchedMessage
from inboxhub.services.transient import transient

log = structlog.get_logger(__name__)
OUTAGE_BACKOFF = 5.0


@dataclass
class IngestResult:
    seen: int = 0
    published: int = 0
    skipped: int = 0  # already stored from an earlier run


def _batches(items: Iterable[FetchedMessage], size: int) -> Iterator[list[FetchedMessage]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@dataclass
class Ingest:
    blobs: BlobStore
    emails: EmailStore
    bus: EventBus
    batch_size: int = 256
    # How long a batch waits for a server that is down (the blob store, the document
    # store, the broker) before the run fails; 0 fails at once (the fetcher engine
    # retries the whole sync with its own back-off). A batch is idempotent: retrying
    # it rewrites the same blobs and events.
    outage_wait: float = 0.0

    async def run(
        self,
        tenant_id: str,
        mailbox_id: str,
        messages: Iterable[FetchedMessage],
        progress: Callable[[int], None] | None = None,
    ) -> IngestResult:
        result = IngestResult()
        for batch in _batches(messages, self.batch_size):
            published = await self._through_outages(tenant_id, mailbox_id, batch)
            result.seen += len(batch)
            result.published += published
            result.skipped += len(batch) - published
            if progress:
                progress(len(batch))
        return result

    async def _through_outages(
        self, tenant_id: str, mailbox_id: str, batch: list[FetchedMessage]
    ) -> int:
        deadline = time.monotonic() + self.outage_wait
        delay = 0.5
        while True:
            try:
                return await self.ingest_batch(tenant_id, mailbox_id, batch)
            except Exception as exc:
                if not transient(exc) or time.monotonic() + delay > deadline:
                    raise
                log.warning("ingest.waiting_for_server", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)
                delay = min(OUTAGE_BACKOFF, delay * 2)

    async def ingest_batch(
        self, tenant_id: str, mailbox_id: str, batch: list[FetchedMessage]
    ) -> int:
        """Store and announce the messages of ``batch`` not already stored; how many."""
        unique = {m.provider_message_id: m for m in batch}
        ids = {email_id(tenant_id, mailbox_id, pid): m for pid, m in unique.items()}
        done = await self.emails.existing_ids(tenant_id, list(ids))
        todo = [(eid, m) for eid, m in ids.items() if eid not in done]
        digests = [m.sha256 or sha256_hex(m.data) for _, m in todo]
        await self.blobs.put_many(
            [(eml_blob_key(tenant_id, d), m.data) for (_, m), d in zip(todo, digests, strict=True)]
        )
        envelopes = [
            EmlUploaded(
                mailbox_id=mailbox_id,
                provider_message_id=m.provider_message_id,
                blob_key=eml_blob_key(tenant_id, d),
                sha256=d,
                size=len(m.data),
                flags=m.flags,
                labels=list(m.labels),
                received_at=m.received_at,
            ).envelope(tenant_id, message_key(tenant_id, mailbox_id, eid))
            for (eid, m), d in zip(todo, digests, strict=True)
        ]
        if envelopes:
            await self.bus.publish(EML_UPLOADED, envelopes)
        return len(envelopes)
