"""A tenant's domains over HTTP, verified against a real (tiny) DNS server on a
loopback port: the TXT record to publish, no record, a wrong token, the right one,
a domain another tenant verified first, and an operator's word."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from inboxhub.domain.events import TENANT_CONFIG_UPDATED
from inboxhub.runtime import Container
from tests.support.dns_server import DnsServer, dns_server
from tests.support.tenant_admin import PASSWORD, Platform, platform


@dataclass
class World:
    p: Platform
    dns: DnsServer
    acme: str  # tenant ids
    other: str
    boss: httpx.AsyncClient  # acme's owner
    rival: httpx.AsyncClient  # other's owner
    member: httpx.AsyncClient  # acme's member


@pytest.fixture()
async def w(container: Container) -> AsyncIterator[World]:
    async with dns_server() as dns:
        container.settings.dns_nameservers = [dns.address]
        async for p in platform(container):
            acme = (await p.new_tenant("Acme", "boss@acme.test"))["tenant"]["id"]
            other = (await p.new_tenant("Other", "boss@other.test"))["tenant"]["id"]
            hashed = p.auth.hasher.hash(PASSWORD)
            await p.c.directory.create_user(acme, "member@acme.test", hashed, ["member"])
            yield World(
                p,
                dns,
                acme,
                other,
                await p.login("boss@acme.test"),
                await p.login("boss@other.test"),
                await p.login("member@acme.test"),
            )


async def test_a_domain_is_verified_by_its_txt_record(w: World) -> None:
    r = await w.boss.post("/api/v1/domains", json={"domain": "Acme.Test."})
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["domain"] == "acme.test" and not added["verified"]
    record = added["txt_record"]
    assert record["name"] == "_inboxhub-verification.acme.test" and record["type"] == "TXT"
    assert record["value"].startswith("inboxhub-verification=")

    r = await w.boss.post("/api/v1/domains/acme.test/verify")  # nothing published yet
    assert r.status_code == 422 and "no TXT record" in r.json()["detail"], r.text
    assert w.dns.queries == ["_inboxhub-verification.acme.test"]

    w.dns.records[record["name"]] = ["v=spf1 -all", "inboxhub-verification=not-the-token"]
    r = await w.boss.post("/api/v1/domains/acme.test/verify")
    assert r.status_code == 422 and "not-the-token" in r.json()["detail"], r.text

    w.dns.records[record["name"]] = ["v=spf1 -all", record["value"]]
    r = await w.boss.post("/api/v1/domains/acme.test/verify")
    assert r.status_code == 200, r.text
    assert r.json()["verified"] and r.json()["verified_at"]
    [listed] = (await w.boss.get("/api/v1/domains")).json()["items"]
    assert listed["domain"] == "acme.test" and listed["verified"]
    assert [d.domain for d in await w.p.c.tenancy.list_domains(w.acme) if d.verified] == [
        "acme.test"
    ]
    changes = [
        e.data["what"] for e in await w.p.events(TENANT_CONFIG_UPDATED) if e.tenant_id == w.acme
    ]
    assert "domain.added" in changes and "domain.verified" in changes
    assert [e.data["object_id"] for e in await w.p.audits("domain.verified")] == ["acme.test"]


async def test_a_domain_verified_by_another_tenant_is_a_conflict(w: World) -> None:
    mine = (await w.boss.post("/api/v1/domains", json={"domain": "acme.test"})).json()
    w.dns.records[mine["txt_record"]["name"]] = [mine["txt_record"]["value"]]
    assert (await w.boss.post("/api/v1/domains/acme.test/verify")).status_code == 200

    theirs = (await w.rival.post("/api/v1/domains", json={"domain": "acme.test"})).json()
    w.dns.records[theirs["txt_record"]["name"]] = [theirs["txt_record"]["value"]]
    r = await w.rival.post("/api/v1/domains/acme.test/verify")
    assert r.status_code == 409, r.text
    r = await w.p.operator.post(f"/api/v1/tenants/{w.other}/domains/acme.test/verify")
    assert r.status_code == 409, r.text


async def test_an_operator_vouches_for_a_domain_without_dns(w: World) -> None:
    r = await w.p.operator.post(f"/api/v1/tenants/{w.acme}/domains/Acme.Example/verify")
    assert r.status_code == 200 and r.json()["verified"], r.text
    assert w.dns.queries == []
    [listed] = (await w.boss.get("/api/v1/domains")).json()["items"]
    assert listed["domain"] == "acme.example" and listed["verified"]
    r = await w.p.operator.post("/api/v1/tenants/nope/domains/acme.example/verify")
    assert r.status_code == 404


async def test_domains_belong_to_their_tenant_and_its_admins(w: World) -> None:
    await w.boss.post("/api/v1/domains", json={"domain": "acme.test"})
    assert (await w.rival.get("/api/v1/domains")).json()["items"] == []
    assert (await w.rival.post("/api/v1/domains/acme.test/verify")).status_code == 404
    assert (await w.rival.delete("/api/v1/domains/acme.test")).status_code == 404
    for method, url in (
        ("GET", "/api/v1/domains"),
        ("POST", "/api/v1/domains/acme.test/verify"),
        ("DELETE", "/api/v1/domains/acme.test"),
    ):
        assert (await w.member.request(method, url)).status_code == 403, url
    r = await w.member.post("/api/v1/domains", json={"domain": "x.test"})
    assert r.status_code == 403
    assert (await w.boss.post("/api/v1/domains", json={"domain": "acme.test"})).status_code == 409
    for bad in ("localhost", "a..b", "-a.test", "a_b.test", "x" * 64 + ".test"):
        r = await w.boss.post("/api/v1/domains", json={"domain": bad})
        assert r.status_code == 422, (bad, r.text)
    r = await w.boss.delete("/api/v1/domains/acme.test")
    assert r.status_code == 204
    assert (await w.boss.get("/api/v1/domains")).json()["items"] == []
    assert (await w.boss.delete("/api/v1/domains/acme.test")).status_code == 404


async def test_an_unreachable_name_server_is_a_503(w: World, container: Container) -> None:
    await w.boss.post("/api/v1/domains", json={"domain": "acme.test"})
    async with dns_server() as gone:
        address = gone.address
    container.settings.dns_nameservers = [address]  # nobody listens there now
    r = await w.boss.post("/api/v1/domains/acme.test/verify")
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
