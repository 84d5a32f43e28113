"""Where connectors put what they find: the pipeline and the stores.

New messages take the pipeline (blob, then ``email.eml.uploaded``, through
``Ingest``). Flag/label changes and deletions concern documents that exist already:
they are applied to the document store here, and the indexer is asked to refresh
(``email.index.requested``) or the index entries are dropped, so list, view and
search agree within a second. Cursors are saved only while this worker still holds
the mailbox's lease: a worker that lost it stops instead of writing over the new
owner's progress.

A flag/label change the provider reports for a message that has a user's change
still waiting in the outbox is not applied: the user's change is newer, and the sync
after it has been made reports the outcome (no flip-flop back to the provider's
older state in between).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inboxhub.domain.events import INDEX_REQUESTED, index_requests
from inboxhub.domain.ids import email_id
from inboxhub.ports import EmailStore, EventBus, SearchIndex, SyncStore
from inboxhub.providers.base import Cursor, FetchedMessage, FlagChange
from inboxhub.services.fetcher.ingest import Ingest
from inboxhub.services.mail_events import publish_updates

PENDING_LOOKAHEAD = 1000  # outbox entries looked at for messages with waiting changes


class LeaseLost(Exception):
    """Another worker holds the mailbox's lease now: this one must stop syncing it."""


@dataclass
class PipelineSink:
    tenant_id: str
    mailbox_id: str
    worker_id: str
    ingest: Ingest
    emails: EmailStore
    search: SearchIndex
    bus: EventBus
    sync: SyncStore
    published: int = 0  # new messages announced by this sink

    def _id(self, provider_message_id: str) -> str:
        return email_id(self.tenant_id, self.mailbox_id, provider_message_id)

    async def messages(self, batch: Sequence[FetchedMessage]) -> None:
        if not batch:
            return
        published = await self.ingest.ingest_batch(self.tenant_id, self.mailbox_id, list(batch))
        self.published += published
        if published:
            await self.sync.set_status(self.tenant_id, self.mailbox_id, "syncing", synced=published)

    async def flags(self, changes: Sequence[FlagChange]) -> None:
        if not changes:
            return
        pending = await self._pending()
        changed: list[str] = []
        for change in changes:
            if change.provider_message_id in pending:
                continue
            eid = self._id(change.provider_message_id)
            if await self.emails.set_flags(self.tenant_id, eid, change.flags, change.labels):
                changed.append(eid)
        if changed:
            requests = index_requests(self.tenant_id, ((self.mailbox_id, e) for e in changed))
            await self.bus.publish(INDEX_REQUESTED, requests)
            seen = ((self.mailbox_id, e, ("flags", "labels")) for e in changed)
            await publish_updates(self.bus, self.tenant_id, seen, source="provider")

    async def _pending(self) -> set[str]:
        """Provider message ids with users' changes waiting in the outbox."""
        waiting = await self.sync.outbox_take(self.tenant_id, self.mailbox_id, PENDING_LOOKAHEAD)
        return {entry.change.provider_message_id for entry in waiting}

    async def deleted(self, provider_message_ids: Sequence[str]) -> None:
        ids = [self._id(pid) for pid in provider_message_ids]
        if ids:
            await self.emails.delete_many(self.tenant_id, ids)
            await self.search.delete_many(self.tenant_id, ids)
            gone = ((self.mailbox_id, e, ("delete",)) for e in ids)
            await publish_updates(self.bus, self.tenant_id, gone, source="provider")

    async def checkpoint(self, cursor: Cursor) -> None:
        if not await self.sync.save_cursor(self.tenant_id, self.mailbox_id, self.worker_id, cursor):
            raise LeaseLost(f"mailbox {self.mailbox_id} is synced by another worker now")


@dataclass
class SqlItemMap:
    """``providers.base.ItemMap`` of one mailbox, kept by the ``SyncStore``."""

    sync: SyncStore
    tenant_id: str
    mailbox_id: str

    async def get(self, folder: str, refs: Sequence[str] | None = None) -> dict[str, str]:
        return await self.sync.items_get(self.tenant_id, self.mailbox_id, folder, refs)

    async def put(self, folder: str, items: Mapping[str, str]) -> None:
        await self.sync.items_put(self.tenant_id, self.mailbox_id, folder, dict(items))

    async def drop(self, folder: str, refs: Sequence[str] | None = None) -> None:
        await self.sync.items_drop(self.tenant_id, self.mailbox_id, folder, refs)
