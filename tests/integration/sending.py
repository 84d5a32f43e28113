"""A world for the send tests: a container on the embedded adapters with its processor
and indexer running, the whole app in process, a tenant with an IMAP mailbox on the
real Dovecot whose ``smtp`` settings point at a real aiosmtpd submission server
(``tests/support/smtp_submission.py``), an email in it to answer, and people in
every role; plus a second tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from inboxhub.domain.events import EMAIL_SENT, Envelope
from inboxhub.domain.models import Flags
from inboxhub.providers.base import FetchedMessage
from inboxhub.runtime import Container, build_auth, open_container, start_consumers
from inboxhub.services.gateway.app import create_app
from inboxhub.services.sender.worker import SendWorker
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import Settings
from tests.integration.conftest import settle
from tests.support.messages import make_message
from tests.support.servers.dovecot import Dovecot
from tests.support.smtp_submission import Script, Submission

PASSWORD = "pass-word-123-sending"
ADDRESS = "alice@acme.test"  # the mailbox's address (its SMTP user name)
ROLES = {
    "admin": ("owner", "admin"),
    "member": ("member",),
    "outsider": ("member",),  # a member without the mailbox
    "auditor": ("auditor",),
}
PDF = b"%PDF-1.4\n% the original's attachment\n"
ORIGINAL_ID = "<original-1@partner.test>"


@dataclass
class Sending:
    c: Container
    tenant_id: str
    users: dict[str, str]  # role name → user id
    clients: dict[str, httpx.AsyncClient]  # role name → logged-in client; "stranger": tenant B
    box_id: str
    imap_user: str
    smtp: Submission
    dovecot: Dovecot
    original_id: str  # an email of the mailbox to reply to and forward

    @property
    def member(self) -> httpx.AsyncClient:
        return self.clients["member"]

    def worker(self, clock: Any = None, name: str = "w1") -> SendWorker:
        return SendWorker(self.c, worker_id=name, **({"clock": clock} if clock else {}))

    async def send_due(self, clock: Any = None) -> int:
        return await self.worker(clock).run_once()

    def reset(self) -> None:
        self.smtp.received.clear()
        self.smtp.script = Script()

    async def sent_events(self) -> list[Envelope]:
        return [r.envelope for r in await self.c.bus.read(EMAIL_SENT, 1000)]

    async def post(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.member.post("/api/v1/messages", json=body, headers=headers)

    async def message(self, message_id: str) -> dict[str, Any]:
        r = await self.member.get(f"/api/v1/messages/{message_id}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data


async def _login(app: Any, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


def original_message() -> bytes:
    raw = make_message(
        "Quarterly plan",
        sender="Pat Partner <pat@partner.test>",
        to=f"Alice <{ADDRESS}>, Carol <carol@acme.test>",
        text="Here is the plan.\nSecond line.\n",
        message_id=ORIGINAL_ID,
        in_reply_to="<root-0@partner.test>",
        attachments=[("plan.pdf", "application/pdf", PDF)],
    )
    return raw.replace(b"\nMessage-ID:", b"\nCc: dan@partner.test\nMessage-ID:", 1)


async def open_world(root: Path, dovecot: Dovecot) -> AsyncIterator[Sending]:
    settings = Settings(
        data_dir=root / "data",
        processor_workers=1,
        consumer_backoff_seconds=0.01,
        consumer_max_attempts=2,
        rate_limit_enabled=False,
        allow_private_mail_hosts=True,  # Dovecot and aiosmtpd on loopback
        send_retry_base_seconds=60.0,
        send_max_attempts=3,
    )
    c = await open_container(settings)
    stop = asyncio.Event()
    tasks = start_consumers(c, ("processor", "indexer"), stop)
    auth = await build_auth(c)
    users = {}
    for name, roles in ROLES.items():
        email = f"{name}@acme.test"
        boot = await bootstrap(c.directory, c.bus, auth.hasher, "acme", email, PASSWORD, roles)
        [(user, _)] = await c.directory.find_users_by_email(email)
        users[name] = user.id
    tenant_id = boot.tenant.id
    await bootstrap(c.directory, c.bus, auth.hasher, "rival", "boss@rival.test", PASSWORD)
    app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
    clients = {name: await _login(app, f"{name}@acme.test") for name in ROLES}
    clients["stranger"] = await _login(app, "boss@rival.test")
    imap_user, imap_password = dovecot.new_user("sender")
    with Submission(root, "none", users={ADDRESS: imap_password}).running() as smtp:
        config = {
            "host": "127.0.0.1",
            "port": dovecot.imap_port,
            "security": "none",
            "username": imap_user,
            "password": imap_password,
            "smtp": {
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "username": ADDRESS,
            },
        }
        r = await clients["admin"].post(
            "/api/v1/mailboxes", json={"name": "Work", "provider": "imap", "settings": config}
        )
        assert r.status_code == 201, r.text
        box_id = r.json()["id"]
        r = await clients["admin"].put(
            f"/api/v1/mailboxes/{box_id}/members", json={"user_ids": [users["member"]]}
        )
        assert r.status_code < 300, r.text
        original = FetchedMessage(
            "INBOX:original", original_message(), datetime.now(UTC), Flags(), labels=("INBOX",)
        )
        await c.ingest().ingest_batch(tenant_id, box_id, [original])
        await settle(c)
        [summary] = await c.emails.list(tenant_id, [box_id], 10)
        yield Sending(c, tenant_id, users, clients, box_id, imap_user, smtp, dovecot, summary.id)
    for client in clients.values():
        await client.aclose()
    stop.set()
    await asyncio.gather(*tasks)
    await c.close()
