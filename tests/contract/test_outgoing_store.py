"""The OutgoingStore contract (drafts, the send outbox, uploads), on SQLite and
PostgreSQL: claims are exclusive, idempotency keys unique per author, changes held
off by a live lease, and the tenant wall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_outgoing import SqlOutgoingStore
from inboxhub.domain.errors import Conflict
from inboxhub.domain.ids import new_id
from inboxhub.domain.outgoing import AttachedFile, OutgoingMessage, Upload
from tests.contract.adapters import DIRECTORIES, Ctx

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(params=sorted(DIRECTORIES))
async def directory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDirectory]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield d
    await d.close()


def message(tenant_id: str, user_id: str = "u1", **fields: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "user_id": user_id,
        "mailbox_id": "m1",
        "state": "queued",
        "sender": "me@acme.test",
        "to": ["you@acme.test"],
        "subject": "Hello",
        "internet_message_id": f"<{new_id()}@acme.test>",
        "next_attempt_at": NOW,
        "queued_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return OutgoingMessage(**values)


async def test_a_message_is_stored_and_read_back_whole(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    m = message(
        t.id,
        state="draft",
        cc=["Jo <jo@acme.test>"],
        references=["<a@x>", "<b@x>"],
        attachments=[AttachedFile(upload_id="up1", filename="a.pdf", size=3, sha256="f" * 64)],
        rejected={"x@y.test": "550 no"},
        send_at=NOW + timedelta(hours=1),
    )
    await store.create(m)
    assert await store.get(t.id, m.id) == m


async def test_an_idempotency_key_makes_one_message_per_author(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    first = await store.create(message(t.id, idempotency_key="k1"))
    with pytest.raises(Conflict):
        await store.create(message(t.id, idempotency_key="k1"))
    await store.create(message(t.id, user_id="u2", idempotency_key="k1"))  # another author
    await store.create(message(t.id))  # no key: as many as wanted
    await store.create(message(t.id))
    found = await store.by_idempotency_key(t.id, "u1", "k1")
    assert found is not None and found.id == first.id


async def test_workers_never_claim_the_same_message(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    ids = {(await store.create(message(t.id))).id for _ in range(12)}
    claims = await asyncio.gather(*(store.claim_due(f"w{i}", NOW, 60, 12) for i in range(4)))
    taken = [m.id for batch in claims for m in batch]
    assert sorted(taken) == sorted(ids), "each message claimed exactly once"
    assert await store.claim_due("w9", NOW, 60, 12) == []  # leases live
    later = NOW + timedelta(seconds=61)
    assert {m.id for m in await store.claim_due("w9", later, 60, 20)} == ids  # expired


async def test_only_due_work_is_claimed(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    due = await store.create(message(t.id))
    later = await store.create(
        message(t.id, state="scheduled", next_attempt_at=NOW + timedelta(minutes=5))
    )
    await store.create(message(t.id, state="draft", next_attempt_at=None, queued_at=None))
    await store.create(message(t.id, state="failed", next_attempt_at=None))
    await store.create(message(t.id, state="sent", filed_at=NOW))
    unfiled = await store.create(message(t.id, state="sent"))
    interrupted = await store.create(message(t.id, state="sending"))
    claimed = {m.id for m in await store.claim_due("w", NOW, 3600, 50)}
    assert claimed == {due.id, unfiled.id, interrupted.id}
    soon = NOW + timedelta(minutes=5)  # the leases above still live
    assert [m.id for m in await store.claim_due("w", soon, 3600, 50)] == [later.id]


async def test_a_live_lease_holds_off_edits_but_not_its_owner(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    m = await store.create(message(t.id, state="scheduled"))
    assert len(await store.claim_due("w1", NOW, 60, 1)) == 1
    edit = {"subject": "Changed"}
    assert await store.change(t.id, m.id, edit, states=("scheduled",), now=NOW) is None
    assert not await store.delete(t.id, m.id, states=("scheduled",), now=NOW)
    assert await store.change(t.id, m.id, edit, states=("scheduled",), now=NOW, owner="w2") is None
    done = await store.change(
        t.id, m.id, {"state": "sending"}, states=("scheduled",), now=NOW, owner="w1"
    )
    assert done is not None and done.state == "sending" and done.lease_owner == "w1"
    # wrong state: nothing changes
    assert await store.change(t.id, m.id, edit, states=("draft",), now=NOW, owner="w1") is None
    await store.release(t.id, m.id, "w1")
    after = await store.change(t.id, m.id, edit, states=("sending",), now=NOW)
    assert after is not None and after.subject == "Changed" and after.lease_owner is None


async def test_listing_is_the_authors_newest_first(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    made = []
    for i in range(5):
        at = NOW + timedelta(minutes=i)
        made.append(await store.create(message(t.id, created_at=at, state="draft")))
    await store.create(message(t.id, user_id="u2"))
    first = await store.list(t.id, "u1", None, 3)
    assert [m.id for m in first] == [m.id for m in reversed(made)][:3]
    rest = await store.list(t.id, "u1", None, 3, (first[-1].created_at, first[-1].id))
    assert [m.id for m in rest] == [made[1].id, made[0].id]
    assert await store.list(t.id, "u1", ["queued"], 10) == []


async def test_submissions_are_counted_per_user_and_tenant(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")
    old = NOW - timedelta(days=2)
    await store.create(message(t.id, queued_at=old))
    await store.create(message(t.id, queued_at=NOW - timedelta(hours=3)))
    await store.create(message(t.id, queued_at=NOW, state="cancelled"))
    await store.create(message(t.id, user_id="u2", queued_at=NOW))
    await store.create(message(t.id, state="draft", queued_at=None))
    since = NOW - timedelta(days=1)
    assert await store.submitted_since(t.id, "u1", since) == (1, NOW - timedelta(hours=3))
    assert (await store.submitted_since(t.id, None, since))[0] == 2


async def test_another_tenants_messages_and_uploads_are_not_seen(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    m = await store.create(message(a.id, idempotency_key="k"))
    up = Upload(
        id=new_id(),
        tenant_id=a.id,
        user_id="u1",
        filename="a.txt",
        content_type="text/plain",
        size=1,
        sha256="a" * 64,
        created_at=NOW,
        expires_at=NOW + timedelta(days=1),
    )
    await store.add_upload(up)
    assert await store.get(b.id, m.id) is None
    assert await store.by_idempotency_key(b.id, "u1", "k") is None
    assert await store.list(b.id, "u1", None, 10) == []
    assert await store.change(b.id, m.id, {"subject": "x"}, states=("queued",), now=NOW) is None
    assert not await store.delete(b.id, m.id, states=("queued",), now=NOW)
    assert await store.get_upload(b.id, up.id) is None
    assert not await store.upload_in_use(b.id, up.sha256)
    assert await store.get_upload(a.id, up.id) == up
    assert await store.submitted_since(b.id, None, NOW - timedelta(days=1)) == (0, None)


async def test_expired_uploads_are_purged(directory: SqlDirectory) -> None:
    store = SqlOutgoingStore(directory)
    t = await directory.create_tenant("a", "A")

    def upload(expires: datetime, sha: str) -> Upload:
        return Upload(
            id=new_id(),
            tenant_id=t.id,
            user_id="u1",
            filename="a.txt",
            content_type="text/plain",
            size=1,
            sha256=sha,
            created_at=NOW,
            expires_at=expires,
        )

    gone = upload(NOW - timedelta(seconds=1), "a" * 64)
    kept = upload(NOW + timedelta(days=1), "b" * 64)
    for u in (gone, kept):
        await store.add_upload(u)
    assert [u.id for u in await store.purge_uploads(NOW)] == [gone.id]
    assert await store.get_upload(t.id, gone.id) is None
    assert await store.upload_in_use(t.id, "b" * 64)
    assert not await store.upload_in_use(t.id, "a" * 64)
