"""The Auth service's local-account rows (``ports.AccountStore``), on SQLite and on
PostgreSQL (as an ordinary role, row-level security on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inboxhub.adapters.db_accounts import SqlAccountStore
from inboxhub.domain.errors import Conflict
from inboxhub.ports import AccountStore, Directory
from tests.contract.adapters import DIRECTORIES, Ctx

WINDOW = timedelta(hours=1)


@dataclass
class Stores:
    directory: Directory
    accounts: AccountStore
    tenant: str
    other: str


@pytest.fixture(params=sorted(DIRECTORIES))
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    a = await d.create_tenant("acme", "Acme")
    b = await d.create_tenant("other", "Other")
    yield Stores(d, SqlAccountStore(d), a.id, b.id)
    await d.close()


def _later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_failures_count_per_subject_and_clear(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    assert [await s.add_failure(t, "email:a@x.test", WINDOW) for _ in range(3)] == [1, 2, 3]
    assert await s.add_failure(t, "email:b@x.test", WINDOW) == 1
    assert await s.add_failure(stores.other, "email:a@x.test", WINDOW) == 1
    assert await s.add_failure("*", "ip:10.0.0.1", WINDOW) == 1
    await s.clear_failures(t, "email:a@x.test")
    assert await s.add_failure(t, "email:a@x.test", WINDOW) == 1


async def test_a_count_starts_again_after_a_quiet_window(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    await s.add_failure(t, "email:a@x.test", WINDOW)
    await s.add_failure(t, "email:a@x.test", WINDOW)
    # a zero window: the previous failure is always older than it
    assert await s.add_failure(t, "email:a@x.test", timedelta(0)) == 1


async def test_concurrent_failures_are_all_counted(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    counts = await asyncio.gather(*(s.add_failure(t, "email:c@x.test", WINDOW) for _ in range(8)))
    assert sorted(counts) == list(range(1, 9))


async def test_lock_until_a_time(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    assert await s.locked_until(t, "email:a@x.test") is None
    await s.add_failure(t, "email:a@x.test", WINDOW)
    until = _later(60)
    await s.lock(t, "email:a@x.test", until)
    found = await s.locked_until(t, "email:a@x.test")
    assert found is not None and abs((found - until).total_seconds()) < 1
    assert await s.locked_until(stores.other, "email:a@x.test") is None
    await s.lock(t, "email:a@x.test", _later(-1))  # a lock in the past is none
    assert await s.locked_until(t, "email:a@x.test") is None


async def test_reset_tokens_work_once_and_expire(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    user = await stores.directory.create_user(t, "u@x.test", "h", [])
    await s.add_reset_token(t, user.id, "a" * 64, _later(600))
    await s.add_reset_token(t, user.id, "b" * 64, _later(-1))
    assert await s.find_reset_token("a" * 64) == (t, user.id)
    assert await s.find_reset_token("b" * 64) is None  # expired
    claims = await asyncio.gather(*(s.use_reset_token("a" * 64) for _ in range(4)))
    assert claims.count((t, user.id)) == 1 and claims.count(None) == 3
    assert await s.find_reset_token("a" * 64) is None
    await s.add_reset_token(t, user.id, "c" * 64, _later(600))
    await s.drop_reset_tokens(t, user.id)
    assert await s.use_reset_token("c" * 64) is None


async def test_totp_enrol_confirm_and_steps_once(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    assert await s.get_totp(t, "u1") is None
    await s.put_totp(t, "u1", b"sealed-1")
    await s.put_totp(t, "u1", b"sealed-2")  # a pending one is replaced
    state = await s.get_totp(t, "u1")
    assert state is not None and (state.secret, state.confirmed) == (b"sealed-2", False)
    await s.confirm_totp(t, "u1", ["r1", "r2"])
    state = await s.get_totp(t, "u1")
    assert state is not None and state.confirmed
    with pytest.raises(Conflict):
        await s.put_totp(t, "u1", b"sealed-3")
    assert await s.get_totp(stores.other, "u1") is None
    assert await s.use_totp_step(t, "u1", 100)
    assert not await s.use_totp_step(t, "u1", 100)  # replay
    assert not await s.use_totp_step(t, "u1", 99)  # older
    assert await s.use_totp_step(t, "u1", 101)
    assert await s.use_recovery_code(t, "u1", "r1")
    assert not await s.use_recovery_code(t, "u1", "r1")
    assert not await s.use_recovery_code(stores.other, "u1", "r2")
    await s.delete_totp(t, "u1")
    assert await s.get_totp(t, "u1") is None
    assert not await s.use_recovery_code(t, "u1", "r2")


async def test_revoking_a_users_refresh_tokens(stores: Stores) -> None:
    d, t = stores.directory, stores.tenant
    for n, user in enumerate(("u1", "u1", "u2")):
        await d.store_refresh_token(t, user, f"{n}" * 64, f"fam{n}", _later(600))
    await stores.accounts.revoke_refresh_tokens(t, "u1")
    assert await d.use_refresh_token("0" * 64) is None
    assert await d.use_refresh_token("1" * 64) is None
    assert await d.use_refresh_token("2" * 64) == (t, "u2", "fam2")


async def test_revoked_access_tokens(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    now = datetime.now(UTC)
    assert not await s.token_revoked(t, "u1", "jti-1", now)
    await s.revoke_access_token(t, "u1", "jti-1", _later(600))
    await s.revoke_access_token(t, "u1", "jti-1", _later(600))  # twice is once
    assert await s.token_revoked(t, "u1", "jti-1", now)
    assert not await s.token_revoked(stores.other, "u1", "jti-1", now)
    assert not await s.token_revoked(t, "u1", "jti-2", now)


async def test_a_users_tokens_issued_before_a_time(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    cut = datetime.now(UTC).replace(microsecond=0)
    await s.set_not_before(t, "u1", cut, cut + timedelta(minutes=15))
    assert await s.token_revoked(t, "u1", "j", cut - timedelta(seconds=1))
    assert not await s.token_revoked(t, "u1", "j", cut)
    assert not await s.token_revoked(t, "u2", "j", cut - timedelta(seconds=1))
    assert not await s.token_revoked(stores.other, "u1", "j", cut - timedelta(seconds=1))
    await s.set_not_before(t, "u1", cut - timedelta(hours=1), cut)  # never moves back
    assert await s.token_revoked(t, "u1", "j", cut - timedelta(seconds=1))


async def test_expired_revocations_are_forgotten(stores: Stores) -> None:
    s, t = stores.accounts, stores.tenant
    old = datetime.now(UTC) - timedelta(hours=1)
    await s.revoke_access_token(t, "u1", "gone", old)
    await s.set_not_before(t, "u1", old, old)
    await s.revoke_access_token(t, "u1", "fresh", _later(600))  # purges what expired
    await s.set_not_before(t, "u2", old, _later(600))
    assert not await s.token_revoked(t, "u1", "gone", old - timedelta(hours=1))
