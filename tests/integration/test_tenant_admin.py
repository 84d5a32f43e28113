"""Platform operators manage tenants over HTTP (in process): create one with its first
admin, list, read, suspend (which locks it out everywhere), resume, delete; a
tenant's own admins read and rename theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from inboxhub.domain.events import TENANT_CONFIG_UPDATED, TENANT_CREATED, USER_CREATED
from inboxhub.runtime import Container
from inboxhub.services.fetcher.engine import FetcherEngine
from tests.support.tenant_admin import PASSWORD, Platform, platform


@pytest.fixture()
async def p(container: Container) -> AsyncIterator[Platform]:
    async for made in platform(container):
        yield made


async def test_an_operator_creates_a_tenant_with_its_first_admin(p: Platform) -> None:
    made = await p.new_tenant("Acme Corp.", "Boss@Acme.test")
    tenant, admin = made["tenant"], made["admin"]
    assert (tenant["slug"], tenant["name"], tenant["status"]) == (
        "acme-corp",
        "Acme Corp.",
        "active",
    )
    assert admin["email"] == "boss@acme.test" and admin["roles"] == ["owner", "admin"]
    [(user, password_hash)] = await p.c.directory.find_users_by_email("boss@acme.test")
    assert (
        user.tenant_id == tenant["id"] and password_hash and password_hash.startswith("$argon2id$")
    )

    boss = await p.login("boss@acme.test")
    r = await boss.get("/api/v1/tenants/current")
    assert r.status_code == 200 and r.json()["id"] == tenant["id"]
    created = [e for e in await p.events(TENANT_CREATED) if e.tenant_id == tenant["id"]]
    assert [e.data["slug"] for e in created] == ["acme-corp"]
    users = [e for e in await p.events(USER_CREATED) if e.tenant_id == tenant["id"]]
    assert [e.data["user_id"] for e in users] == [admin["id"]]
    audited = await p.audits("tenant.create")
    assert {e.tenant_id for e in audited} == {
        tenant["id"],
        (await p.c.directory.get_tenant_by_slug("default")).id,
    }  # type: ignore[union-attr]


async def test_slugs_are_derived_unique_and_checked(p: Platform) -> None:
    assert (await p.new_tenant("Acme", "a@one.test"))["tenant"]["slug"] == "acme"
    assert (await p.new_tenant("ACME!", "a@two.test"))["tenant"]["slug"] == "acme-2"
    assert (await p.new_tenant("Whatever", "a@three.test", slug="wx"))["tenant"]["slug"] == "wx"
    body = {"name": "X", "admin_email": "x@x.test", "admin_password": PASSWORD}
    r = await p.operator.post("/api/v1/tenants", json={**body, "slug": "acme"})
    assert r.status_code == 409, r.text
    for bad in ("-x", "Upper", "a_b", "x-"):
        r = await p.operator.post("/api/v1/tenants", json={**body, "slug": bad})
        assert r.status_code == 422, (bad, r.text)
    r = await p.operator.post("/api/v1/tenants", json={**body, "admin_email": "not-an-email"})
    assert r.status_code == 422
    r = await p.operator.post("/api/v1/tenants", json={**body, "admin_password": "short"})
    assert r.status_code == 422


async def test_tenants_are_listed_in_pages(p: Platform) -> None:
    for name in ("Charlie", "Alpha", "Bravo"):
        await p.new_tenant(name, f"boss@{name.lower()}.test")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await p.operator.get("/api/v1/tenants", params=params)
        assert r.status_code == 200, r.text
        seen += [t["slug"] for t in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["alpha", "bravo", "charlie", "default"]
    r = await p.operator.get("/api/v1/tenants", params={"cursor": "garbage!"})
    assert r.status_code == 422


async def test_only_operators_use_the_platform_routes(p: Platform) -> None:
    made = await p.new_tenant("Acme", "boss@acme.test")
    tid = made["tenant"]["id"]
    boss = await p.login("boss@acme.test")
    calls = [
        (
            "POST",
            "/api/v1/tenants",
            {"name": "X", "admin_email": "x@x.test", "admin_password": PASSWORD},
        ),
        ("GET", "/api/v1/tenants", None),
        ("GET", f"/api/v1/tenants/{tid}", None),
        ("POST", f"/api/v1/tenants/{tid}/suspend", None),
        ("POST", f"/api/v1/tenants/{tid}/resume", None),
        ("DELETE", f"/api/v1/tenants/{tid}", None),
        ("POST", f"/api/v1/tenants/{tid}/domains/acme.test/verify", None),
    ]
    for method, url, body in calls:
        r = await boss.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.text)
        assert r.headers["content-type"] == "application/problem+json"
    r = await p.client().get("/api/v1/tenants")
    assert r.status_code == 401
    r = await p.operator.get("/api/v1/tenants/nope")
    assert r.status_code == 404


async def test_a_tenants_admins_read_and_rename_it(p: Platform) -> None:
    made = await p.new_tenant("Acme", "boss@acme.test")
    tid = made["tenant"]["id"]
    await p.c.directory.create_user(
        tid, "member@acme.test", p.auth.hasher.hash(PASSWORD), ["member"]
    )
    member, boss = await p.login("member@acme.test"), await p.login("boss@acme.test")
    assert (await member.get("/api/v1/tenants/current")).json()["name"] == "Acme"
    r = await member.patch("/api/v1/tenants/current", json={"name": "Mine"})
    assert r.status_code == 403
    r = await boss.patch("/api/v1/tenants/current", json={"name": "Acme Corp"})
    assert r.status_code == 200 and r.json()["name"] == "Acme Corp"
    assert (await p.operator.get(f"/api/v1/tenants/{tid}")).json()["name"] == "Acme Corp"
    changes = [e.data for e in await p.events(TENANT_CONFIG_UPDATED) if e.tenant_id == tid]
    assert {"what": "tenant.renamed", "object_id": tid} in changes
    assert [e.data["object_id"] for e in await p.audits("tenant.rename")] == [tid]


async def test_a_suspended_tenant_is_locked_out_until_resumed(p: Platform) -> None:
    made = await p.new_tenant("Acme", "boss@acme.test")
    tid = made["tenant"]["id"]
    boss = await p.login("boss@acme.test")
    r = await boss.post(
        "/api/v1/auth/login", json={"email": "boss@acme.test", "password": PASSWORD}
    )
    refresh = r.json()["refresh_token"]

    r = await p.operator.post(f"/api/v1/tenants/{tid}/suspend")
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await boss.get("/api/v1/tenants/current")
    assert r.status_code == 401 and "suspended" in r.json()["detail"]
    r = await p.client().post(
        "/api/v1/auth/login", json={"email": "boss@acme.test", "password": PASSWORD}
    )
    assert r.status_code == 401
    r = await p.client().post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert r.status_code == 401
    assert (await p.operator.get("/api/v1/tenants/current")).status_code == 200  # others go on
    changes = [e.data["what"] for e in await p.events(TENANT_CONFIG_UPDATED) if e.tenant_id == tid]
    assert "tenant.suspended" in changes

    r = await p.operator.post(f"/api/v1/tenants/{tid}/resume")
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert (await boss.get("/api/v1/tenants/current")).status_code == 200
    await p.login("boss@acme.test")
    assert [e.data["object_id"] for e in await p.audits("tenant.suspend")] == [tid, tid]


async def test_operators_cannot_suspend_or_delete_their_own_tenant(p: Platform) -> None:
    own = (await p.operator.get("/api/v1/tenants/current")).json()["id"]
    assert (await p.operator.post(f"/api/v1/tenants/{own}/suspend")).status_code == 409
    assert (await p.operator.delete(f"/api/v1/tenants/{own}")).status_code == 409
    assert (await p.operator.get("/api/v1/tenants/current")).json()["status"] == "active"


async def test_a_suspended_tenants_mailboxes_do_not_sync(p: Platform, tmp_path: object) -> None:
    acme = (await p.new_tenant("Acme", "boss@acme.test"))["tenant"]["id"]
    other = (await p.new_tenant("Other", "boss@other.test"))["tenant"]["id"]
    boxes = {
        t: await p.c.directory.create_mailbox(
            t, "Inbox", "local", {"paths": ["/nonexistent"]}, None
        )
        for t in (acme, other)
    }
    engine = FetcherEngine(p.c, "worker-1")
    try:
        await p.operator.post(f"/api/v1/tenants/{acme}/suspend")
        await engine.reconcile()
        assert set(engine.running) == {(other, boxes[other].id)}
        await p.operator.post(f"/api/v1/tenants/{acme}/resume")
        await engine.reconcile()
        assert set(engine.running) == {(t, b.id) for t, b in boxes.items()}
        await p.operator.post(f"/api/v1/tenants/{acme}/suspend")
        await engine.reconcile()  # a running mailbox stops
        assert set(engine.running) == {(other, boxes[other].id)}
    finally:
        await engine.shutdown()


async def test_deleting_a_tenant_erases_it(p: Platform) -> None:
    made = await p.new_tenant("Acme", "boss@acme.test")
    tid = made["tenant"]["id"]
    boss = await p.login("boss@acme.test")
    r = await p.operator.delete(f"/api/v1/tenants/{tid}")
    assert r.status_code == 204, r.text
    assert [e.data["object_id"] for e in await p.audits("tenant.delete")] == [tid]
    assert (await boss.get("/api/v1/tenants/current")).status_code == 401
    # What is erased, everywhere, is C2's erasure's to prove; the tenant itself is gone:
    assert (await p.operator.get(f"/api/v1/tenants/{tid}")).status_code == 404
    assert await p.c.directory.find_users_by_email("boss@acme.test") == []
