"""Flags, unread counts and conditional GETs of the Email API, over HTTP (in process),
with the processor and indexer running: flag one email or many, see search and the
mailboxes' unread counts follow, and revalidate views and downloads by ETag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, build_auth
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.integration.conftest import settle
from tests.support.messages import dated, make_message, write_maildir

ADMIN, MEMBER, OTHER = "admin@t.test", "member@t.test", "boss@other.test"
PASSWORD = "pass-word-123"
PDF = b"%PDF-1.4\n% test attachment\n" + bytes(range(256))


@dataclass
class Api:
    c: Container
    admin: httpx.AsyncClient
    member: httpx.AsyncClient
    other: httpx.AsyncClient
    box: str  # the admin's tenant's mailbox: 4 emails, the 1st and 3rd seen
    ids: list[str]  # its emails, oldest first
    theirs: str  # an email of the other tenant


async def _login(app: Any, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


async def _mailbox(c: Container, slug: str, maildir: Path) -> str:
    tenant = await c.directory.get_tenant_by_slug(slug)
    assert tenant is not None
    box = await c.directory.get_or_create_mailbox(tenant.id, "Inbox", "local")
    await c.ingest().run(tenant.id, box.id, iter_local(maildir))
    return box.id


@pytest.fixture()
async def api(container: Container, tmp_path: Path) -> AsyncIterator[Api]:
    auth = await build_auth(container)
    for slug, email, roles in (
        ("acme", ADMIN, ("owner", "admin")),
        ("acme", MEMBER, ("member",)),
        ("other", OTHER, ("owner", "admin")),
    ):
        await bootstrap(
            container.directory, container.bus, auth.hasher, slug, email, PASSWORD, roles
        )
    mine = [make_message(f"Report {i}", date=dated(i), text=f"Status {i}.\n") for i in range(3)] + [
        make_message(
            "Contract",
            date=dated(3),
            text="Attached.\n",
            attachments=[("contract.pdf", "application/pdf", PDF)],
        )
    ]
    box = await _mailbox(container, "acme", write_maildir(tmp_path / "mine", mine, seen_every=2))
    other_box = await _mailbox(
        container, "other", write_maildir(tmp_path / "theirs", [make_message("Theirs")])
    )
    await settle(container)
    [(member, _)] = await container.directory.find_users_by_email(MEMBER)
    await container.access.set_members(member.tenant_id, box, [member.id])  # a member's mail
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    clients = [await _login(app, e) for e in (ADMIN, MEMBER, OTHER)]
    listed = await clients[0].get("/api/v1/emails", params={"mailbox_id": box})
    theirs = await clients[2].get("/api/v1/emails", params={"mailbox_id": other_box})
    ids = [e["id"] for e in reversed(listed.json()["items"])]
    assert len(ids) == 4
    yield Api(container, *clients, box, ids, theirs.json()["items"][0]["id"])
    for client in clients:
        await client.aclose()


async def _search(client: httpx.AsyncClient, q: str) -> set[str]:
    r = await client.get("/api/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


async def _audits(c: Container, action: str) -> list[dict[str, Any]]:
    return [
        r.envelope.data
        for r in await c.bus.read(AUDIT_ACTION, 10_000)
        if r.envelope.data["action"] == action
    ]


async def _unread(client: httpx.AsyncClient, box: str) -> tuple[int, int]:
    listed = (await client.get("/api/v1/mailboxes")).json()["items"]
    detail = (await client.get(f"/api/v1/mailboxes/{box}")).json()
    return next(b["unread"] for b in listed if b["id"] == box), detail["unread"]


async def test_flagging_one_email_changes_only_what_is_given_and_search_follows(
    api: Api,
) -> None:
    first, second = api.ids[0], api.ids[1]  # seen, unread
    assert await _search(api.admin, "is:unread") == {api.ids[1], api.ids[3]}
    assert await _search(api.admin, "is:starred") == set()

    r = await api.member.patch(f"/api/v1/emails/{second}", json={"flags": {"seen": True}})
    assert r.status_code == 200, r.text
    assert r.json()["flags"] == {"seen": True, "flagged": False}
    assert r.json()["subject"] == "Report 1" and r.headers["etag"]
    r = await api.admin.patch(f"/api/v1/emails/{first}", json={"flags": {"flagged": True}})
    assert r.json()["flags"] == {"seen": True, "flagged": True}
    r = await api.admin.patch(f"/api/v1/emails/{first}", json={"flags": {"seen": False}})
    assert r.json()["flags"] == {"seen": False, "flagged": True}
    await settle(api.c)
    assert await _search(api.admin, "is:unread") == {first, api.ids[3]}
    assert await _search(api.admin, "is:starred") == {first}
    assert (await api.admin.get(f"/api/v1/emails/{second}")).json()["flags"]["seen"] is True

    flagged = await _audits(api.c, "email.flag")
    assert [(a["object_id"], a["detail"]) for a in flagged] == [
        (second, {"seen": True}),
        (first, {"flagged": True}),
        (first, {"seen": False}),
    ]


async def test_another_tenants_or_an_unknown_email_is_not_found(api: Api) -> None:
    for client, email in ((api.other, api.ids[0]), (api.admin, api.theirs), (api.admin, "nope")):
        r = await client.patch(f"/api/v1/emails/{email}", json={"flags": {"seen": True}})
        assert r.status_code == 404, r.text
    theirs = (await api.other.get(f"/api/v1/emails/{api.theirs}")).json()
    assert theirs["flags"]["seen"] is False
    r = await api.admin.patch(f"/api/v1/emails/{api.ids[0]}", json={"flags": {"deleted": True}})
    assert r.status_code == 422


async def test_bulk_flags_and_unread_counts(api: Api) -> None:
    assert await _unread(api.admin, api.box) == (2, 2)
    r = await api.other.get(f"/api/v1/mailboxes/{api.box}")
    assert r.status_code == 404

    ids = [*api.ids, api.ids[0], "nope", api.theirs]
    r = await api.admin.post("/api/v1/emails/flags", json={"ids": ids, "seen": True})
    assert r.status_code == 200, r.text
    assert r.json() == {"updated": 2, "not_found": ["nope", api.theirs]}
    assert await _unread(api.admin, api.box) == (0, 0)
    again = await api.admin.post("/api/v1/emails/flags", json={"ids": api.ids, "seen": True})
    assert again.json() == {"updated": 0, "not_found": []}

    starred = api.ids[1:3]
    r = await api.member.post("/api/v1/emails/flags", json={"ids": starred, "flagged": True})
    assert r.json() == {"updated": 2, "not_found": []}
    await settle(api.c)
    assert await _search(api.admin, "is:unread") == set()
    assert await _search(api.admin, "is:starred") == set(starred)
    assert (await api.other.get(f"/api/v1/emails/{api.theirs}")).json()["flags"]["seen"] is False

    audits = await _audits(api.c, "email.flag")
    assert [a["detail"] for a in audits] == [
        {"count": 2, "seen": True},
        {"count": 0, "seen": True},
        {"count": 2, "flagged": True},
    ]
    for body in (
        {"ids": api.ids},  # nothing to set
        {"ids": [], "seen": True},
        {"ids": ["x"] * 1001, "seen": True},
    ):
        r = await api.admin.post("/api/v1/emails/flags", json=body)
        assert r.status_code == 422, r.text


async def test_views_and_downloads_revalidate_by_etag(api: Api) -> None:
    url = f"/api/v1/emails/{api.ids[3]}"
    r = await api.admin.get(url)
    assert r.status_code == 200
    etag = r.headers["etag"]
    assert etag.startswith('"') and r.headers["cache-control"] == "private, no-cache"
    same = await api.admin.get(url, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["etag"] == etag
    assert (
        await api.admin.get(url, headers={"If-None-Match": f'"x", W/{etag}'})
    ).status_code == 304
    assert (await api.member.get(url, headers={"If-None-Match": etag})).status_code == 304
    assert (await api.other.get(url, headers={"If-None-Match": etag})).status_code == 404

    patched = await api.admin.patch(url, json={"flags": {"flagged": True}})
    assert patched.headers["etag"] != etag
    changed = await api.admin.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["flags"]["flagged"] is True
    assert changed.headers["etag"] == patched.headers["etag"]
    noop = await api.admin.patch(url, json={"flags": {}})
    assert noop.headers["etag"] == patched.headers["etag"]

    view = changed.json()
    downloads = [f"{url}/raw", f"{url}/attachments/{view['attachments'][0]['id']}"]
    for download, sha in zip(downloads, (None, view["attachments"][0]["sha256"]), strict=True):
        r = await api.admin.get(download)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "private, no-cache"
        tag = r.headers["etag"]
        assert sha is None or tag == f'"{sha}"'
        again = await api.admin.get(download, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b""
        stale = await api.admin.get(download, headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200 and stale.content == r.content
    assert r.content == PDF
    reads = await _audits(api.c, "email.read")
    assert [a["detail"] for a in reads[:3]] == [{}, {"not_modified": True}, {"not_modified": True}]
