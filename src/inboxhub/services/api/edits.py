"""Changing emails as their user does: flags, labels, the trash, deletion.

Each action changes the stored copy first, then has search follow (an index refresh
requested, or for a deletion the entries removed at once), then queues the same
change for the provider: one ``MailChange`` per email in its mailbox's outbox, which
the fetcher holding the mailbox applies (``SyncStore.outbox_put``). A change that
changes nothing (a flag already so, a label already there) is neither written nor
queued. The new flags and labels are made from what was read, so two users changing
one email at the same moment: the last write wins, as for the flags before.

Deleting is permanent: the document and its index entry go, the provider is asked
to delete the message too. The raw message and attachment blobs stay: they are
content-addressed and may be shared with other emails of the tenant (erasing them
is the tenant erasure's job).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from inboxhub.domain.events import INDEX_REQUESTED, index_requests
from inboxhub.domain.labels import in_trash, is_trash, out_of_trash, to_trash
from inboxhub.domain.models import EmailSummary, MailChange
from inboxhub.ports import EmailStore, EventBus, SearchIndex, SyncStore
from inboxhub.services.api.mail_schemas import LabelsChange
from inboxhub.services.api.schemas import FlagsChange
from inboxhub.services.mail_events import changed_parts, publish_updates

WRITES_AT_ONCE = 50  # concurrent store writes of one bulk request


@dataclass(frozen=True)
class Edit:
    """What to change on each email; None: leave that alone."""

    flags: FlagsChange | None = None
    labels: LabelsChange | None = None
    trash: bool | None = None  # True: into the trash, False: out of it

    def applied_to(self, email: EmailSummary) -> EmailSummary:
        flags = self.flags.applied_to(email.flags) if self.flags else email.flags
        labels = self.labels.applied_to(email.labels) if self.labels else list(email.labels)
        if self.trash is not None:
            labels = to_trash(labels) if self.trash else out_of_trash(labels)
        if set(labels) == set(email.labels):
            labels = list(email.labels)  # the same labels in another order: no change
        return email.model_copy(update={"flags": flags, "labels": labels})


def mail_change(before: EmailSummary, after: EmailSummary) -> MailChange:
    """The provider's part of a change: ``labels`` as they were, and what changed.
    Moving in or out of the trash is ``trash``/``untrash``, never a trash label in
    ``add_labels``/``remove_labels`` (so for ``untrash``, ``labels`` holds the trash
    label(s); where the email goes back to is ``labels`` without them)."""
    return MailChange(
        email_id=before.id,
        provider_message_id=before.provider_message_id,
        labels=list(before.labels),
        flags=after.flags if after.flags != before.flags else None,
        add_labels=[n for n in after.labels if n not in before.labels and not is_trash(n)],
        remove_labels=[n for n in before.labels if n not in after.labels and not is_trash(n)],
        trash=in_trash(after.labels) and not in_trash(before.labels),
        untrash=in_trash(before.labels) and not in_trash(after.labels),
    )


@dataclass
class MailEditor:
    emails: EmailStore
    search: SearchIndex
    bus: EventBus
    sync: SyncStore

    async def edit(
        self, tenant_id: str, emails: Sequence[EmailSummary], edit: Edit
    ) -> tuple[list[EmailSummary], list[str]]:
        """Apply ``edit`` to ``emails``: (the emails changed, as they are now; the ids
        gone meanwhile). Those already so are neither, and are not touched."""
        todo = [(e, after) for e in emails if (after := edit.applied_to(e)) != e]
        found: list[bool] = []
        for start in range(0, len(todo), WRITES_AT_ONCE):
            found += await asyncio.gather(
                *(self._write(tenant_id, b, a) for b, a in todo[start : start + WRITES_AT_ONCE])
            )
        changed = [pair for pair, ok in zip(todo, found, strict=True) if ok]
        if changed:
            requests = index_requests(tenant_id, ((a.mailbox_id, a.id) for _, a in changed))
            await self.bus.publish(INDEX_REQUESTED, requests)
            queued = [(b.mailbox_id, mail_change(b, a)) for b, a in changed]
            await self._queue(tenant_id, queued)
            await publish_updates(
                self.bus, tenant_id, ((m, ch.email_id, changed_parts(ch)) for m, ch in queued)
            )
        gone = [b.id for (b, _), ok in zip(todo, found, strict=True) if not ok]
        return [a for _, a in changed], gone

    async def _write(self, tenant_id: str, before: EmailSummary, after: EmailSummary) -> bool:
        labels = after.labels if after.labels != before.labels else None
        return await self.emails.set_flags(tenant_id, after.id, after.flags, labels)

    async def delete(self, tenant_id: str, emails: Sequence[EmailSummary]) -> int:
        """Delete ``emails`` for good; how many were still there."""
        if not emails:
            return 0
        ids = [e.id for e in emails]
        deleted = await self.emails.delete_many(tenant_id, ids)
        await self.search.delete_many(tenant_id, ids)
        # a refresh already under way would put an entry back: one more request,
        # after it on the same key, finds no document and removes the entry again
        await self.bus.publish(
            INDEX_REQUESTED, index_requests(tenant_id, ((e.mailbox_id, e.id) for e in emails))
        )
        changes = [
            (
                e.mailbox_id,
                MailChange(
                    email_id=e.id,
                    provider_message_id=e.provider_message_id,
                    labels=list(e.labels),
                    delete=True,
                ),
            )
            for e in emails
        ]
        await self._queue(tenant_id, changes)
        gone = ((e.mailbox_id, e.id, ("delete",)) for e in emails)
        await publish_updates(self.bus, tenant_id, gone)
        return deleted

    async def _queue(self, tenant_id: str, changes: Sequence[tuple[str, MailChange]]) -> None:
        """Each change in its mailbox's outbox, in the order given."""
        by_mailbox: dict[str, list[MailChange]] = defaultdict(list)
        for mailbox_id, change in changes:
            by_mailbox[mailbox_id].append(change)
        for mailbox_id, queued in by_mailbox.items():
            await self.sync.outbox_put(tenant_id, mailbox_id, queued)
