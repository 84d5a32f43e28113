"""``/api/v1/search`` over HTTP (in process), through the whole embedded pipeline:
a query that does not parse is a 400 saying where; ``in:`` names a mailbox (or a
label); ``to:``, ``cc:`` and ``bcc:`` keep Gmail's meaning from the raw headers on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, build_auth
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.integration.conftest import settle
from tests.support.messages import dated, write_maildir

ADMIN, PASSWORD = "admin@t.test", "pass-word-123"


def _message(n: int, subject: str, to: str, cc: str = "", bcc: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Zoë Müller <zoe@hr.example.net>"
    msg["To"] = to
    for name, value in (("Cc", cc), ("Bcc", bcc)):
        if value:
            msg[name] = value
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dated(n))
    msg["Message-ID"] = f"<api-{n}@example.com>"
    msg.set_content("Quarterly numbers.\n")
    return msg.as_bytes()


@pytest.fixture()
async def client(container: Container, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    auth = await build_auth(container)
    await bootstrap(
        container.directory, container.bus, auth.hasher, "acme", ADMIN, PASSWORD, ("owner",)
    )
    tenant = await container.directory.get_tenant_by_slug("acme")
    assert tenant is not None
    boxes = {
        "Work": [
            _message(0, "To Bob", "Bob <bob@example.org>"),
            _message(1, "Cc Bob", "Carol <carol@example.org>", cc="Bob <bob@example.org>"),
            _message(2, "Bcc Bob", "Carol <carol@example.org>", bcc="bob@example.org"),
        ],
        "Old Archive": [_message(3, "Archived", "Carol <carol@example.org>")],
    }
    for name, messages in boxes.items():
        box = await container.directory.get_or_create_mailbox(tenant.id, name, "local")
        maildir = write_maildir(tmp_path / name.replace(" ", "-"), messages)
        await container.ingest().run(tenant.id, box.id, iter_local(maildir))
    await settle(container)
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        r = await c.post("/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        yield c


async def _subjects(client: httpx.AsyncClient, q: str) -> set[str]:
    r = await client.get("/api/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == len(r.json()["items"])
    return {item["subject"] for item in r.json()["items"]}


async def test_search_over_http_keeps_gmails_meaning(client: httpx.AsyncClient) -> None:
    assert await _subjects(client, "to:bob") == {"To Bob", "Cc Bob", "Bcc Bob"}
    assert await _subjects(client, "cc:bob") == {"Cc Bob"}
    assert await _subjects(client, "bcc:bob@example.org") == {"Bcc Bob"}
    assert await _subjects(client, "in:old_archive") == {"Archived"}
    assert await _subjects(client, 'in:work -to:"bob@example.org"') == set()
    assert await _subjects(client, "from:muller quarterly -in:work") == {"Archived"}


async def test_a_query_that_does_not_parse_is_a_400_saying_where(
    client: httpx.AsyncClient,
) -> None:
    for q, position in [("subject:(budget", 8), ("from:", 0), ("x is:important", 5), ("a OR", 2)]:
        r = await client.get("/api/v1/search", params={"q": q})
        assert r.status_code == 400, q
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["position"] == position, q
        assert problem["title"] == "Invalid search query"
        assert "Traceback" not in r.text
