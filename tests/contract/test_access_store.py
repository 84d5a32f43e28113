"""The AccessStore contract (mailbox assignments), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_access import SqlAccessStore
from tests.contract.adapters import DIRECTORIES, Ctx


@pytest.fixture(params=sorted(DIRECTORIES))
async def directory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDirectory]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield d
    await d.close()


async def test_members_are_replaced_as_a_whole(directory: SqlDirectory) -> None:
    store = SqlAccessStore(directory)
    t = await directory.create_tenant("a", "A")
    box = await directory.get_or_create_mailbox(t.id, "Inbox", "local")
    other = await directory.get_or_create_mailbox(t.id, "Sales", "local")
    assert await store.members(t.id, box.id) == []
    await store.set_members(t.id, box.id, ["u2", "u1", "u1"])
    await store.set_members(t.id, other.id, ["u1"])
    assert await store.members(t.id, box.id) == ["u1", "u2"]
    assert await store.assigned(t.id, "u1") == {box.id, other.id}
    await store.set_members(t.id, box.id, ["u3"])
    assert await store.members(t.id, box.id) == ["u3"]
    assert await store.assigned(t.id, "u1") == {other.id}
    await store.set_members(t.id, box.id, [])
    assert await store.members(t.id, box.id) == []
    assert await store.assigned(t.id, "u3") == set()


async def test_another_tenants_assignments_are_not_seen(directory: SqlDirectory) -> None:
    store = SqlAccessStore(directory)
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    box = await directory.get_or_create_mailbox(a.id, "Inbox", "local")
    await store.set_members(a.id, box.id, ["u1"])
    assert await store.members(b.id, box.id) == []
    assert await store.assigned(b.id, "u1") == set()
    await store.set_members(b.id, box.id, [])  # clears b's (none), not a's
    assert await store.members(a.id, box.id) == ["u1"]
