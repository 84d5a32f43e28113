"""``mailbox.status`` is published when a mailbox's sync health changes, not on
every poll (services/fetcher/status_events.py), on the embedded stores."""

from __future__ import annotations

from inboxhub.domain.events import MAILBOX_STATUS, MailboxStatus
from inboxhub.runtime import Container
from inboxhub.services.fetcher.status_events import StatusEvents
from tests.integration.conftest import TENANT


async def test_only_changes_of_health_are_announced(container: Container) -> None:
    box = await container.directory.get_or_create_mailbox(TENANT, "Inbox", "local")
    events = StatusEvents(container.bus, container.sync, TENANT, box.id)
    await events.load()  # a new mailbox: pending

    async def synced() -> None:  # as MailboxRunner does around a sync that works
        await container.sync.set_status(TENANT, box.id, "syncing")
        await container.sync.set_status(TENANT, box.id, "idle", finished=True)
        await events.now("idle")

    async def failed(state: str, error: str) -> None:
        await container.sync.set_status(TENANT, box.id, state, error=error)
        await events.now(state, error)

    await synced()  # the first sync: news
    await synced()  # every poll after it: not news
    await failed("retrying", "connection refused")
    await failed("retrying", "connection refused")  # the same again: not news
    await failed("error", "bad password")
    await synced()  # recovered
    await synced()
    published = [MailboxStatus.of(r.envelope) for r in await container.bus.read(MAILBOX_STATUS)]
    assert [(s.state, s.error) for s in published] == [
        ("idle", None),
        ("retrying", "connection refused"),
        ("error", "bad password"),
        ("idle", None),
    ]
    assert published[-1].last_sync_at is not None
    assert {r.envelope.key for r in await container.bus.read(MAILBOX_STATUS)} == {
        f"{TENANT}:{box.id}"
    }
