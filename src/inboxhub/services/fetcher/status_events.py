"""``mailbox.status`` events: a mailbox's sync state as its users see it changed.

A mailbox flips between ``syncing`` and ``idle`` on every poll; that is not news. An
event is published when its health changes: into ``retrying`` or ``error`` (or a
different error), and back to working after the first sync that succeeds; also the
first sync of a new mailbox (``pending`` → working).
"""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.domain.events import MAILBOX_STATUS, MailboxStatus, mailbox_key
from inboxhub.ports import EventBus, SyncStore

TROUBLE = ("retrying", "error", "paused", "pending")


def health(state: str) -> str:
    return state if state in TROUBLE else "ok"


@dataclass
class StatusEvents:
    bus: EventBus
    sync: SyncStore
    tenant_id: str
    mailbox_id: str
    last: tuple[str, str | None] | None = None  # (health, error) last announced or stored

    async def load(self) -> None:
        """Start from the stored status (another worker may have announced it)."""
        status = await self.sync.get_status(self.tenant_id, self.mailbox_id)
        self.last = (health(status.state), status.last_error if status.state in TROUBLE else None)

    async def now(self, state: str, error: str | None = None) -> None:
        """The status was just stored as ``state``: announce it if it is news."""
        current = (health(state), error if state in TROUBLE else None)
        if current == self.last:
            return
        status = await self.sync.get_status(self.tenant_id, self.mailbox_id)
        event = MailboxStatus(
            mailbox_id=self.mailbox_id,
            state=state,
            error=current[1],
            last_sync_at=status.last_sync_at,
            messages_synced=status.messages_synced,
        )
        key = mailbox_key(self.tenant_id, self.mailbox_id)
        await self.bus.publish(MAILBOX_STATUS, [event.envelope(self.tenant_id, key)])
        self.last = current
