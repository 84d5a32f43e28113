"""Invitations over HTTP: mailed (to the pickup directory, and once through a real
SMTP server), accepted once with a password, revoked, expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from inboxhub.adapters.mail_smtp import SmtpMailer
from inboxhub.domain.events import USER_CREATED
from inboxhub.runtime import Container
from tests.support.processes import free_port
from tests.support.smtp_sink import SmtpSink
from tests.support.tenant_admin import Platform, platform, token_of

NEW_PASSWORD = "correct horse battery"


@dataclass
class World:
    p: Platform
    acme: str
    owner: httpx.AsyncClient


@pytest.fixture()
async def w(container: Container) -> AsyncIterator[World]:
    async for p in platform(container):
        acme = (await p.new_tenant("Acme", "owner@acme.test"))["tenant"]["id"]
        yield World(p, acme, await p.login("owner@acme.test"))


async def _accept(w: World, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    body = {"token": token, "password": password}
    return await w.p.client().post("/api/v1/invitations/accept", json=body)


async def test_an_invitation_is_mailed_and_accepted_once(w: World) -> None:
    r = await w.owner.post(
        "/api/v1/invitations", json={"email": "New@Acme.test", "roles": ["admin"]}
    )
    assert r.status_code == 201, r.text
    invited = r.json()
    assert invited["status"] == "pending" and invited["roles"] == ["admin"]
    [mail] = w.p.mails()
    assert mail["To"] == "new@acme.test" and "Acme" in mail["Subject"]
    assert mail["From"] == w.p.c.settings.system_mail_from
    token = token_of(mail)
    [(row, _)] = [(i, i) for i in await w.p.c.tenancy.list_invitations(w.acme)]
    assert token not in row.model_dump_json()  # only its hash is kept

    r = await _accept(w, token)
    assert r.status_code == 200, r.text
    signed_in = w.p.client()
    signed_in.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    me = (await signed_in.get("/api/v1/users/me")).json()
    assert (me["email"], me["roles"]) == ("new@acme.test", ["admin"])
    await w.p.login("new@acme.test", NEW_PASSWORD)
    [(_, password_hash)] = await w.p.c.directory.find_users_by_email("new@acme.test")
    assert password_hash and password_hash.startswith("$argon2id$")
    created = [e.data["email"] for e in await w.p.events(USER_CREATED) if e.tenant_id == w.acme]
    assert "new@acme.test" in created

    assert (await _accept(w, token, "another password")).status_code == 404
    [listed] = (await w.owner.get("/api/v1/invitations")).json()["items"]
    assert listed["status"] == "accepted" and listed["accepted_at"]
    assert [e.data["object_id"] for e in await w.p.audits("invitation.create")] == [invited["id"]]


async def test_revoked_expired_and_made_up_tokens_open_nothing(w: World) -> None:
    r = await w.owner.post("/api/v1/invitations", json={"email": "r@acme.test"})
    revoked = r.json()["id"]
    assert (await w.owner.delete(f"/api/v1/invitations/{revoked}")).status_code == 204
    assert (await w.owner.delete(f"/api/v1/invitations/{revoked}")).status_code == 404
    w.p.c.settings.invitation_ttl_hours = -1
    await w.owner.post("/api/v1/invitations", json={"email": "late@acme.test"})
    listed = (await w.owner.get("/api/v1/invitations")).json()["items"]
    assert [i["status"] for i in listed] == ["expired"]
    for mail in w.p.mails():
        assert (await _accept(w, token_of(mail))).status_code == 404
    assert (await _accept(w, "x" * 43)).status_code == 404
    assert await w.p.c.directory.find_users_by_email("late@acme.test") == []
    r = await _accept(w, "x" * 43, "short")
    assert r.status_code == 422


async def test_who_may_invite_whom(w: World) -> None:
    await w.owner.post(
        "/api/v1/users",
        json={"email": "admin@acme.test", "roles": ["admin"], "password": NEW_PASSWORD},
    )
    await w.owner.post(
        "/api/v1/users",
        json={"email": "member@acme.test", "roles": ["member"], "password": NEW_PASSWORD},
    )
    admin = await w.p.login("admin@acme.test", NEW_PASSWORD)
    member = await w.p.login("member@acme.test", NEW_PASSWORD)
    r = await member.post("/api/v1/invitations", json={"email": "x@acme.test"})
    assert r.status_code == 403
    assert (await member.get("/api/v1/invitations")).status_code == 403
    r = await admin.post("/api/v1/invitations", json={"email": "x@acme.test", "roles": ["owner"]})
    assert r.status_code == 403, "only an owner makes owners"
    r = await admin.post("/api/v1/invitations", json={"email": "member@acme.test"})
    assert r.status_code == 409, "has an account already"
    await w.p.new_tenant("Other", "boss@other.test")
    rival = await w.p.login("boss@other.test")
    mine = (await admin.post("/api/v1/invitations", json={"email": "y@acme.test"})).json()
    assert (await rival.delete(f"/api/v1/invitations/{mine['id']}")).status_code == 404
    assert (await rival.get("/api/v1/invitations")).json()["items"] == []


async def test_an_invitation_goes_out_through_smtp(w: World) -> None:
    with SmtpSink("mailer", "mail-secret").running() as sink:
        w.p.c.mailer = SmtpMailer.from_url(sink.url)
        r = await w.owner.post("/api/v1/invitations", json={"email": "smtp@acme.test"})
        assert r.status_code == 201, r.text
    [received] = sink.received
    assert received.recipients == ["smtp@acme.test"] and received.login == "mailer"
    assert (await _accept(w, token_of(received.message))).status_code == 200
    assert w.p.mails() == []  # nothing went to the pickup directory


async def test_a_mail_server_that_is_down_is_a_503(w: World) -> None:
    w.p.c.mailer = SmtpMailer("127.0.0.1", free_port(), timeout=5)
    r = await w.owner.post("/api/v1/invitations", json={"email": "x@acme.test"})
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert (await w.owner.get("/api/v1/invitations")).json()["items"] == []
