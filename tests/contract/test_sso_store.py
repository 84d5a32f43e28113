"""The SsoStore contract (configurations, one-time tickets, assertion ids), on every
relational adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inboxhub.adapters.db import PLATFORM, SqlDirectory
from inboxhub.adapters.db_sso import SqlSsoStore
from tests.contract.adapters import DIRECTORIES, Ctx


@pytest.fixture(params=sorted(DIRECTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlSsoStore]:
    directory = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    assert isinstance(directory, SqlDirectory)
    yield SqlSsoStore(directory)
    await directory.close()


def _soon(seconds: float = 60) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def test_configs_are_per_tenant_and_protocol(store: SqlSsoStore) -> None:
    assert await store.get_config("ta", "oidc") is None
    made = await store.put_config("ta", "oidc", {"issuer": "https://idp"}, b"sealed")
    assert made.settings == {"issuer": "https://idp"} and made.secret == b"sealed"
    kept = await store.put_config("ta", "oidc", {"issuer": "https://idp2"}, None)
    assert kept.secret == b"sealed" and kept.settings == {"issuer": "https://idp2"}
    assert await store.get_config("ta", "oidc") == kept
    assert await store.get_config("ta", "saml") is None
    assert await store.get_config("tb", "oidc") is None
    assert not await store.delete_config("tb", "oidc")
    assert await store.delete_config("ta", "oidc")
    assert await store.get_config("ta", "oidc") is None


async def test_first_configs_saved_concurrently_all_succeed(store: SqlSsoStore) -> None:
    saved = await asyncio.gather(
        *(store.put_config("ta", "oidc", {"issuer": f"https://idp{i}"}, b"s") for i in range(6))
    )
    assert {c.settings["issuer"] for c in saved} <= {f"https://idp{i}" for i in range(6)}
    assert (await store.get_config("ta", "oidc")) in saved


async def test_a_ticket_is_taken_once(store: SqlSsoStore) -> None:
    await store.put_ticket("ta", "state", "h1", b"payload", _soon())
    assert await store.take_ticket("ta", "code", "h1") is None  # another kind
    assert await store.take_ticket("tb", "state", "h1") is None  # another tenant
    assert await store.take_ticket("ta", "state", "h1") == ("ta", b"payload")
    assert await store.take_ticket("ta", "state", "h1") is None


async def test_platform_scope_finds_any_tenants_ticket(store: SqlSsoStore) -> None:
    await store.put_ticket("ta", "code", "h2", b"x", _soon())
    assert await store.take_ticket(PLATFORM, "code", "h2") == ("ta", b"x")


async def test_an_expired_ticket_is_not_taken(store: SqlSsoStore) -> None:
    await store.put_ticket("ta", "state", "old", b"x", _soon(-1))
    assert await store.take_ticket("ta", "state", "old") is None


async def test_an_assertion_id_is_accepted_once(store: SqlSsoStore) -> None:
    assert await store.remember_assertion("ta", "_a1", _soon())
    assert not await store.remember_assertion("ta", "_a1", _soon())
    assert await store.remember_assertion("tb", "_a1", _soon())  # ids are per tenant
