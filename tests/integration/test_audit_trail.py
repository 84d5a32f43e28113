"""The audit trail over HTTP (in process): what logins, failed logins and logouts
record (user agent, request id, outcome), the query with its filters and cursor,
the streamed exports (themselves audited), retention policy and legal hold, roles
and tenants; and a user's erasure leaving the chain verifiable."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.runtime import Container, build_auth
from inboxhub.services.audit.handler import AuditRecorder
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.services.tenants.erasure import Erasure

OWNER, AUDITOR, MEMBER, OTHER = "owner@t.test", "audit@t.test", "member@t.test", "o@other.test"
PASSWORD = "pass-word-123"
AGENT = "audit-test/1.0"


@dataclass
class Site:
    c: Container
    app: Any
    tenant_id: str
    owner: httpx.AsyncClient
    auditor: httpx.AsyncClient
    member: httpx.AsyncClient
    other: httpx.AsyncClient

    async def recorded(self) -> None:
        """What the audit service would have stored by now."""
        await AuditRecorder(self.c.audit).handle(await self.c.bus.read(AUDIT_ACTION, 10_000))


async def _login(app: Any, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"User-Agent": AGENT},
    )
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    if r.status_code == 200:
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


@pytest.fixture()
async def site(container: Container) -> AsyncIterator[Site]:
    auth = await build_auth(container)
    for slug, email, roles in (
        ("acme", OWNER, ("owner",)),
        ("acme", AUDITOR, ("auditor",)),
        ("acme", MEMBER, ("member",)),
        ("other", OTHER, ("owner",)),
    ):
        await bootstrap(
            container.directory, container.bus, auth.hasher, slug, email, PASSWORD, roles
        )
    tenant = await container.directory.get_tenant_by_slug("acme")
    assert tenant is not None
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    clients = [await _login(app, e) for e in (OWNER, AUDITOR, MEMBER, OTHER)]
    yield Site(container, app, tenant.id, *clients)
    for client in clients:
        await client.aclose()


async def _items(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_logins_are_recorded_with_agent_request_id_and_outcome(site: Site) -> None:
    failed = await _login(site.app, OWNER, "wrong-password-1")
    await failed.aclose()
    r = await site.member.post(
        "/api/v1/auth/logout", json={}, headers={"X-Request-Id": "logout-req-1"}
    )
    assert r.status_code == 204, r.text
    await site.recorded()
    page = await _items(site.auditor, limit=50)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for item in page["items"]:
        by_action.setdefault(item["action"], []).append(item)
    assert len(by_action["auth.login"]) == 3, "owner, auditor, member of acme"
    login = by_action["auth.login"][0]
    assert login["user_agent"] == AGENT and login["request_id"] and login["outcome"] == "success"
    [fail] = by_action["auth.login_failed"]
    assert fail["outcome"] == "failure" and fail["detail"]["reason"] == "password"
    [logout] = by_action["auth.logout"]
    assert logout["request_id"] == "logout-req-1" and logout["ip"]
    seqs = [i["seq"] for i in page["items"]]
    assert seqs == sorted(seqs, reverse=True), "newest first"
    assert (await site.c.audit.verify(site.tenant_id)).ok


async def test_filters_cursor_roles_and_tenants(site: Site) -> None:
    await site.recorded()
    [(owner, _)] = await site.c.directory.find_users_by_email(OWNER)
    mine = await _items(site.owner, actor=owner.id)
    assert {i["actor_id"] for i in mine["items"]} == {owner.id}
    first = await _items(site.owner, limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"] == first["items"][-1]["seq"]
    rest = await _items(site.owner, limit=2, cursor=first["next_cursor"])
    assert [i["seq"] for i in rest["items"]] == [first["next_cursor"] - 1]
    assert rest["next_cursor"] is None
    later = await _items(site.owner, **{"from": "2999-01-01T00:00:00Z"})
    assert later["items"] == []
    r = await site.owner.get("/api/v1/audit", params={"from": "2026-01-01T00:00:00"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert (await site.member.get("/api/v1/audit")).status_code == 403
    theirs = await _items(site.other)
    assert {i["actor_id"] for i in theirs["items"]} != {owner.id}
    assert all(i["id"] not in {m["id"] for m in mine["items"]} for i in theirs["items"])


async def test_exports_stream_and_are_audited(site: Site) -> None:
    await site.recorded()
    r = await site.auditor.get("/api/v1/audit/export", params={"format": "jsonl"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert {i["action"] for i in lines} == {"auth.login"} and len(lines) == 3
    r = await site.owner.get(
        "/api/v1/audit/export", params={"format": "csv", "action": "auth.login"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 and rows[0]["user_agent"] == AGENT
    assert (await site.member.get("/api/v1/audit/export")).status_code == 403
    await site.recorded()
    exports = (await _items(site.owner, action="audit.export"))["items"]
    assert [e["detail"]["format"] for e in exports] == ["csv", "jsonl"]
    assert exports[0]["detail"]["action_filter"] == "auth.login"


async def test_policy_is_for_owners_and_admins(site: Site) -> None:
    r = await site.owner.get("/api/v1/audit/policy")
    assert r.json() == {"retention_days": None, "legal_hold": False}
    r = await site.owner.put("/api/v1/audit/policy", json={"retention_days": 0})
    assert r.status_code == 422
    policy = {"retention_days": 30, "legal_hold": True}
    assert (await site.owner.put("/api/v1/audit/policy", json=policy)).json() == policy
    assert (await site.owner.get("/api/v1/audit/policy")).json() == policy
    assert (await site.other.get("/api/v1/audit/policy")).json()["retention_days"] is None
    assert (await site.auditor.put("/api/v1/audit/policy", json=policy)).status_code == 403
    assert (await site.auditor.get("/api/v1/audit/policy")).status_code == 403
    await site.recorded()
    [change] = (await _items(site.owner, action="audit.policy_updated"))["items"]
    assert change["detail"] == {**policy, "ip": change["ip"], "user_agent": AGENT}


async def test_a_user_erasure_keeps_the_chain_verifiable(site: Site) -> None:
    await site.member.post("/api/v1/auth/logout", json={})
    await site.recorded()
    [(member, _)] = await site.c.directory.find_users_by_email(MEMBER)
    [(owner, _)] = await site.c.directory.find_users_by_email(OWNER)
    await Erasure(site.c).erase_user(site.tenant_id, member.id, owner.id)
    await site.recorded()
    items = (await _items(site.owner, limit=100))["items"]
    assert member.id not in json.dumps(items) and MEMBER not in json.dumps(items)
    erased = [i for i in items if str(i["actor_id"]).startswith("erased:")]
    assert erased and all(i["ip"] is None and i["user_agent"] is None for i in erased)
    result = await site.c.audit.verify(site.tenant_id)
    assert result.ok and result.verified == len(items)


async def test_refused_requests_are_recorded_as_failures(site: Site) -> None:
    """A signed-in caller refused (403, or 404 for an id it may not see) leaves a
    failure record in its own tenant's trail; a request without a token leaves none."""
    [(owner, _)] = await site.c.directory.find_users_by_email(OWNER)
    [(member, _)] = await site.c.directory.find_users_by_email(MEMBER)
    assert (await site.member.get("/api/v1/audit")).status_code == 403
    probe = await site.other.get(f"/api/v1/users/{owner.id}")
    assert probe.status_code == 404
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=site.app), base_url="http://t")
    assert (await anonymous.get("/api/v1/audit")).status_code == 401
    await anonymous.aclose()
    await site.recorded()
    refused = (await _items(site.owner, action="request.refused"))["items"]
    assert [(i["actor_id"], i["outcome"]) for i in refused] == [(member.id, "failure")]
    detail = refused[0]["detail"]
    assert (detail["method"], detail["route"], detail["status"]) == ("GET", "/api/v1/audit", 403)
    assert refused[0]["user_agent"] == AGENT and refused[0]["request_id"]
    [theirs] = (await _items(site.other, action="request.refused"))["items"]
    assert (
        theirs["object_id"] == owner.id and theirs["detail"]["route"] == "/api/v1/users/{user_id}"
    )
    assert (await site.c.audit.verify(site.tenant_id)).ok
