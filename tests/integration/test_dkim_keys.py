"""DKIM keys over HTTP: generated or uploaded by a tenant's admins, published (a real
tiny DNS server on a loopback port), activated, used to sign, deleted; never shown
to anyone, never reachable from another tenant, never by members or auditors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import dkim
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from inboxhub.mime.compose import build_message, strip_bcc
from inboxhub.mime.dkim_sign import dkim_sign
from inboxhub.runtime import Container
from tests.support.dns_server import DnsServer, dns_server
from tests.support.tenant_admin import Platform, platform

KEYS = "/api/v1/domains/acme.test/dkim-keys"
ED25519_PEM = (
    ed25519.Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


@dataclass
class World:
    p: Platform
    dns: DnsServer
    acme: str
    boss: httpx.AsyncClient  # acme's owner
    rival: httpx.AsyncClient  # another tenant's owner
    member: httpx.AsyncClient
    auditor: httpx.AsyncClient
    responses: list[str]

    def publish(self, record: dict[str, str]) -> None:
        """As a zone file holds a long record: strings of at most 255 characters."""
        value = record["value"]
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
        self.dns.records[record["name"]] = ['" "'.join(chunks)]


@pytest.fixture()
async def w(container: Container) -> AsyncIterator[World]:
    async with dns_server() as dns:
        container.settings.dns_nameservers = [dns.address]
        async for p in platform(container):
            acme = await p.c.directory.create_tenant("acme", "Acme")
            other = await p.c.directory.create_tenant("other", "Other")
            responses: list[str] = []
            clients = []
            for tenant, email, roles in (
                (acme.id, "boss@acme.test", ["owner"]),
                (other.id, "boss@other.test", ["owner"]),
                (acme.id, "member@acme.test", ["member"]),
                (acme.id, "auditor@acme.test", ["auditor"]),
            ):
                user = await p.c.directory.create_user(tenant, email, None, roles)
                client = p.client()  # a token as login would give (no password hashing)
                client.headers["Authorization"] = f"Bearer {p.auth.tokens.issue_access(user)}"
                client.event_hooks["response"].append(_keeper(responses))
                clients.append(client)
            boss = clients[0]
            r = await boss.post("/api/v1/domains", json={"domain": "acme.test"})
            assert r.status_code == 201, r.text
            yield World(p, dns, acme.id, *clients, responses)


def _keeper(store: list[str]):  # type: ignore[no-untyped-def]
    async def keep(response: httpx.Response) -> None:
        await response.aread()
        store.append(response.text)

    return keep


def _no_private_key_in(responses: list[str], *pems: bytes | str) -> None:
    for text in responses:
        assert "PRIVATE KEY" not in text
        for pem in pems:
            body = pem.decode() if isinstance(pem, bytes) else pem
            middle = body.splitlines()[2]  # a line of the key's base64
            assert middle not in text


async def test_a_generated_key_is_published_activated_and_signs(w: World) -> None:
    r = await w.boss.post(KEYS, json={"selector": "Mail2026"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["selector"] == "mail2026" and made["algorithm"] == "rsa"
    assert not made["active"] and made["activated_at"] is None
    record = made["dns_record"]
    assert record == {
        "name": "mail2026._domainkey.acme.test",
        "type": "TXT",
        "value": record["value"],
    }
    assert record["value"].startswith("v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A")
    assert await w.p.c.dkim.signing_key(w.acme, "acme.test") is None  # not before DNS

    r = await w.boss.post(f"{KEYS}/mail2026/activate")  # nothing published yet
    assert r.status_code == 422 and "no TXT record" in r.json()["detail"], r.text
    w.dns.records[record["name"]] = ["v=DKIM1; k=rsa; p=c29tZXRoaW5nIGVsc2U="]
    r = await w.boss.post(f"{KEYS}/mail2026/activate")
    assert r.status_code == 422 and "c29tZXRoaW5nIGVsc2U" in r.json()["detail"], r.text

    w.publish(record)
    r = await w.boss.post(f"{KEYS}/mail2026/activate")
    assert r.status_code == 200, r.text
    assert r.json()["active"] and r.json()["activated_at"]
    assert w.dns.queries[-1] == "mail2026._domainkey.acme.test"

    key = await w.p.c.dkim.signing_key(w.acme, "acme.test")
    assert key is not None and key.selector == "mail2026"
    raw = bytes(
        build_message(
            sender="boss@acme.test",
            to=["someone@example.com"],
            cc=[],
            bcc=["hidden@example.com"],
            subject="Signed",
            text="Hello",
            html=None,
            attachments=[],
            message_id="<d1@acme.test>",
            date=datetime(2026, 11, 26, tzinfo=UTC),
        )
    )
    signed = dkim_sign(
        raw, domain=key.domain, selector=key.selector, private_key_pem=key.private_key_pem
    )
    published = record["value"].encode()
    assert dkim.verify(strip_bcc(signed), dnsfunc=lambda name, timeout=5: published)

    audits = [(e.data["action"], e.data["object_id"]) for e in await w.p.events("audit.action")]
    assert ("dkim.created", "mail2026._domainkey.acme.test") in audits
    assert ("dkim.activated", "mail2026._domainkey.acme.test") in audits
    _no_private_key_in(w.responses, key.private_key_pem)
    events = [e.model_dump_json() for e in await w.p.events("audit.action")]
    events += [e.model_dump_json() for e in await w.p.events("tenant.config.updated")]
    _no_private_key_in(events, key.private_key_pem)


async def test_an_uploaded_ed25519_key_is_listed_and_shown_without_its_private_half(
    w: World,
) -> None:
    r = await w.boss.post(KEYS, json={"selector": "ed", "private_key_pem": ED25519_PEM})
    assert r.status_code == 201, r.text
    assert r.json()["algorithm"] == "ed25519"
    assert r.json()["dns_record"]["value"].startswith("v=DKIM1; k=ed25519; p=")
    assert (await w.boss.post(KEYS, json={"selector": "rsa"})).status_code == 201
    listed = (await w.boss.get(KEYS)).json()["items"]
    assert [(k["selector"], k["active"]) for k in listed] == [("ed", False), ("rsa", False)]
    one = await w.boss.get(f"{KEYS}/ed")
    assert one.status_code == 200 and one.json() == listed[0]
    _no_private_key_in(w.responses, ED25519_PEM)


async def test_activating_another_key_rotates_and_the_old_one_stays_until_deleted(
    w: World,
) -> None:
    for selector in ("old", "new"):
        made = (await w.boss.post(KEYS, json={"selector": selector})).json()
        w.publish(made["dns_record"])
        assert (await w.boss.post(f"{KEYS}/{selector}/activate")).status_code == 200
    listed = (await w.boss.get(KEYS)).json()["items"]
    assert [(k["selector"], k["active"]) for k in listed] == [("new", True), ("old", False)]
    key = await w.p.c.dkim.signing_key(w.acme, "acme.test")
    assert key is not None and key.selector == "new"

    assert (await w.boss.delete(f"{KEYS}/new")).status_code == 204
    assert (await w.boss.get(f"{KEYS}/new")).status_code == 404
    assert (await w.boss.delete(f"{KEYS}/new")).status_code == 404
    assert await w.p.c.dkim.signing_key(w.acme, "acme.test") is None
    assert [e.data["object_id"] for e in await w.p.audits("dkim.deleted")] == [
        "new._domainkey.acme.test"
    ]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"selector": "s1", "private_key_pem": "not a key"}, "not a PEM private key"),
        ({"selector": "s1", "private_key_pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n"}, "PEM"),
    ],
)
async def test_an_unusable_upload_is_a_422(w: World, body: dict[str, str], detail: str) -> None:
    r = await w.boss.post(KEYS, json=body)
    assert r.status_code == 422 and detail in r.json()["detail"], r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_bad_selectors_and_taken_ones_are_refused(w: World) -> None:
    for bad in ("", "-x", "a.b", "a_b", "x" * 64):
        assert (await w.boss.post(KEYS, json={"selector": bad})).status_code == 422, bad
    assert (await w.boss.post(KEYS, json={"selector": "s1"})).status_code == 201
    r = await w.boss.post(KEYS, json={"selector": "S1"})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"


async def test_a_domain_the_tenant_lacks_is_a_404(w: World) -> None:
    for method, url in (
        ("GET", "/api/v1/domains/nope.test/dkim-keys"),
        ("POST", "/api/v1/domains/nope.test/dkim-keys"),
        ("GET", "/api/v1/domains/nope.test/dkim-keys/s1"),
    ):
        body = {"selector": "s1"} if method == "POST" else None
        r = await w.boss.request(method, url, json=body)
        assert r.status_code == 404, (url, r.text)


async def test_another_tenant_reaches_none_of_the_keys(w: World) -> None:
    made = (await w.boss.post(KEYS, json={"selector": "s1"})).json()
    w.publish(made["dns_record"])
    for method, url in (
        ("GET", KEYS),
        ("POST", KEYS),
        ("GET", f"{KEYS}/s1"),
        ("POST", f"{KEYS}/s1/activate"),
        ("DELETE", f"{KEYS}/s1"),
    ):
        body = {"selector": "s2"} if (method, url) == ("POST", KEYS) else None
        r = await w.rival.request(method, url, json=body)
        assert r.status_code == 404, (method, url, r.text)
    # the rival adds the same (unverified) domain: its own, empty key list
    assert (await w.rival.post("/api/v1/domains", json={"domain": "acme.test"})).status_code == 201
    assert (await w.rival.get(KEYS)).json()["items"] == []
    assert (await w.rival.get(f"{KEYS}/s1")).status_code == 404
    assert (await w.boss.get(f"{KEYS}/s1")).status_code == 200


async def test_members_and_auditors_are_forbidden(w: World) -> None:
    await w.boss.post(KEYS, json={"selector": "s1"})
    for client in (w.member, w.auditor):
        for method, url in (
            ("GET", KEYS),
            ("POST", KEYS),
            ("GET", f"{KEYS}/s1"),
            ("POST", f"{KEYS}/s1/activate"),
            ("DELETE", f"{KEYS}/s1"),
        ):
            body = {"selector": "s2"} if (method, url) == ("POST", KEYS) else None
            r = await client.request(method, url, json=body)
            assert r.status_code == 403, (method, url, r.text)
    assert [k["selector"] for k in (await w.boss.get(KEYS)).json()["items"]] == ["s1"]


async def test_a_dead_name_server_makes_activation_a_503(w: World, container: Container) -> None:
    await w.boss.post(KEYS, json={"selector": "s1"})
    async with dns_server() as gone:
        address = gone.address
    container.settings.dns_nameservers = [address]
    r = await w.boss.post(f"{KEYS}/s1/activate")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
