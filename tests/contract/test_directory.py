"""The Directory (relational store) contract, on every adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inboxhub.adapters.db import migrate
from inboxhub.domain.errors import Conflict
from inboxhub.ports import Directory
from tests.contract.adapters import DIRECTORIES, Ctx


@pytest.fixture(params=sorted(DIRECTORIES))
async def directory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Directory]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield d
    await d.close()


async def test_tenants_and_users(directory: Directory) -> None:
    acme = await directory.create_tenant("acme", "Acme")
    with pytest.raises(Conflict):
        await directory.create_tenant("acme", "Acme again")
    assert await directory.get_tenant_by_slug("acme") == acme
    assert await directory.get_tenant(acme.id) == acme
    assert acme.id in await directory.list_tenant_ids()
    user = await directory.create_user(acme.id, "Boss@Acme.test", "hash", ["admin"])
    assert user.email == "boss@acme.test"
    with pytest.raises(Conflict):
        await directory.create_user(acme.id, "boss@acme.test", "hash", [])
    [(found, password_hash)] = await directory.find_users_by_email("BOSS@acme.test")
    assert found == user and password_hash == "hash"
    await directory.set_password_hash(acme.id, user.id, "new-hash")
    assert (await directory.find_users_by_email("boss@acme.test"))[0][1] == "new-hash"


async def test_one_email_may_have_accounts_in_two_tenants(directory: Directory) -> None:
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    await directory.create_user(a.id, "x@y.test", "h1", [])
    await directory.create_user(b.id, "x@y.test", "h2", [])
    assert len(await directory.find_users_by_email("x@y.test")) == 2


async def test_other_tenants_ids_are_not_found(directory: Directory) -> None:
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    user = await directory.create_user(a.id, "u@a.test", None, [])
    box = await directory.get_or_create_mailbox(a.id, "Inbox", "local")
    assert await directory.get_user(b.id, user.id) is None
    assert await directory.get_mailbox(b.id, box.id) is None
    assert await directory.list_mailboxes(b.id) == []
    assert await directory.get_sync_state(b.id, box.id) == {}


async def test_get_or_create_mailbox_is_idempotent_under_concurrency(
    directory: Directory,
) -> None:
    t = await directory.create_tenant("a", "A")
    boxes = await asyncio.gather(
        *(directory.get_or_create_mailbox(t.id, "Inbox", "local") for _ in range(10))
    )
    assert len({b.id for b in boxes}) == 1
    assert [b.name for b in await directory.list_mailboxes(t.id)] == ["Inbox"]


async def test_sync_state_round_trip(directory: Directory) -> None:
    t = await directory.create_tenant("a", "A")
    box = await directory.get_or_create_mailbox(t.id, "Inbox", "imap")
    await directory.set_sync_state(t.id, box.id, {"uidvalidity": 7, "folders": ["INBOX"]})
    await directory.set_sync_state(t.id, box.id, {"uidvalidity": 8, "folders": ["INBOX"]})
    assert await directory.get_sync_state(t.id, box.id) == {"uidvalidity": 8, "folders": ["INBOX"]}


async def test_first_sync_states_written_concurrently_all_land(directory: Directory) -> None:
    """The import and the fetcher's lease both write a mailbox's first state; a
    read-then-insert lost that race on PostgreSQL with a duplicate key (CI, stop 16)."""
    t = await directory.create_tenant("a", "A")
    boxes = [await directory.get_or_create_mailbox(t.id, f"Box {i}", "local") for i in range(8)]
    await asyncio.gather(
        *(directory.set_sync_state(t.id, b.id, {"writer": w}) for b in boxes for w in range(4))
    )
    for b in boxes:
        assert (await directory.get_sync_state(t.id, b.id))["writer"] in range(4)


async def test_refresh_tokens_rotate_once_and_reuse_revokes_the_family(
    directory: Directory,
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    await directory.store_refresh_token("t", "u", "h1", "fam", later)
    await directory.store_refresh_token("t", "u", "h2", "fam", later)
    assert await directory.use_refresh_token("h1") == ("t", "u", "fam")
    assert await directory.use_refresh_token("h1") is None, "reuse is refused"
    assert await directory.use_refresh_token("h2") is None, "and revoked the family"
    await directory.store_refresh_token("t", "u", "old", "f2", datetime.now(UTC) - timedelta(1))
    assert await directory.use_refresh_token("old") is None, "expired"
    assert await directory.use_refresh_token("unknown") is None


async def test_secrets_and_repeated_migrations(directory: Directory, tmp_path: Path) -> None:
    assert await directory.get_secret("k") is None
    await directory.put_secret("k", b"\x00\x01")
    await directory.put_secret("k", b"\x02")
    assert await directory.get_secret("k") == b"\x02"
    await directory.ping()
    url = f"sqlite+aiosqlite:///{tmp_path}/again.db"
    await migrate(url)
    await migrate(url)  # a second run changes nothing


async def test_create_secret_keeps_the_first_value(directory: Directory) -> None:
    firsts = await asyncio.gather(*(directory.create_secret("jwt", bytes([i])) for i in range(8)))
    assert len(set(firsts)) == 1, "every caller got the same stored value"
    assert await directory.get_secret("jwt") == firsts[0]
