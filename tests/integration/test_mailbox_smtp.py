"""An IMAP mailbox's ``smtp`` section through ``/api/v1/mailboxes`` (validated, hosts
vetted, plain text refused), and ``open_transport`` sending with the mailbox's stored,
encrypted credentials: SMTP submission to aiosmtpd, the Sent copy on Dovecot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.models import Mailbox
from inboxhub.providers.send import open_transport
from inboxhub.runtime import Container, build_auth
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.support.servers.dovecot import Dovecot
from tests.support.smtp_submission import Submission

ADMIN, PASSWORD = "admin@t.test", "pass-word-123"


@pytest.fixture()
async def admin(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    auth = await build_auth(container)
    await bootstrap(
        container.directory, container.bus, auth.hasher, "acme", ADMIN, PASSWORD, ("owner",)
    )
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    r = await client.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    yield client
    await client.aclose()


def imap(**smtp: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "host": "8.8.8.8",
        "port": 993,
        "security": "ssl",
        "username": "u",
        "password": "p",
    }
    return {**settings, "smtp": smtp} if smtp else settings


async def stored(c: Container, created: httpx.Response) -> Mailbox:
    tenant = await c.directory.get_tenant_by_slug("acme")
    assert tenant is not None
    box = await c.directory.get_mailbox(tenant.id, created.json()["id"])
    assert box is not None
    return box


async def create(client: httpx.AsyncClient, settings: dict[str, Any]) -> httpx.Response:
    return await client.post(
        "/api/v1/mailboxes", json={"name": "I", "provider": "imap", "settings": settings}
    )


async def test_the_smtp_section_is_validated(admin: httpx.AsyncClient) -> None:
    cases = [
        (imap(host="10.0.0.9"), "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS"),
        (imap(host="8.8.4.4", security="none"), "SMTP without TLS"),
        (imap(host="8.8.4.4", security="ssl"), "smtp.security"),
        (imap(host="8.8.4.4", password="x"), "smtp.password"),
    ]
    for settings, why in cases:
        r = await create(admin, settings)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert why in r.json()["detail"]
    r = await create(admin, imap(host="8.8.4.4"))
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["smtp"] == {
        "host": "8.8.4.4",
        "port": 587,
        "security": "starttls",
        "username": None,
    }


async def test_open_transport_sends_with_the_stored_credentials(
    admin: httpx.AsyncClient, container: Container, dovecot: Dovecot, tmp_path: Path
) -> None:
    container.settings.allow_private_mail_hosts = True
    user, password = dovecot.new_user("api-sender")
    sub = Submission(tmp_path, "starttls", users={user: password})
    container.settings.mail_tls_ca_file = str(sub.ca_file)
    with sub.running():
        settings = {
            "host": "127.0.0.1",
            "port": dovecot.imap_port,
            "security": "none",  # Dovecot's certificate is from another test CA
            "username": user,
            "password": password,
            "smtp": {"host": "localhost", "port": sub.port},  # STARTTLS, verified
        }
        r = await create(admin, settings)
        assert r.status_code == 201, r.text
        box = await stored(container, r)
        assert "password" not in box.config

        msg = EmailMessage(policy=SMTP)
        msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.org", "Hi"
        msg["Message-ID"] = "<api-send@example.com>"
        msg.set_content("Hello.\n")
        transport = await open_transport(container, box)
        try:
            receipt = await transport.send(msg.as_bytes(), "a@example.com", ["b@example.org"])
            assert await transport.find_sent("<api-send@example.com>") is True
        finally:
            await transport.close()
    assert [r.login for r in sub.received] == [user]
    assert receipt.filed_in_sent and receipt.provider_message_id
    assert receipt.provider_message_id.startswith("Sent:")


async def test_an_imap_mailbox_without_smtp_cannot_send(
    admin: httpx.AsyncClient, container: Container
) -> None:
    r = await create(admin, imap())
    assert r.status_code == 201, r.text
    box = await stored(container, r)
    with pytest.raises(InvalidInput, match="no smtp section"):
        await open_transport(container, box)
