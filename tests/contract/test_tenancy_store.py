"""The TenancyStore contract (domains, tenants, users, invitations), on every adapter."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_tenancy import SqlTenancyStore
from inboxhub.domain.errors import Conflict, NotFound
from inboxhub.domain.models import Tenant
from tests.contract.adapters import DIRECTORIES, Ctx


@dataclass
class Stores:
    directory: SqlDirectory
    tenancy: SqlTenancyStore


@pytest.fixture(params=sorted(DIRECTORIES))
async def s(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield Stores(d, SqlTenancyStore(d))
    await d.close()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _in(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def _tenant_with_owner(s: Stores, slug: str) -> tuple[Tenant, str]:
    tenant = await s.directory.create_tenant(slug, slug.upper())
    owner = await s.directory.create_user(tenant.id, f"owner@{slug}.test", "h", ["owner", "admin"])
    return tenant, owner.id


# ---------------------------------------------------------------- domains


async def test_domains_are_per_tenant_and_verified_by_one_only(s: Stores) -> None:
    a = await s.directory.create_tenant("a", "A")
    b = await s.directory.create_tenant("b", "B")
    added = await s.tenancy.add_domain(a.id, "Example.TEST")
    assert added.domain == "example.test" and not added.verified
    with pytest.raises(Conflict):
        await s.tenancy.add_domain(a.id, "example.test")
    await s.tenancy.add_domain(b.id, "example.test")  # claiming is free, verifying is not
    assert (await s.tenancy.mark_domain_verified(a.id, "example.test")).verified
    with pytest.raises(Conflict):
        await s.tenancy.mark_domain_verified(b.id, "example.test")
    with pytest.raises(NotFound):
        await s.tenancy.mark_domain_verified(a.id, "other.test")
    assert [d.domain for d in await s.tenancy.list_domains(a.id)] == ["example.test"]
    assert await s.tenancy.get_domain(b.id, "example.test") is not None
    assert not (await s.tenancy.get_domain(b.id, "example.test")).verified  # type: ignore[union-attr]
    assert await s.tenancy.delete_domain(a.id, "example.test")
    assert not await s.tenancy.delete_domain(a.id, "example.test")
    assert (await s.tenancy.mark_domain_verified(b.id, "example.test")).verified


# ---------------------------------------------------------------- tenants


async def test_tenants_are_listed_by_slug_in_pages(s: Stores) -> None:
    for slug in ("c", "a", "b"):
        await s.directory.create_tenant(slug, slug.upper())
    first = await s.tenancy.list_tenants(2)
    assert [t.slug for t in first] == ["a", "b"]
    assert [t.slug for t in await s.tenancy.list_tenants(2, after="b")] == ["c"]


async def test_updating_a_tenant_changes_only_what_is_given(s: Stores) -> None:
    tenant = await s.directory.create_tenant("acme", "Acme")
    other = await s.directory.create_tenant("other", "Other")
    renamed = await s.tenancy.update_tenant(tenant.id, name="Acme Corp")
    assert renamed is not None and renamed.name == "Acme Corp" and renamed.status == "active"
    suspended = await s.tenancy.update_tenant(tenant.id, status="suspended")
    assert suspended is not None and suspended.name == "Acme Corp"
    assert suspended.status == "suspended"
    assert await s.tenancy.suspended_tenant_ids() == {tenant.id}
    assert (await s.directory.get_tenant(other.id)).status == "active"  # type: ignore[union-attr]
    await s.tenancy.update_tenant(tenant.id, status="active")
    assert await s.tenancy.suspended_tenant_ids() == set()
    assert await s.tenancy.update_tenant("nope", name="x") is None


# ---------------------------------------------------------------- users


async def test_users_are_listed_by_email_in_pages_and_per_tenant(s: Stores) -> None:
    a, _ = await _tenant_with_owner(s, "a")
    b, _ = await _tenant_with_owner(s, "b")
    for email in ("zed@a.test", "bob@a.test"):
        await s.directory.create_user(a.id, email, None, ["member"])
    page = await s.tenancy.list_users(a.id, 2)
    assert [u.email for u in page] == ["bob@a.test", "owner@a.test"]
    assert [u.email for u in await s.tenancy.list_users(a.id, 2, after=page[-1].email)] == [
        "zed@a.test"
    ]
    assert [u.email for u in await s.tenancy.list_users(b.id, 10)] == ["owner@b.test"]


async def test_updating_a_user_changes_roles_and_status(s: Stores) -> None:
    tenant, _ = await _tenant_with_owner(s, "a")
    user = await s.directory.create_user(tenant.id, "u@a.test", "h", ["member"])
    changed = await s.tenancy.update_user(tenant.id, user.id, roles=["admin"])
    assert changed is not None and changed.roles == ["admin"] and changed.status == "active"
    changed = await s.tenancy.update_user(tenant.id, user.id, status="suspended")
    assert changed is not None and changed.roles == ["admin"] and changed.status == "suspended"
    assert await s.directory.get_user(tenant.id, user.id) == changed
    other, _ = await _tenant_with_owner(s, "b")
    assert await s.tenancy.update_user(other.id, user.id, roles=["owner"]) is None
    assert (await s.directory.get_user(tenant.id, user.id)).roles == ["admin"]  # type: ignore[union-attr]


async def test_the_last_active_owner_stays(s: Stores) -> None:
    tenant, owner = await _tenant_with_owner(s, "a")
    for change in ({"roles": ["admin"]}, {"status": "suspended"}):
        with pytest.raises(Conflict):
            await s.tenancy.update_user(tenant.id, owner, **change)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        await s.tenancy.delete_user(tenant.id, owner)
    assert (await s.directory.get_user(tenant.id, owner)).roles == ["owner", "admin"]  # type: ignore[union-attr]
    second = await s.directory.create_user(tenant.id, "two@a.test", "h", ["owner"])
    await s.tenancy.update_user(tenant.id, owner, roles=["admin"])
    with pytest.raises(Conflict):
        await s.tenancy.delete_user(tenant.id, second.id)


async def test_two_owners_demoting_each_other_at_once_leave_one(s: Stores) -> None:
    tenant, first = await _tenant_with_owner(s, "a")
    second = (await s.directory.create_user(tenant.id, "two@a.test", "h", ["owner"])).id
    results = await asyncio.gather(
        s.tenancy.update_user(tenant.id, first, roles=["member"]),
        s.tenancy.update_user(tenant.id, second, roles=["member"]),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    owners = [u for u in await s.tenancy.list_users(tenant.id, 10) if "owner" in u.roles]
    assert len(owners) == 1


async def test_deleting_a_user_removes_the_account_and_its_refresh_tokens(s: Stores) -> None:
    tenant, _ = await _tenant_with_owner(s, "a")
    user = await s.directory.create_user(tenant.id, "u@a.test", "h", ["member"])
    await s.directory.store_refresh_token(tenant.id, user.id, "f" * 64, "fam", _in(1))
    other, _ = await _tenant_with_owner(s, "b")
    assert not await s.tenancy.delete_user(other.id, user.id)
    assert await s.tenancy.delete_user(tenant.id, user.id)
    assert await s.directory.get_user(tenant.id, user.id) is None
    assert await s.directory.use_refresh_token("f" * 64) is None
    assert not await s.tenancy.delete_user(tenant.id, user.id)


# ---------------------------------------------------------------- invitations


async def test_an_invitation_is_accepted_once(s: Stores) -> None:
    tenant, owner = await _tenant_with_owner(s, "a")
    invited = await s.tenancy.add_invitation(
        tenant.id, "New@A.test", ["member"], _hash("tok"), owner, _in(7)
    )
    assert invited.email == "new@a.test" and invited.accepted_at is None
    assert await s.tenancy.list_invitations(tenant.id) == [invited]
    user = await s.tenancy.accept_invitation(_hash("tok"), "argon-hash")
    assert (user.tenant_id, user.email, user.roles) == (tenant.id, "new@a.test", ["member"])
    [(found, password_hash)] = await s.directory.find_users_by_email("new@a.test")
    assert found == user and password_hash == "argon-hash"
    with pytest.raises(NotFound):
        await s.tenancy.accept_invitation(_hash("tok"), "again")
    [listed] = await s.tenancy.list_invitations(tenant.id)
    assert listed.accepted_at is not None


async def test_expired_revoked_and_unknown_invitations_open_nothing(s: Stores) -> None:
    tenant, owner = await _tenant_with_owner(s, "a")
    other, _ = await _tenant_with_owner(s, "b")
    await s.tenancy.add_invitation(tenant.id, "old@a.test", [], _hash("old"), owner, _in(-1))
    revoked = await s.tenancy.add_invitation(tenant.id, "r@a.test", [], _hash("r"), owner, _in(7))
    assert not await s.tenancy.delete_invitation(other.id, revoked.id)
    assert await s.tenancy.delete_invitation(tenant.id, revoked.id)
    for token in ("old", "r", "never"):
        with pytest.raises(NotFound):
            await s.tenancy.accept_invitation(_hash(token), "h")
    assert await s.directory.find_users_by_email("old@a.test") == []
    assert await s.tenancy.list_invitations(other.id) == []


async def test_inviting_again_replaces_the_pending_invitation(s: Stores) -> None:
    tenant, owner = await _tenant_with_owner(s, "a")
    await s.tenancy.add_invitation(tenant.id, "n@a.test", ["member"], _hash("1"), owner, _in(7))
    second = await s.tenancy.add_invitation(
        tenant.id, "n@a.test", ["admin"], _hash("2"), owner, _in(7)
    )
    assert await s.tenancy.list_invitations(tenant.id) == [second]
    with pytest.raises(NotFound):
        await s.tenancy.accept_invitation(_hash("1"), "h")
    assert (await s.tenancy.accept_invitation(_hash("2"), "h")).roles == ["admin"]


async def test_accepting_for_an_email_that_has_an_account_is_a_conflict(s: Stores) -> None:
    tenant, owner = await _tenant_with_owner(s, "a")
    await s.tenancy.add_invitation(tenant.id, "u@a.test", [], _hash("t"), owner, _in(7))
    await s.directory.create_user(tenant.id, "u@a.test", "h", [])
    with pytest.raises(Conflict):
        await s.tenancy.accept_invitation(_hash("t"), "h")
    [pending] = await s.tenancy.list_invitations(tenant.id)
    assert pending.accepted_at is None  # nothing was used up
