"""The DkimKeyStore contract (DKIM keys of tenants' domains), on SQLite and PostgreSQL
(an ordinary role, row-level security on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_dkim import SqlDkimKeyStore
from inboxhub.adapters.db_tables import dkim_keys
from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import Conflict
from tests.contract.adapters import DIRECTORIES, Ctx

PEM_A = b"-----BEGIN PRIVATE KEY-----\nkey-a\n-----END PRIVATE KEY-----\n"
PEM_B = b"-----BEGIN PRIVATE KEY-----\nkey-b\n-----END PRIVATE KEY-----\n"
BOX = SecretBox("contract-test-secret")


@pytest.fixture(params=sorted(DIRECTORIES))
async def directory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDirectory]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield d
    await d.close()


async def _tenant(directory: SqlDirectory, slug: str, domain: str) -> str:
    from inboxhub.adapters.db_tenancy import SqlTenancyStore

    tenant = await directory.create_tenant(slug, slug.title())
    await SqlTenancyStore(directory).add_domain(tenant.id, domain)
    return tenant.id


async def _add(store: SqlDkimKeyStore, tenant: str, selector: str, pem: bytes = PEM_A) -> None:
    await store.add(
        tenant,
        "acme.test",
        selector,
        algorithm="rsa",
        private_key_pem=pem,
        dns_value=f"v=DKIM1; k=rsa; p={selector}",
        created_by="u1",
    )


async def test_a_key_is_stored_inactive_and_listed_without_its_private_key(
    directory: SqlDirectory,
) -> None:
    store = SqlDkimKeyStore(directory, BOX)
    t = await _tenant(directory, "acme", "acme.test")
    await _add(store, t, "s2")
    await _add(store, t, "s1", PEM_B)
    listed = await store.list(t, "acme.test")
    assert [(k.selector, k.active, k.activated_at) for k in listed] == [
        ("s1", False, None),
        ("s2", False, None),
    ]
    one = await store.get(t, "acme.test", "s2")
    assert one is not None and one.dns_value == "v=DKIM1; k=rsa; p=s2"
    assert one.algorithm == "rsa" and one.created_by == "u1" and one.created_at.tzinfo
    assert "key-a" not in one.model_dump_json()
    assert await store.get(t, "acme.test", "nope") is None
    assert await store.signing_key(t, "acme.test") is None  # nothing active yet


async def test_the_private_key_is_sealed_at_rest(directory: SqlDirectory) -> None:
    store = SqlDkimKeyStore(directory, BOX)
    t = await _tenant(directory, "acme", "acme.test")
    await _add(store, t, "s1")
    async with directory.tx(t) as conn:
        stored = (await conn.execute(select(dkim_keys.c.private_key))).scalar_one()
    assert b"key-a" not in bytes(stored) and BOX.decrypt(bytes(stored)) == PEM_A


async def test_a_selector_is_taken_once_per_domain(directory: SqlDirectory) -> None:
    store = SqlDkimKeyStore(directory, BOX)
    t = await _tenant(directory, "acme", "acme.test")
    await _add(store, t, "s1")
    with pytest.raises(Conflict):
        await _add(store, t, "s1", PEM_B)


async def test_activating_a_key_makes_it_the_only_signing_key(directory: SqlDirectory) -> None:
    store = SqlDkimKeyStore(directory, BOX)
    t = await _tenant(directory, "acme", "acme.test")
    await _add(store, t, "s1")
    await _add(store, t, "s2", PEM_B)
    first = await store.activate(t, "acme.test", "s1")
    assert first is not None and first.active and first.activated_at
    again = await store.activate(t, "acme.test", "s1")
    assert again is not None and again.activated_at == first.activated_at  # idempotent
    key = await store.signing_key(t, "acme.test")
    assert key is not None and (key.selector, key.private_key_pem) == ("s1", PEM_A)
    assert key.domain == "acme.test"

    await store.activate(t, "acme.test", "s2")  # rotation
    key = await store.signing_key(t, "acme.test")
    assert key is not None and (key.selector, key.private_key_pem) == ("s2", PEM_B)
    assert [k.active for k in await store.list(t, "acme.test")] == [False, True]
    assert await store.activate(t, "acme.test", "missing") is None


async def test_deleting_the_active_key_stops_signing(directory: SqlDirectory) -> None:
    store = SqlDkimKeyStore(directory, BOX)
    t = await _tenant(directory, "acme", "acme.test")
    await _add(store, t, "s1")
    await store.activate(t, "acme.test", "s1")
    assert await store.delete(t, "acme.test", "s1")
    assert not await store.delete(t, "acme.test", "s1")
    assert await store.signing_key(t, "acme.test") is None
    assert await store.list(t, "acme.test") == []


async def test_a_domain_the_tenant_no_longer_has_is_not_signed_for(
    directory: SqlDirectory,
) -> None:
    from inboxhub.adapters.db_tenancy import SqlTenancyStore

    store = SqlDkimKeyStore(directory, BOX)
    t = await _tenant(directory, "acme", "acme.test")
    await _add(store, t, "s1")
    await store.activate(t, "acme.test", "s1")
    assert await SqlTenancyStore(directory).delete_domain(t, "acme.test")
    assert await store.signing_key(t, "acme.test") is None


async def test_another_tenants_keys_are_out_of_reach(directory: SqlDirectory) -> None:
    store = SqlDkimKeyStore(directory, BOX)
    a = await _tenant(directory, "acme", "acme.test")
    b = await _tenant(directory, "other", "acme.test")  # both claim it, unverified
    await _add(store, a, "s1")
    await store.activate(a, "acme.test", "s1")
    assert await store.list(b, "acme.test") == []
    assert await store.get(b, "acme.test", "s1") is None
    assert await store.activate(b, "acme.test", "s1") is None
    assert not await store.delete(b, "acme.test", "s1")
    assert await store.signing_key(b, "acme.test") is None
    await _add(store, b, "s1", PEM_B)  # the same selector is b's own
    await store.activate(b, "acme.test", "s1")
    key_a, key_b = await store.signing_key(a, "acme.test"), await store.signing_key(b, "acme.test")
    assert key_a is not None and key_a.private_key_pem == PEM_A
    assert key_b is not None and key_b.private_key_pem == PEM_B
    async with directory.tx(b) as conn:  # the wall itself, not only the queries' filters
        rows = (await conn.execute(select(dkim_keys.c.tenant_id))).scalars().all()
    if directory.engine.dialect.name == "postgresql":
        assert rows == [b]
