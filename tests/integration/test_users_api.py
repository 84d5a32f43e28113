"""A tenant's users over HTTP: owners and admins list, create, change and delete
accounts under the role rules; anyone reads their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from inboxhub.domain.events import TENANT_CONFIG_UPDATED, USER_CREATED, USER_DELETED
from inboxhub.runtime import Container
from tests.support.tenant_admin import PASSWORD, Platform, platform, token_of


@dataclass
class World:
    p: Platform
    acme: str
    owner: httpx.AsyncClient
    admin: httpx.AsyncClient
    member: httpx.AsyncClient
    ids: dict[str, str]  # email → user id


@pytest.fixture()
async def w(container: Container) -> AsyncIterator[World]:
    async for p in platform(container):
        made = await p.new_tenant("Acme", "owner@acme.test")
        acme = made["tenant"]["id"]
        ids = {"owner@acme.test": made["admin"]["id"]}
        owner = await p.login("owner@acme.test")
        for email, roles in (("admin@acme.test", ["admin"]), ("member@acme.test", ["member"])):
            body = {"email": email, "roles": roles, "password": PASSWORD}
            r = await owner.post("/api/v1/users", json=body)
            assert r.status_code == 201, r.text
            ids[email] = r.json()["id"]
        yield World(
            p,
            acme,
            owner,
            await p.login("admin@acme.test"),
            await p.login("member@acme.test"),
            ids,
        )


async def test_admins_list_users_in_pages_and_anyone_reads_themselves(w: World) -> None:
    r = await w.admin.get("/api/v1/users", params={"limit": 2})
    assert r.status_code == 200, r.text
    first = r.json()
    assert [u["email"] for u in first["items"]] == ["admin@acme.test", "member@acme.test"]
    r = await w.admin.get("/api/v1/users", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [u["email"] for u in r.json()["items"]] == ["owner@acme.test"]
    assert r.json()["next_cursor"] is None

    me = (await w.member.get("/api/v1/users/me")).json()
    assert (me["email"], me["roles"], me["status"]) == ("member@acme.test", ["member"], "active")
    owner_id = w.ids["owner@acme.test"]
    assert (await w.admin.get(f"/api/v1/users/{owner_id}")).json()["email"] == "owner@acme.test"
    for method, url in (("GET", "/api/v1/users"), ("GET", f"/api/v1/users/{owner_id}")):
        assert (await w.member.request(method, url)).status_code == 403
    r = await w.member.post("/api/v1/users", json={"email": "x@acme.test", "password": PASSWORD})
    assert r.status_code == 403


async def test_users_of_another_tenant_are_not_found(w: World) -> None:
    await w.p.new_tenant("Other", "boss@other.test")
    rival = await w.p.login("boss@other.test")
    assert [u["email"] for u in (await rival.get("/api/v1/users")).json()["items"]] == [
        "boss@other.test"
    ]
    member = w.ids["member@acme.test"]
    assert (await rival.get(f"/api/v1/users/{member}")).status_code == 404
    r = await rival.patch(f"/api/v1/users/{member}", json={"status": "suspended"})
    assert r.status_code == 404
    assert (await rival.delete(f"/api/v1/users/{member}")).status_code == 404
    assert (await w.member.get("/api/v1/users/me")).status_code == 200


async def test_creating_a_user_announces_it_and_they_can_sign_in(w: World) -> None:
    body = {"email": "New@Acme.test", "roles": ["auditor"], "password": PASSWORD}
    r = await w.admin.post("/api/v1/users", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "new@acme.test" and r.json()["roles"] == ["auditor"]
    created = [e.data for e in await w.p.events(USER_CREATED) if e.tenant_id == w.acme]
    assert {"user_id": r.json()["id"], "email": "new@acme.test", "roles": ["auditor"]} in created
    await w.p.login("new@acme.test")
    assert (await w.admin.post("/api/v1/users", json=body)).status_code == 409
    [(_, password_hash)] = await w.p.c.directory.find_users_by_email("new@acme.test")
    assert password_hash and password_hash.startswith("$argon2id$")
    assert r.json()["id"] in [e.data["object_id"] for e in await w.p.audits("user.create")]


async def test_a_user_without_a_password_is_invited(w: World) -> None:
    r = await w.admin.post("/api/v1/users", json={"email": "later@acme.test", "roles": ["member"]})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["email"] == "later@acme.test"
    [mail] = w.p.mails()
    assert mail["To"] == "later@acme.test"
    r = await w.p.client().post(
        "/api/v1/invitations/accept", json={"token": token_of(mail), "password": "a-new-secret"}
    )
    assert r.status_code == 200, r.text
    await w.p.login("later@acme.test", "a-new-secret")


async def test_roles_follow_the_rules(w: World) -> None:
    member, owner_id = w.ids["member@acme.test"], w.ids["owner@acme.test"]
    r = await w.admin.patch(f"/api/v1/users/{member}", json={"roles": ["owner"]})
    assert r.status_code == 403, "only an owner grants owner"
    r = await w.admin.patch(f"/api/v1/users/{owner_id}", json={"status": "suspended"})
    assert r.status_code == 403, "only an owner changes an owner"
    assert (await w.admin.delete(f"/api/v1/users/{owner_id}")).status_code == 403
    r = await w.admin.patch(f"/api/v1/users/{member}", json={"roles": ["platform_admin"]})
    assert r.status_code == 422, "not grantable here"
    r = await w.admin.patch(f"/api/v1/users/{member}", json={"roles": ["auditor", "member"]})
    assert r.status_code == 200 and r.json()["roles"] == ["auditor", "member"]

    r = await w.owner.patch(f"/api/v1/users/{owner_id}", json={"roles": ["admin"]})
    assert r.status_code == 409, "the last owner stays"
    assert (await w.owner.delete(f"/api/v1/users/{owner_id}")).status_code == 409
    r = await w.owner.patch(f"/api/v1/users/{member}", json={"roles": ["owner"]})
    assert r.status_code == 200 and r.json()["roles"] == ["owner"]
    r = await w.owner.patch(f"/api/v1/users/{owner_id}", json={"roles": ["admin"]})
    assert r.status_code == 200, "another owner remains"
    changes = [e.data for e in await w.p.events(TENANT_CONFIG_UPDATED) if e.tenant_id == w.acme]
    assert {"what": "user.updated", "object_id": member} in changes


async def test_an_operators_platform_role_survives_a_role_change(w: World) -> None:
    operator = (await w.p.operator.get("/api/v1/users/me")).json()
    assert "platform_admin" in operator["roles"]
    r = await w.p.operator.post(
        "/api/v1/users",
        json={"email": "co@platform.test", "roles": ["owner"], "password": PASSWORD},
    )
    assert r.status_code == 201
    r = await w.p.operator.patch(f"/api/v1/users/{operator['id']}", json={"roles": ["admin"]})
    assert r.status_code == 200 and r.json()["roles"] == ["admin", "platform_admin"]


async def test_a_suspended_user_cannot_sign_in_until_reactivated(w: World) -> None:
    member = w.ids["member@acme.test"]
    r = await w.admin.patch(f"/api/v1/users/{member}", json={"status": "suspended"})
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    r = await w.p.client().post(
        "/api/v1/auth/login", json={"email": "member@acme.test", "password": PASSWORD}
    )
    assert r.status_code == 401
    assert (await w.member.get("/api/v1/users/me")).status_code == 401, "its tokens are revoked"
    r = await w.admin.patch(f"/api/v1/users/{member}", json={"status": "active"})
    assert r.status_code == 200
    await w.p.login("member@acme.test")


async def test_deleting_a_user_erases_them_and_announces_it(w: World) -> None:
    member = w.ids["member@acme.test"]
    r = await w.admin.delete(f"/api/v1/users/{member}")
    assert r.status_code == 204, r.text
    assert (await w.admin.get(f"/api/v1/users/{member}")).status_code == 404
    assert (await w.admin.delete(f"/api/v1/users/{member}")).status_code == 404
    deleted = [e for e in await w.p.events(USER_DELETED) if e.tenant_id == w.acme]
    assert [e.data["user_id"] for e in deleted] == [member]
    r = await w.p.client().post(
        "/api/v1/auth/login", json={"email": "member@acme.test", "password": PASSWORD}
    )
    assert r.status_code == 401
    assert (await w.member.get("/api/v1/users/me")).status_code == 401, "its tokens are revoked"
    assert [e.data["object_id"] for e in await w.p.audits("user.delete")] == [member]
