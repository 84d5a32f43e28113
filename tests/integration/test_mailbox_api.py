"""``/api/v1/mailboxes`` over HTTP (in process), with the fetcher running: connect,
read back without secrets, change, pause, delete; Gmail's consent screen and push
notifications end to end against the fake Gmail (tests/fakes/gmail.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from inboxhub.runtime import Container, build_auth
from inboxhub.services.fetcher.engine import FetcherEngine
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.fakes.gmail import FakeGmail, pubsub_body
from tests.fakes.gmail import serve as serve_gmail
from tests.support.messages import make_message
from tests.support.processes import wait_until

ADMIN, MEMBER, OTHER = "admin@t.test", "member@t.test", "boss@other.test"
PASSWORD = "pass-word-123"
GMAIL = "someone@gmail.test"


@dataclass
class Api:
    c: Container
    admin: httpx.AsyncClient
    member: httpx.AsyncClient
    other: httpx.AsyncClient


async def _login(app: Any, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


@pytest.fixture()
async def api(container: Container) -> AsyncIterator[Api]:
    auth = await build_auth(container)
    for slug, email, roles in (
        ("acme", ADMIN, ("owner", "admin")),
        ("acme", MEMBER, ("member",)),
        ("other", OTHER, ("owner", "admin")),
    ):
        await bootstrap(
            container.directory, container.bus, auth.hasher, slug, email, PASSWORD, roles
        )
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    clients = [await _login(app, e) for e in (ADMIN, MEMBER, OTHER)]
    yield Api(container, *clients)
    for client in clients:
        await client.aclose()


@pytest.fixture()
def gmail(container: Container) -> Iterator[FakeGmail]:
    with serve_gmail() as fake:
        s = container.settings
        s.google_client_id, s.google_client_secret = fake.client_id, fake.client_secret
        s.google_auth_url, s.google_token_url, s.gmail_api_url = (
            fake.auth_url,
            fake.token_url,
            fake.url,
        )
        s.gmail_push_token, s.public_url = "push-secret", "http://test"
        yield fake


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    return body


async def test_gmail_consent_then_sync_then_push(api: Api, gmail: FakeGmail) -> None:
    api.c.settings.fetcher_poll_seconds = 600.0  # only a push can bring the new mail
    api.c.settings.gmail_pubsub_topic = "projects/p/topics/inboxhub"
    gmail.add_mailbox(GMAIL)
    for i in range(3):
        gmail.add_message(GMAIL, make_message(f"hello {i}"), labels=["INBOX"])

    r = await api.admin.get("/api/v1/mailboxes/oauth/gmail/authorize", params={"name": "Work"})
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient() as browser:  # the admin's browser at Google
        consent = await browser.get(r.json()["authorization_url"])
    assert consent.status_code == 302
    back = urlparse(consent.headers["location"])
    assert back.path == "/api/v1/mailboxes/oauth/gmail/callback"
    r = await api.admin.get(f"{back.path}?{back.query}")  # the browser comes back
    created = r.json()
    assert r.status_code == 201, r.text
    assert (created["name"], created["provider"]) == ("Work", "gmail")
    assert created["settings"]["email"] == GMAIL and "token" not in created["settings"]
    assert created["secrets_set"] == ["token"]
    replay = await api.admin.get(f"{back.path}?{back.query}")
    assert replay.status_code in (409, 422)  # the code is spent; nothing created twice
    forged = await api.admin.get(back.path, params={"code": "x", "state": "forged"})
    assert _problem(forged, 401)["detail"].startswith("the consent state is invalid")
    denied = await api.admin.get(back.path, params={"error": "access_denied", "state": "s"})
    assert "access_denied" in _problem(denied, 422)["detail"]

    engine = FetcherEngine(api.c, "worker-1")
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    box_url = f"/api/v1/mailboxes/{created['id']}"
    try:
        await wait_until(lambda: _total(api.admin, box_url, 3))
        gmail.add_message(GMAIL, make_message("pushed in"), labels=["INBOX"])
        r = await api.admin.post(
            "/api/v1/push/gmail",
            params={"token": "push-secret"},
            json=pubsub_body(GMAIL, gmail.box(GMAIL).history_id),
        )
        assert r.status_code == 204, r.text
        await wait_until(lambda: _total(api.admin, box_url, 4))
        gmail.add_message(GMAIL, make_message("synced on request"), labels=["INBOX"])
        assert (await api.admin.post(f"{box_url}/sync")).status_code == 202
        await wait_until(lambda: _total(api.admin, box_url, 5))
        _problem(await api.member.post(f"{box_url}/sync"), 403)
        _problem(await api.other.post(f"{box_url}/sync"), 404)
        detail = (await api.admin.get(box_url)).json()
        assert detail["sync"]["state"] in ("idle", "syncing")
        assert detail["sync"]["messages_synced"] == 5 and detail["sync"]["last_error"] is None
        assert gmail.box(GMAIL).watch is not None and gmail.counts["watch"] == 1
        assert (await api.admin.delete(box_url)).status_code == 204
        assert gmail.counts["stop"] == 1  # Gmail stops pushing for a deleted mailbox
    finally:
        stop.set()
        await task


async def test_graph_consent_then_sync_then_notification(api: Api) -> None:
    from inboxhub.providers.graph import client_state
    from tests.fakes.graph import running_fake_graph

    upn = "adele@contoso.test"
    api.c.settings.fetcher_poll_seconds = 600.0
    with running_fake_graph() as fake:
        s = api.c.settings
        s.microsoft_client_id, s.microsoft_client_secret = fake.client_id, fake.client_secret
        s.microsoft_login_url, s.microsoft_tenant = fake.login_url, fake.tenant
        s.graph_api_url, s.public_url = fake.graph_url, "https://test"
        fake.validate_subscriptions = False  # "https://test" is not a real listener
        fake.add_user(upn)
        fake.add_message(upn, "inbox", make_message("inbox one"))
        fake.add_message(upn, "sentitems", make_message("sent one"), is_read=True)
        fake.consent_user = upn

        r = await api.admin.get("/api/v1/mailboxes/oauth/graph/authorize")
        async with httpx.AsyncClient() as browser:
            consent = await browser.get(r.json()["authorization_url"])
        assert consent.status_code == 302, consent.text
        back = urlparse(consent.headers["location"])
        r = await api.admin.get(f"{back.path}?{back.query}")
        assert r.status_code == 201, r.text
        box = r.json()
        assert box["name"] == upn and box["settings"]["auth"] == "delegated"
        assert box["secrets_set"] == ["token"]

        engine = FetcherEngine(api.c, "worker-1")
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        url = f"/api/v1/mailboxes/{box['id']}"
        try:
            await wait_until(lambda: _total(api.admin, url, 2))
            fake.add_message(upn, "inbox", make_message("notified"))
            tenant = await api.c.directory.get_tenant_by_slug("acme")
            assert tenant is not None
            note = {
                "subscriptionId": "sub-1",
                "changeType": "created",
                "clientState": client_state(s, tenant.id, box["id"]),
                "resource": "Users/x/Messages/y",
            }
            r = await api.admin.post(
                f"/api/v1/push/graph/{tenant.id}/{box['id']}", json={"value": [note]}
            )
            assert r.status_code == 202, r.text
            await wait_until(lambda: _total(api.admin, url, 3))
            listed = await api.admin.get("/api/v1/emails", params={"mailbox_id": box["id"]})
            labels = sorted(tuple(e["labels"]) for e in listed.json()["items"])
            assert labels == [("Inbox",), ("Inbox",), ("Sent Items",)]
            assert len(fake.subscriptions) == 3  # one per folder: inbox, sent, deleted items
            assert (await api.admin.delete(url)).status_code == 204
            assert fake.subscriptions == {}  # deleted with the mailbox
        finally:
            stop.set()
            await task


async def _total(client: httpx.AsyncClient, url: str, n: int) -> bool:
    return bool((await client.get(url)).json()["total"] == n)


async def test_secrets_are_write_only_and_settings_validated(api: Api) -> None:
    settings = {
        "email": "x@gmail.test",
        "token": {"access_token": "AT-SECRET", "refresh_token": "RT-SECRET"},
    }
    r = await api.admin.post(
        "/api/v1/mailboxes", json={"name": "G", "provider": "gmail", "settings": settings}
    )
    assert r.status_code == 201, r.text
    assert "SECRET" not in r.text
    box = r.json()
    got = await api.admin.get(f"/api/v1/mailboxes/{box['id']}")
    assert "SECRET" not in got.text and got.json()["secrets_set"] == ["token"]
    assert (await api.member.get("/api/v1/mailboxes")).json()["items"] == []  # not assigned
    [(member, _)] = await api.c.directory.find_users_by_email(MEMBER)
    members = {"user_ids": [member.id]}
    r = await api.admin.put(f"/api/v1/mailboxes/{box['id']}/members", json=members)
    assert r.status_code == 200, r.text
    listed = await api.member.get("/api/v1/mailboxes")
    assert [b["name"] for b in listed.json()["items"]] == ["G"] and "SECRET" not in listed.text

    r = await api.admin.patch(
        f"/api/v1/mailboxes/{box['id']}", json={"settings": {"email": "y@gmail.test"}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["email"] == "y@gmail.test" and r.json()["secrets_set"] == ["token"]

    body = _problem(
        await api.admin.post(
            "/api/v1/mailboxes", json={"name": "G", "provider": "gmail", "settings": settings}
        ),
        409,
    )
    assert "exists" in body["detail"]
    body = _problem(
        await api.admin.post(
            "/api/v1/mailboxes", json={"name": "H", "provider": "gmail", "settings": {"email": 5}}
        ),
        422,
    )
    assert "gmail" in body["detail"]
    _problem(await api.admin.post("/api/v1/mailboxes", json={"name": "H", "provider": "pop3"}), 422)
    _problem(
        await api.member.post(
            "/api/v1/mailboxes", json={"name": "M", "provider": "gmail", "settings": settings}
        ),
        403,
    )
    _problem(await api.other.get(f"/api/v1/mailboxes/{box['id']}"), 404)
    _problem(
        await api.other.patch(f"/api/v1/mailboxes/{box['id']}", json={"status": "paused"}), 404
    )
    _problem(await api.other.delete(f"/api/v1/mailboxes/{box['id']}"), 404)


async def test_mail_hosts_may_not_be_internal_unless_an_operator_allows_it(api: Api) -> None:
    imap = {"host": "127.0.0.1", "port": 993, "security": "ssl", "username": "u", "password": "p"}
    for host in ("127.0.0.1", "localhost", "169.254.169.254", "10.0.0.8"):
        body = _problem(
            await api.admin.post(
                "/api/v1/mailboxes",
                json={"name": "I", "provider": "imap", "settings": {**imap, "host": host}},
            ),
            422,
        )
        assert "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS" in body["detail"]
    ews = {"server": "outlook.office365.com", "email": "a@b.test", "username": "a", "password": "p"}
    body = _problem(
        await api.admin.post(
            "/api/v1/mailboxes", json={"name": "E", "provider": "ews", "settings": ews}
        ),
        422,
    )
    assert "1 April 2027" in body["detail"] and "graph" in body["detail"]
    plain = {**imap, "host": "8.8.8.8", "security": "none"}
    body = _problem(
        await api.admin.post(
            "/api/v1/mailboxes", json={"name": "P", "provider": "imap", "settings": plain}
        ),
        422,
    )
    assert "in the clear" in body["detail"]
    api.c.settings.allow_private_mail_hosts = True
    r = await api.admin.post(
        "/api/v1/mailboxes", json={"name": "I", "provider": "imap", "settings": imap}
    )
    assert r.status_code == 201, r.text
    assert r.json()["secrets_set"] == ["password"] and "password" not in r.json()["settings"]


async def test_local_archives_only_under_the_operators_root(api: Api, tmp_path: Any) -> None:
    inside = tmp_path / "root" / "md"
    inside.mkdir(parents=True)
    body = {"name": "L", "provider": "local", "settings": {"paths": [str(inside)]}}
    _problem(await api.admin.post("/api/v1/mailboxes", json=body), 422)
    api.c.settings.local_mail_root = str(tmp_path / "root")
    outside = {**body, "settings": {"paths": ["/etc"]}}
    assert (
        "not under"
        in _problem(await api.admin.post("/api/v1/mailboxes", json=outside), 422)["detail"]
    )
    assert (await api.admin.post("/api/v1/mailboxes", json=body)).status_code == 201


async def test_pause_resume_and_delete(api: Api, tmp_path: Any) -> None:
    api.c.settings.local_mail_root = str(tmp_path)
    md = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1.eml").write_bytes(make_message("kept until deleted"))
    r = await api.admin.post(
        "/api/v1/mailboxes",
        json={"name": "A", "provider": "local", "settings": {"paths": [str(md)]}},
    )
    url = f"/api/v1/mailboxes/{r.json()['id']}"
    engine = FetcherEngine(api.c, "worker-1")
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await wait_until(lambda: _total(api.admin, url, 1))
        r = await api.admin.patch(url, json={"status": "paused"})
        assert r.json()["status"] == "paused" and r.json()["sync"]["state"] == "paused"
        await wait_until(lambda: _async(not engine.running))
        r = await api.admin.patch(url, json={"status": "active"})
        await wait_until(lambda: _async(bool(engine.running)))
        assert (await api.admin.delete(url)).status_code == 204
        _problem(await api.admin.get(url), 404)
        await wait_until(lambda: _async(not engine.running))
        tenant = await api.c.directory.get_tenant_by_slug("acme")
        assert tenant is not None
        assert await api.c.emails.count(tenant.id) == 0  # its messages went with it
    finally:
        stop.set()
        await task


async def _async(value: bool) -> bool:
    return value


async def test_graph_application_permissions_stay_in_the_operators_directory(api: Api) -> None:
    app_only = {"user": "adele@contoso.test", "auth": "application"}

    async def post(settings: dict[str, Any]) -> httpx.Response:
        body = {"name": "G", "provider": "graph", "settings": settings}
        return await api.admin.post("/api/v1/mailboxes", json=body)

    assert "directory id" in _problem(await post(app_only), 422)["detail"]  # "common"
    api.c.settings.microsoft_tenant = "contoso-directory"
    other = {**app_only, "directory_tenant": "fabrikam-directory"}
    assert "limited to this deployment" in _problem(await post(other), 422)["detail"]
    assert "principal name" in _problem(await post({**app_only, "user": "a/../b"}), 422)["detail"]
    r = await post(app_only)
    assert r.status_code == 201, r.text
    assert r.json()["secrets_set"] == []
