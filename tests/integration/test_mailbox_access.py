"""Who sees which mail, over HTTP: a member only the mailboxes assigned to them (the
rest is not found, as another tenant's), an auditor everything but read only, with
every read audited; and the assignments API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxhub.domain.events import EMAIL_PROCESSED, Envelope
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, build_auth
from inboxhub.services.api.access import MailAccess
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.app import create_app
from inboxhub.services.gateway.security import Principal
from inboxhub.services.notifications.routes import Visible
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.integration.conftest import settle
from tests.integration.test_email_flags import PASSWORD, _audits, _login
from tests.support.messages import dated, make_message, write_maildir

ADMIN, MEMBER, AUDITOR = "admin@acme.test", "clerk@acme.test", "eye@acme.test"
ROLES = {ADMIN: ("owner", "admin"), MEMBER: ("member",), AUDITOR: ("auditor",)}


@dataclass
class Tenant:
    c: Container
    tenant_id: str
    users: dict[str, str]  # email → user id
    admin: httpx.AsyncClient
    member: httpx.AsyncClient
    auditor: httpx.AsyncClient
    inbox: str  # assigned to the member
    sales: str  # not assigned to anyone
    mail: dict[str, list[str]]  # mailbox id → its email ids


@pytest.fixture()
async def acme(container: Container, tmp_path: Path) -> AsyncIterator[Tenant]:
    auth = await build_auth(container)
    users = {}
    for email, roles in ROLES.items():
        boot = await bootstrap(
            container.directory, container.bus, auth.hasher, "acme", email, PASSWORD, roles
        )
        [(user, _)] = await container.directory.find_users_by_email(email)
        users[email] = user.id
    tenant_id = boot.tenant.id
    boxes = {}
    for name in ("Inbox", "Sales"):
        box = await container.directory.get_or_create_mailbox(tenant_id, name, "local")
        messages = [
            make_message(
                f"{name} {i}",
                date=dated(i),
                text=f"{name} note {i} about pelicans.\n",
                attachments=[(f"{name}.txt", "text/plain", name.encode())],
            )
            for i in range(2)
        ]
        maildir = write_maildir(tmp_path / name, messages)
        await container.ingest().run(tenant_id, box.id, iter_local(maildir))
        boxes[name] = box.id
    await settle(container)
    await container.access.set_members(tenant_id, boxes["Inbox"], [users[MEMBER]])
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    clients = [await _login(app, e) for e in (ADMIN, MEMBER, AUDITOR)]
    mail = {
        b: [e.id for e in await container.emails.list(tenant_id, [b], 10)] for b in boxes.values()
    }
    yield Tenant(container, tenant_id, users, *clients, boxes["Inbox"], boxes["Sales"], mail)
    for client in clients:
        await client.aclose()


async def listed(client: httpx.AsyncClient, path: str, **params: Any) -> set[str]:
    r = await client.get(path, params=params)
    assert r.status_code == 200, r.text
    return {item.get("id") or item["thread_id"] for item in r.json()["items"]}


async def test_a_member_sees_only_the_mailboxes_assigned_to_them(acme: Tenant) -> None:
    mine, theirs = acme.mail[acme.inbox], acme.mail[acme.sales]
    assert await listed(acme.member, "/api/v1/mailboxes") == {acme.inbox}
    assert await listed(acme.member, "/api/v1/emails") == set(mine)
    assert await listed(acme.member, "/api/v1/search", q="pelicans") == set(mine)
    assert await listed(acme.member, "/api/v1/search", q="in:Sales") == set()
    assert len(await listed(acme.member, "/api/v1/threads")) == len(mine)
    assert await listed(acme.admin, "/api/v1/emails") == {*mine, *theirs}
    labels = (await acme.member.get("/api/v1/labels")).json()
    assert labels == (await acme.admin.get(f"/api/v1/labels?mailbox_id={acme.inbox}")).json()

    email = theirs[0]
    doc = await acme.c.emails.get(acme.tenant_id, email)
    assert doc is not None
    attachment = doc.attachments[0].id
    for path in (
        f"/api/v1/mailboxes/{acme.sales}",
        f"/api/v1/emails/{email}",
        f"/api/v1/emails/{email}/raw",
        f"/api/v1/emails/{email}/attachments/{attachment}",
        f"/api/v1/threads/{doc.thread_id}",
    ):
        assert (await acme.member.get(path)).status_code == 404, path
    r = await acme.member.get("/api/v1/emails", params={"mailbox_id": acme.sales})
    assert r.status_code == 404
    r = await acme.member.patch(f"/api/v1/emails/{email}", json={"flags": {"seen": True}})
    assert r.status_code == 404
    assert (await acme.member.delete(f"/api/v1/emails/{email}")).status_code == 404
    r = await acme.member.post("/api/v1/emails/flags", json={"ids": [email, mine[0]], "seen": True})
    assert r.json() == {"updated": 1, "not_found": [email]}
    assert (await acme.member.get(f"/api/v1/emails/{mine[0]}")).status_code == 200

    state = (await acme.admin.get("/api/v1/changes/state")).json()["state"]
    await acme.admin.post("/api/v1/emails/flags", json={"ids": [*mine, *theirs], "flagged": True})
    changes = (await acme.member.get("/api/v1/changes", params={"since": state})).json()
    assert set(changes["updated"]) == set(mine)


async def test_an_auditor_reads_everything_changes_nothing_and_is_audited(acme: Tenant) -> None:
    everything = {*acme.mail[acme.inbox], *acme.mail[acme.sales]}
    assert await listed(acme.auditor, "/api/v1/emails") == everything
    assert await listed(acme.auditor, "/api/v1/mailboxes") == {acme.inbox, acme.sales}
    email = acme.mail[acme.sales][0]
    doc = await acme.c.emails.get(acme.tenant_id, email)
    assert doc is not None
    reads = (
        f"/api/v1/emails/{email}",
        f"/api/v1/emails/{email}/raw",
        f"/api/v1/emails/{email}/attachments/{doc.attachments[0].id}",
        f"/api/v1/threads/{doc.thread_id}",
        "/api/v1/threads",
        "/api/v1/search?q=pelicans",
        f"/api/v1/mailboxes/{acme.sales}",
    )
    for path in reads:
        assert (await acme.auditor.get(path)).status_code == 200, path

    writes = (
        ("PATCH", f"/api/v1/emails/{email}", {"flags": {"seen": True}}),
        ("POST", f"/api/v1/emails/{email}/trash", None),
        ("DELETE", f"/api/v1/emails/{email}", None),
        ("POST", "/api/v1/emails/flags", {"ids": [email], "seen": True}),
        ("POST", "/api/v1/emails/labels", {"ids": [email], "add": ["X"]}),
        ("POST", "/api/v1/emails/delete", {"ids": ["no-such-email"]}),
        ("POST", "/api/v1/mailboxes", {"name": "N", "provider": "local"}),
        ("PUT", f"/api/v1/mailboxes/{acme.sales}/members", {"user_ids": []}),
        ("DELETE", f"/api/v1/mailboxes/{acme.sales}", None),
        ("POST", "/api/v1/users", {"email": "new@acme.test", "roles": ["member"]}),
    )
    for method, path, body in writes:
        r = await acme.auditor.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert (await acme.c.emails.get(acme.tenant_id, email)) == doc, "nothing changed"

    auditor = acme.users[AUDITOR]
    for action, object_id in (
        ("email.list", None),
        ("email.read", email),
        ("email.download_raw", email),
        ("attachment.download", email),
        ("thread.read", doc.thread_id),
        ("thread.list", None),
        ("mailbox.list", None),
        ("mailbox.read", acme.sales),
    ):
        mine = [a for a in await _audits(acme.c, action) if a["actor_id"] == auditor]
        assert [a["object_id"] for a in mine][:1] == [object_id], action
    [search] = [a for a in await _audits(acme.c, "email.search") if a["actor_id"] == auditor]
    assert search["detail"]["query"] == "pelicans"
    admin_lists = [a for a in await _audits(acme.c, "email.list") if a["actor_id"] != auditor]
    assert admin_lists == [], "others' listings are not audited (as before)"


async def test_assignments_are_managed_by_admins_for_users_of_the_tenant(acme: Tenant) -> None:
    url = f"/api/v1/mailboxes/{acme.sales}/members"
    assert (await acme.admin.get(url)).json() == {"user_ids": []}
    r = await acme.admin.put(url, json={"user_ids": [acme.users[MEMBER]]})
    assert r.status_code == 200 and r.json() == {"user_ids": [acme.users[MEMBER]]}
    assert await listed(acme.member, "/api/v1/mailboxes") == {acme.inbox, acme.sales}
    assert (await acme.admin.put(url, json={"user_ids": ["nobody"]})).status_code == 422
    assert (await acme.member.get(url)).status_code == 403
    assert (await acme.admin.get("/api/v1/mailboxes/nope/members")).status_code == 404
    assert (await acme.admin.put(url, json={"user_ids": []})).status_code == 200
    assert await listed(acme.member, "/api/v1/mailboxes") == {acme.inbox}


async def test_the_event_stream_shows_a_member_only_their_mailboxes(acme: Tenant) -> None:
    access = MailAccess(acme.c.directory, acme.c.access, AuditLog(acme.c.bus))

    def processed(mailbox_id: str) -> Envelope:
        data = {"mailbox_id": mailbox_id, "email_id": "e"}
        return Envelope(type=EMAIL_PROCESSED, tenant_id=acme.tenant_id, key="k", data=data)

    member = Visible(access, Principal(acme.users[MEMBER], acme.tenant_id, ("member",)))
    auditor = Visible(access, Principal(acme.users[AUDITOR], acme.tenant_id, ("auditor",)))
    assert await member(processed(acme.inbox)) and not await member(processed(acme.sales))
    assert await auditor(processed(acme.inbox)) and await auditor(processed(acme.sales))
