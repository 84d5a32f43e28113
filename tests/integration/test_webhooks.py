"""Webhooks end to end: the API in process, the processor, indexer and webhooks
services running on the embedded adapters, and a real HTTP receiver on loopback.

An imported email reaches a subscriber as a signed POST whose signature verifies as
docs/notifications.md says; event types filter; a failing receiver is retried,
then given up on, and the subscription disabled; replays resend the same bytes;
secrets are shown once and sealed at rest; tenants and roles are walled off.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_tables import webhooks as webhooks_table
from inboxhub.adapters.db_webhooks import SqlWebhookStore
from inboxhub.crypto import SecretBox
from inboxhub.domain.webhooks import NewDelivery
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, _sql, build_auth, open_container, start_consumers
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.services.webhooks import outbound
from inboxhub.services.webhooks.outbound import UrlPolicy
from inboxhub.services.webhooks.worker import DeliveryWorker
from inboxhub.settings import Settings
from tests.integration.conftest import settle
from tests.support.messages import make_message, write_maildir
from tests.support.servers.postgres import Postgres
from tests.support.tls import write_test_ca_and_certificate
from tests.support.webhook_receiver import Receiver, webhook_receiver

PASSWORD = "pass-word-123-webhooks"
PEOPLE = {
    "admin": ("acme", ("owner", "admin")),
    "member": ("acme", ("member",)),
    "auditor": ("acme", ("auditor",)),
    "rival": ("other", ("owner", "admin")),
}


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """The receiver's check exactly as docs/notifications.md shows it."""
    items = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(v for k, v in items if k == "t")
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")


@dataclass
class Hub:
    c: Container
    clients: dict[str, httpx.AsyncClient]
    tenant: str
    root: Path

    async def create(self, receiver: Receiver, types: list[str], who: str = "admin") -> Any:
        r = await self.clients[who].post(
            "/api/v1/webhooks", json={"url": receiver.url, "event_types": types}
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def deliveries(self, hook: str, **params: Any) -> list[dict[str, Any]]:
        r = await self.clients["admin"].get(f"/api/v1/webhooks/{hook}/deliveries", params=params)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def settled(self, hook: str, delivery: str, timeout: float = 30.0) -> dict[str, Any]:
        """The delivery once it is no longer pending (polls, with a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            r = await self.clients["admin"].get(f"/api/v1/webhooks/{hook}/deliveries/{delivery}")
            assert r.status_code == 200, r.text
            if r.json()["state"] != "pending":
                return dict(r.json())
            assert time.monotonic() < deadline, f"still pending: {r.json()}"
            await asyncio.sleep(0.02)

    async def ping(self, hook: str) -> str:
        r = await self.clients["admin"].post(f"/api/v1/webhooks/{hook}/test")
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    async def import_one(self, subject: str) -> None:
        box = await self.c.directory.get_or_create_mailbox(self.tenant, "Inbox", "local")
        maildir = write_maildir(self.root / subject.replace(" ", "-"), [make_message(subject)])
        await self.c.ingest().run(self.tenant, box.id, iter_local(maildir))


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hub]:
    tmp_path = tmp_path_factory.mktemp("webhooks")
    settings_overrides: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "processor_workers": 1,
        "consumer_backoff_seconds": 0.01,
        "consumer_max_attempts": 2,
        "rate_limit_enabled": False,
        "webhook_allow_http": True,  # the receiver is plain http on loopback
        "webhook_allow_private_hosts": True,
        "webhook_retry_seconds": [0.05, 0.05],  # three attempts in all
        "webhook_retry_jitter": 0.0,
        "webhook_poll_seconds": 0.05,
        "webhook_cache_seconds": 0.0,
        "webhook_disable_after_failures": 2,
    }
    c = await open_container(Settings(**settings_overrides))
    stop = asyncio.Event()
    tasks = start_consumers(c, ("processor", "indexer", "webhooks"), stop)
    auth = await build_auth(c)
    for name, (slug, roles) in PEOPLE.items():
        await bootstrap(
            c.directory, c.bus, auth.hasher, slug, f"{name}@{slug}.test", PASSWORD, roles
        )
    # the webhooks service (as ``inboxhub serve webhooks`` mounts it) and the Email API
    app = create_app(c, auth.tokens.verify_access, ("webhooks", "api"), auth)
    clients = {}
    for name, (slug, _) in PEOPLE.items():
        [(user, _)] = await c.directory.find_users_by_email(f"{name}@{slug}.test")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
        client.headers["Authorization"] = f"Bearer {auth.tokens.issue_access(user)}"
        clients[name] = client
    tenant = await c.directory.get_tenant_by_slug("acme")
    assert tenant is not None
    yield Hub(c, clients, tenant.id, tmp_path)
    for client in clients.values():
        await client.aclose()
    stop.set()
    await asyncio.gather(*tasks)
    await c.close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


async def test_an_imported_email_arrives_signed_and_summarised(
    hub: Hub, receiver: Receiver
) -> None:
    hook = await hub.create(receiver, ["email.processed"])
    with webhook_receiver() as elsewhere:
        status_only = await hub.create(elsewhere, ["mailbox.status"])
        await hub.import_one("Quarterly numbers")
        [got] = await receiver.wait_for(1)
        assert elsewhere.requests == []
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Inboxhub-Event"] == "email.processed"
    assert got.headers["User-Agent"].startswith("inboxhub-webhooks/")
    assert verify(hook["secret"], got.body, got.headers["Inboxhub-Signature"])
    assert not verify("whsec_wrong", got.body, got.headers["Inboxhub-Signature"])
    event = json.loads(got.body)
    assert set(event) == {"id", "type", "created_at", "tenant_id", "data"}
    assert event["type"] == "email.processed" and event["tenant_id"] == hub.tenant
    data = event["data"]
    assert data["subject"] == "Quarterly numbers"
    assert data["from"]["email"] and data["email_id"] and data["mailbox_id"]
    assert "text" not in data and "html" not in data and "snippet" not in data
    [logged] = await hub.deliveries(hook["id"])
    assert logged["id"] == got.headers["Inboxhub-Delivery"]
    done = await hub.settled(hook["id"], logged["id"])
    assert done["state"] == "delivered" and done["attempts"] == 1
    assert done["last_status_code"] == 200 and done["payload"] == event
    assert await hub.deliveries(status_only["id"]) == [], "not subscribed to email.processed"


async def test_a_flag_changed_through_the_api_is_sent_as_email_updated(
    hub: Hub, receiver: Receiver
) -> None:
    hook = await hub.create(receiver, ["email.updated"])
    await hub.import_one("Flag me")
    await settle(hub.c)
    box = await hub.c.directory.get_or_create_mailbox(hub.tenant, "Inbox", "local")
    [email] = [
        s for s in await hub.c.emails.list(hub.tenant, [box.id], 100) if s.subject == "Flag me"
    ]
    r = await hub.clients["admin"].patch(
        f"/api/v1/emails/{email.id}", json={"flags": {"seen": True}}
    )
    assert r.status_code == 200, r.text
    [got] = await receiver.wait_for(1)
    assert got.headers["Inboxhub-Event"] == "email.updated"
    assert verify(hook["secret"], got.body, got.headers["Inboxhub-Signature"])
    event = json.loads(got.body)
    assert event["data"]["email_ids"] == [email.id] and event["data"]["changed"] == ["flags"]
    assert event["data"]["mailbox_id"] == box.id and event["data"]["source"] == "api"


async def test_a_failed_attempt_is_retried_until_delivered(hub: Hub, receiver: Receiver) -> None:
    receiver.script = [500]
    hook = await hub.create(receiver, ["email.sent"])
    delivery = await hub.ping(hook["id"])
    first, second = await receiver.wait_for(2)
    assert first.body == second.body
    assert first.headers["Inboxhub-Event"] == "webhook.test"
    done = await hub.settled(hook["id"], delivery)
    assert done["state"] == "delivered" and done["attempts"] == 2
    assert await hub.deliveries(hook["id"], state="failed") == []


async def test_a_receiver_that_always_fails_gets_the_subscription_disabled(
    hub: Hub, receiver: Receiver
) -> None:
    receiver.default = 500
    hook = await hub.create(receiver, ["email.sent"])
    first = await hub.ping(hook["id"])
    done = await hub.settled(hook["id"], first)
    assert done["state"] == "failed" and done["attempts"] == 3
    assert done["last_status_code"] == 500 and done["response_excerpt"] == "receiver says no"
    r = await hub.clients["admin"].get(f"/api/v1/webhooks/{hook['id']}")
    assert r.json()["status"] == "active" and r.json()["consecutive_failures"] == 1
    await hub.settled(hook["id"], await hub.ping(hook["id"]))
    r = await hub.clients["admin"].get(f"/api/v1/webhooks/{hook['id']}")
    assert r.json()["status"] == "disabled", r.json()
    assert "2 deliveries in a row failed" in r.json()["disabled_reason"]
    assert len(receiver.requests) == 6
    refused = await hub.clients["admin"].post(f"/api/v1/webhooks/{hook['id']}/test")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    r = await hub.clients["admin"].patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": True})
    assert r.json()["status"] == "active" and r.json()["consecutive_failures"] == 0


async def test_replay_resends_the_same_bytes_signed_anew(hub: Hub, receiver: Receiver) -> None:
    hook = await hub.create(receiver, ["email.sent"])
    delivery = await hub.ping(hook["id"])
    [original] = await receiver.wait_for(1)
    await hub.settled(hook["id"], delivery)
    r = await hub.clients["admin"].post(f"/api/v1/webhooks/{hook['id']}/secret")
    assert r.status_code == 200, r.text
    new_secret = r.json()["secret"]
    assert new_secret != hook["secret"] and r.json()["previous_secret_expires_at"]
    r = await hub.clients["admin"].post(
        f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery}/replay"
    )
    assert r.status_code == 202, r.text
    _, again = await receiver.wait_for(2)
    assert again.body == original.body
    assert again.headers["Inboxhub-Delivery"] == original.headers["Inboxhub-Delivery"]
    assert again.headers["Inboxhub-Signature"] != original.headers["Inboxhub-Signature"]
    assert verify(new_secret, again.body, again.headers["Inboxhub-Signature"])
    assert verify(hook["secret"], again.body, again.headers["Inboxhub-Signature"]), "grace"
    done = await hub.settled(hook["id"], delivery)
    assert done["state"] == "delivered" and done["attempts"] == 2


async def test_the_secret_is_shown_once_and_sealed_at_rest(hub: Hub, receiver: Receiver) -> None:
    hook = await hub.create(receiver, ["email.processed"])
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    for path in ("/api/v1/webhooks", f"/api/v1/webhooks/{hook['id']}"):
        r = await hub.clients["admin"].get(path)
        assert r.status_code == 200 and secret not in r.text and '"secret"' not in r.text
    async with _sql(hub.c.directory).tx(hub.tenant) as conn:
        raw = (
            await conn.execute(
                select(webhooks_table.c.secret).where(webhooks_table.c.id == hook["id"])
            )
        ).scalar_one()
    assert secret.encode() not in bytes(raw)
    assert hub.c.box.decrypt(bytes(raw)).decode() == secret


async def test_urls_are_checked(hub: Hub) -> None:
    admin = hub.clients["admin"]
    for url in ("ftp://hooks.example/x", "http://user:pw@127.0.0.1/x", "not a url at all"):
        r = await admin.post("/api/v1/webhooks", json={"url": url, "event_types": ["email.sent"]})
        assert r.status_code == 422, (url, r.text)
    r = await admin.post(
        "/api/v1/webhooks", json={"url": "https://x.test/", "event_types": ["nope"]}
    )
    assert r.status_code == 422


async def test_tenants_and_roles_are_walled_off(hub: Hub, receiver: Receiver) -> None:
    hook = await hub.create(receiver, ["email.sent"])
    delivery = await hub.ping(hook["id"])
    base = f"/api/v1/webhooks/{hook['id']}"
    rival, member, auditor = (hub.clients[n] for n in ("rival", "member", "auditor"))
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"description": "mine now"}),
        ("POST", f"{base}/secret", None),
        ("POST", f"{base}/test", None),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/deliveries/{delivery}", None),
        ("POST", f"{base}/deliveries/{delivery}/replay", None),
        ("DELETE", base, None),
    ]
    for method, url, body in calls:
        r = await rival.request(method, url, json=body)
        assert r.status_code == 404, (method, url, r.status_code)
        r = await member.request(method, url, json=body)
        assert r.status_code == 403, (method, url, r.status_code)
        r = await auditor.request(method, url, json=body)
        assert r.status_code == (200 if method == "GET" else 403), (method, url, r.status_code)
    r = await rival.get("/api/v1/webhooks")
    assert r.status_code == 200 and r.json()["items"] == []
    r = await member.post(
        "/api/v1/webhooks", json={"url": receiver.url, "event_types": ["email.sent"]}
    )
    assert r.status_code == 403
    r = await hub.clients["admin"].get(base)
    assert r.status_code == 200 and r.json()["description"] == ""


async def test_two_workers_send_each_delivery_once(hub: Hub, receiver: Receiver) -> None:
    """Three workers (the service's and two more) race for the same due deliveries."""
    hook = await hub.create(receiver, ["email.sent"])
    news = [
        NewDelivery(hub.tenant, hook["id"], f"race-{i}", "email.sent", b'{"n":%d}' % i)
        for i in range(30)
    ]
    stop = asyncio.Event()
    workers = [
        DeliveryWorker(SqlWebhookStore(_sql(hub.c.directory), hub.c.box), hub.c.settings)
        for _ in range(2)
    ]
    await hub.c.webhooks.enqueue(news, 3, datetime.now(UTC))
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    try:
        got = await receiver.wait_for(30)
        deadline = time.monotonic() + 30
        while len(await hub.deliveries(hook["id"], state="delivered", limit=100)) < 30:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert len(receiver.requests) == 30
    assert len({r.headers["Inboxhub-Delivery"] for r in got}) == 30


async def test_internal_addresses_are_refused_at_create_and_at_delivery(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Without ``webhook_allow_private_hosts`` (the default), a loopback receiver is
    refused when saved, and at delivery (a name that resolved elsewhere when saved)."""
    settings = Settings(data_dir=tmp_path / "data", webhook_allow_http=True)
    c = await open_container(settings)
    try:
        auth = await build_auth(c)
        done = await bootstrap(c.directory, c.bus, auth.hasher, "solo", "a@solo.test", PASSWORD)
        app = create_app(c, auth.tokens.verify_access, ("webhooks",), auth)
        [(user, _)] = await c.directory.find_users_by_email("a@solo.test")
        token = auth.tokens.issue_access(user)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        ) as admin:
            for url in (receiver.url, "http://localhost:9/x", "http://[::1]/x", "http://10.1.2.3/"):
                r = await admin.post(
                    "/api/v1/webhooks", json={"url": url, "event_types": ["email.sent"]}
                )
                assert r.status_code == 422 and "internal address" in r.text, (url, r.text)
        hook = await c.webhooks.create(
            done.tenant.id,
            url=receiver.url,
            event_types=["email.sent"],
            description="",
            secret="whsec_x",
            created_by=None,
        )
        new = NewDelivery(done.tenant.id, hook.id, "e1", "email.sent", b"{}")
        [delivery] = await c.webhooks.enqueue([new], 1, datetime.now(UTC))
        worker = DeliveryWorker(c.webhooks, settings)
        async with worker.client() as client:
            assert await worker.run_once(client) == 1
        logged = await c.webhooks.delivery(done.tenant.id, hook.id, delivery)
        assert logged is not None and logged.state == "failed"
        assert logged.last_error and "internal address" in logged.last_error
        assert receiver.requests == []
    finally:
        await c.close()


async def test_https_goes_to_the_vetted_address_under_the_urls_name(tmp_path: Path) -> None:
    """The request connects to the address resolved at the check, while TLS verifies
    the URL's host name (SNI): the certificate names ``localhost`` only, no address."""
    ca, cert, key = write_test_ca_and_certificate(tmp_path, ["localhost"])
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(ca))
    policy = UrlPolicy(allow_http=False, allow_private=True)
    with webhook_receiver(server) as tls_receiver:
        url = f"https://localhost:{tls_receiver.port}/hook"
        async with httpx.AsyncClient(verify=trusting, trust_env=False) as client:
            result = await outbound.post(client, url, b"{}", {"X-Test": "1"}, policy)
            assert result.ok, result
            [got] = tls_receiver.requests
            assert got.headers["Host"] == f"localhost:{tls_receiver.port}"
            by_address = url.replace("localhost", "127.0.0.1")
            refused = await outbound.post(client, by_address, b"{}", {}, policy)
            assert refused.status_code is None and refused.error, "the name is what TLS checks"
        async with httpx.AsyncClient(trust_env=False) as untrusting:
            result = await outbound.post(untrusting, url, b"{}", {}, policy)
            assert result.status_code is None and "SSL" in (result.error or "").upper()


async def test_two_workers_on_postgresql_send_each_delivery_once(
    postgres: Postgres, tmp_path: Path, receiver: Receiver
) -> None:
    """As two ``inboxhub serve webhooks`` processes would: each its own engine."""
    url = postgres.create_database(f"webhooks_{uuid.uuid4().hex[:8]}")
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        webhook_allow_http=True,
        webhook_allow_private_hosts=True,
        webhook_poll_seconds=0.05,
        webhook_concurrency=4,  # small claims: the workers interleave
    )
    first, second = await SqlDirectory.open(url), await SqlDirectory.open(url, False)
    box = SecretBox("pg-test-key")
    try:
        tenant = await first.create_tenant("pg", "PG")
        stores = [SqlWebhookStore(first, box), SqlWebhookStore(second, box)]
        hook = await stores[0].create(
            tenant.id,
            url=receiver.url,
            event_types=["email.sent"],
            description="",
            secret="whsec_pg",
            created_by=None,
        )
        news = [
            NewDelivery(tenant.id, hook.id, f"pg-{i}", "email.sent", b'{"n":%d}' % i)
            for i in range(40)
        ]
        await stores[0].enqueue(news, 3, datetime.now(UTC))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(DeliveryWorker(s, settings).run(stop)) for s in stores]
        try:
            got = await receiver.wait_for(40)
            deadline = time.monotonic() + 30
            while len(await stores[1].deliveries(tenant.id, hook.id, "delivered", None, 100)) < 40:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
        assert len(receiver.requests) == 40
        assert len({r.headers["Inboxhub-Delivery"] for r in got}) == 40
    finally:
        await first.close()
        await second.close()
