"""The fetcher's shared state (``ports.SyncStore``) and mailbox connections in the
directory, on SQLite and on PostgreSQL (as an ordinary role, row-level security on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.adapters.db_sync import OUTBOX_MAX_ATTEMPTS
from inboxhub.domain.errors import Conflict
from inboxhub.domain.models import Flags, MailChange
from inboxhub.ports import Directory, SyncStore
from inboxhub.runtime import make_sync_store
from tests.contract.adapters import DIRECTORIES, Ctx


@pytest.fixture(params=sorted(DIRECTORIES))
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Directory, SyncStore]]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield d, make_sync_store(d)
    await d.close()


async def test_mailbox_connections(stores: tuple[Directory, SyncStore]) -> None:
    directory, _ = stores
    t = await directory.create_tenant("acme", "Acme")
    box = await directory.create_mailbox(t.id, "Sales", "imap", {"host": "mail"}, b"sealed")
    assert (box.config, box.updated_at is not None) == ({"host": "mail"}, True)
    with pytest.raises(Conflict):
        await directory.create_mailbox(t.id, "Sales", "gmail", {}, None)
    assert await directory.get_mailbox_credentials(t.id, box.id) == b"sealed"
    changed = await directory.update_mailbox(t.id, box.id, config={"host": "mx"}, status="paused")
    assert changed is not None and changed.config == {"host": "mx"} and changed.status == "paused"
    assert box.updated_at is not None and changed.updated_at is not None
    assert changed.updated_at >= box.updated_at
    await directory.set_mailbox_credentials(t.id, box.id, b"resealed")
    again = await directory.get_mailbox(t.id, box.id)
    assert again is not None and again.updated_at == changed.updated_at  # no restart
    assert await directory.get_mailbox_credentials(t.id, box.id) == b"resealed"
    other = await directory.create_tenant("other", "Other")
    assert await directory.update_mailbox(other.id, box.id, name="stolen") is None
    assert not await directory.delete_mailbox(other.id, box.id)
    assert await directory.delete_mailbox(t.id, box.id)
    assert await directory.get_mailbox(t.id, box.id) is None


async def test_one_lease_holder_at_a_time_until_it_expires(
    stores: tuple[Directory, SyncStore],
) -> None:
    directory, sync = stores
    t = await directory.create_tenant("acme", "Acme")
    box = await directory.create_mailbox(t.id, "Box", "imap", {}, None)
    results = await asyncio.gather(*(sync.claim(t.id, box.id, f"w{i}", 0.5) for i in range(5)))
    assert sum(results) == 1, "exactly one of five racing workers gets the lease"
    winner = f"w{results.index(True)}"
    loser = "w9"
    assert not await sync.claim(t.id, box.id, loser, 0.5)
    assert await sync.claim(t.id, box.id, winner, 0.5)  # renewal
    assert await sync.save_cursor(t.id, box.id, winner, {"uid": 5})
    assert not await sync.save_cursor(t.id, box.id, loser, {"uid": 1})
    assert await directory.get_sync_state(t.id, box.id) == {"uid": 5}
    await asyncio.sleep(0.7)
    assert await sync.claim(t.id, box.id, loser, 30), "an expired lease passes on"
    assert not await sync.save_cursor(t.id, box.id, winner, {"uid": 6})
    await sync.release(t.id, box.id, winner)  # not its lease any more: no effect
    assert not await sync.claim(t.id, box.id, winner, 30)
    await sync.release(t.id, box.id, loser)
    assert await sync.claim(t.id, box.id, winner, 30)


async def test_workers_status_and_mailboxes_to_sync(stores: tuple[Directory, SyncStore]) -> None:
    directory, sync = stores
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    one = await directory.create_mailbox(a.id, "One", "imap", {}, None)
    two = await directory.create_mailbox(b.id, "Two", "gmail", {}, None)
    paused = await directory.create_mailbox(b.id, "Paused", "gmail", {}, None)
    await directory.update_mailbox(b.id, paused.id, status="paused")
    assert {m.id for m in await sync.mailboxes_to_sync()} == {one.id, two.id}

    assert await sync.heartbeat("w1", 30) == ["w1"]
    assert await sync.heartbeat("w2", 30) == ["w1", "w2"]
    await sync.forget_worker("w1")
    assert await sync.heartbeat("w2", 30) == ["w2"]

    assert (await sync.get_status(a.id, one.id)).state == "pending"
    await sync.set_status(a.id, one.id, "syncing", synced=7)
    await sync.set_status(a.id, one.id, "retrying", error="connection refused", synced=3)
    status = await sync.get_status(a.id, one.id)
    assert (status.state, status.messages_synced, status.last_error) == (
        "retrying",
        10,
        "connection refused",
    )
    assert status.last_sync_at is None and status.last_error_at is not None
    await sync.set_status(a.id, one.id, "idle", finished=True)
    status = await sync.get_status(a.id, one.id)
    assert status.last_error is None and status.last_sync_at is not None
    assert (await sync.get_status(b.id, one.id)).state == "pending"  # another tenant's view


async def test_item_maps_per_mailbox_and_folder(stores: tuple[Directory, SyncStore]) -> None:
    directory, sync = stores
    t = await directory.create_tenant("acme", "Acme")
    other = await directory.create_tenant("other", "Other")
    many = {str(uid): f"INBOX:{uid:064x}" for uid in range(1, 1201)}
    await sync.items_put(t.id, "box", "INBOX", many)
    await sync.items_put(t.id, "box", "INBOX", {"1": "changed"})
    await sync.items_put(t.id, "box", "Sent", {"1": "sent-1"})
    got = await sync.items_get(t.id, "box", "INBOX", None)
    assert len(got) == 1200 and got["1"] == "changed" and got["2"] == many["2"]
    assert await sync.items_get(t.id, "box", "INBOX", ["2", "999999"]) == {"2": many["2"]}
    assert await sync.items_get(other.id, "box", "INBOX", None) == {}
    await sync.items_drop(t.id, "box", "INBOX", [str(u) for u in range(1, 1001)])
    assert len(await sync.items_get(t.id, "box", "INBOX", None)) == 200
    await sync.items_drop(t.id, "box", "INBOX", None)
    assert await sync.items_get(t.id, "box", "INBOX", None) == {}
    assert await sync.items_get(t.id, "box", "Sent", None) == {"1": "sent-1"}


def _change(n: int, **fields: object) -> MailChange:
    return MailChange(email_id=f"e{n}", provider_message_id=f"INBOX:{n:064x}", **fields)


async def test_the_outbox_keeps_changes_in_order_per_mailbox(
    stores: tuple[Directory, SyncStore],
) -> None:
    directory, sync = stores
    t = await directory.create_tenant("acme", "Acme")
    other = await directory.create_tenant("other", "Other")
    box = await directory.create_mailbox(t.id, "Box", "imap", {}, None)
    second = await directory.create_mailbox(t.id, "Second", "imap", {}, None)
    flagged = _change(1, flags=Flags(seen=True, flagged=True), labels=["INBOX"])
    await sync.outbox_put(t.id, box.id, [flagged, _change(2, trash=True)])
    await sync.outbox_put(t.id, second.id, [_change(9, delete=True)])
    await sync.outbox_put(t.id, box.id, [_change(3, add_labels=["Work"])])
    entries = await sync.outbox_take(t.id, box.id, 10)
    assert [e.change.email_id for e in entries] == ["e1", "e2", "e3"]
    assert entries[0].change == flagged and entries[1].change.trash
    assert all(e.mailbox_id == box.id and e.attempts == 0 for e in entries)
    assert [e.change.email_id for e in await sync.outbox_take(t.id, box.id, 2)] == ["e1", "e2"]
    assert await sync.outbox_take(other.id, box.id, 10) == [], "another tenant sees nothing"
    await sync.outbox_done(other.id, box.id, [e.id for e in entries])  # no effect
    assert len(await sync.outbox_take(t.id, box.id, 10)) == 3

    await sync.outbox_done(t.id, box.id, [entries[0].id, entries[2].id])
    assert [e.change.email_id for e in await sync.outbox_take(t.id, box.id, 10)] == ["e2"]
    assert [e.change.email_id for e in await sync.outbox_take(t.id, second.id, 10)] == ["e9"]
    assert await directory.delete_mailbox(t.id, second.id)
    assert await sync.outbox_take(t.id, second.id, 10) == []


async def test_a_change_failing_too_often_is_dropped_and_shown(
    stores: tuple[Directory, SyncStore],
) -> None:
    directory, sync = stores
    t = await directory.create_tenant("acme", "Acme")
    box = await directory.create_mailbox(t.id, "Box", "imap", {}, None)
    await sync.outbox_put(t.id, box.id, [_change(1, trash=True), _change(2, delete=True)])
    first, second = await sync.outbox_take(t.id, box.id, 10)
    for attempt in range(1, OUTBOX_MAX_ATTEMPTS):
        await sync.outbox_done(t.id, box.id, [first.id], error=f"NO busy {attempt}")
        head = (await sync.outbox_take(t.id, box.id, 1))[0]
        assert (head.id, head.attempts) == (first.id, attempt)
    assert (await sync.get_status(t.id, box.id)).last_error is None
    await sync.outbox_done(t.id, box.id, [first.id], error="NO still busy")
    assert [e.id for e in await sync.outbox_take(t.id, box.id, 10)] == [second.id]
    status = await sync.get_status(t.id, box.id)
    assert status.last_error is not None and "NO still busy" in status.last_error
    assert status.last_error_at is not None


async def test_a_worker_learns_which_of_its_mailboxes_have_waiting_changes(
    stores: tuple[Directory, SyncStore],
) -> None:
    directory, sync = stores
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    one = await directory.create_mailbox(a.id, "One", "imap", {}, None)
    two = await directory.create_mailbox(b.id, "Two", "imap", {}, None)
    idle = await directory.create_mailbox(b.id, "Idle", "imap", {}, None)
    elsewhere = await directory.create_mailbox(b.id, "Elsewhere", "imap", {}, None)
    for tenant, box in ((a.id, one.id), (b.id, two.id), (b.id, idle.id)):
        assert await sync.claim(tenant, box, "w1", 30)
    assert await sync.claim(b.id, elsewhere.id, "w2", 30)
    assert await sync.outbox_mailboxes("w1") == []
    await sync.outbox_put(a.id, one.id, [_change(1, trash=True)])
    await sync.outbox_put(b.id, two.id, [_change(2, trash=True), _change(3, trash=True)])
    await sync.outbox_put(b.id, elsewhere.id, [_change(4, trash=True)])
    assert sorted(await sync.outbox_mailboxes("w1")) == sorted([(a.id, one.id), (b.id, two.id)])
    assert await sync.outbox_mailboxes("w2") == [(b.id, elsewhere.id)]
    await sync.outbox_done(a.id, one.id, [e.id for e in await sync.outbox_take(a.id, one.id, 9)])
    assert await sync.outbox_mailboxes("w1") == [(b.id, two.id)]
