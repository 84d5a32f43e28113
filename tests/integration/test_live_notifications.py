"""Live notifications over real HTTP (uvicorn on loopback), real WebSocket and SSE
clients, with the processor, indexer and notification hub running on the embedded
bus: who sees what, updates and sync errors, resuming from a cursor (from the ring,
from the bus, too old), authentication, and two notification processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, build_auth, open_container
from inboxhub.services.auth import AuthService
from inboxhub.services.gateway.app import create_app
from inboxhub.services.notifications import token_watch
from inboxhub.services.notifications import ws as ws_module
from inboxhub.services.notifications.cursor import encode
from inboxhub.services.notifications.hub import LIVE_TOPICS, RING_SIZE, NotificationHub
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.integration.conftest import settle
from tests.support.live import Socket, Sse, login, served
from tests.support.messages import make_message, write_maildir

PASSWORD = "pass-word-123"
USERS = {  # name → (tenant slug, email, roles)
    "admin": ("acme", "admin@acme.test", ("owner", "admin")),
    "member": ("acme", "member@acme.test", ("member",)),  # reads the inbox
    "seller": ("acme", "seller@acme.test", ("member",)),  # reads sales
    "other": ("other", "boss@other.test", ("owner", "admin")),
}


@dataclass
class Live:
    c: Container
    base: str
    tmp: Path
    tokens: dict[str, str]
    tenants: dict[str, str]  # slug → id
    inbox: str
    sales: str
    theirs: str
    auth: AuthService
    sent: int = 0

    async def deliver(self, mailbox: str, *subjects: str, tenant: str = "acme") -> None:
        """New mail in ``mailbox``, through the pipeline (→ email.processed)."""
        self.sent += 1
        maildir = write_maildir(self.tmp / f"mail{self.sent}", [make_message(s) for s in subjects])
        await self.c.ingest().run(self.tenants[tenant], mailbox, iter_local(maildir))

    def hub_cursor(self) -> str:
        return encode(self.c.notifications.positions)


@contextlib.asynccontextmanager
async def feeding(c: Container) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(c.notifications.run(c.bus, LIVE_TOPICS, stop))
    await asyncio.wait_for(c.notifications.ready.wait(), 60)
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture(params=[RING_SIZE], ids=["ring"])
def ring(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture()
async def live(container: Container, tmp_path: Path, ring: int) -> AsyncIterator[Live]:
    auth = await build_auth(container)
    for slug, email, roles in USERS.values():
        await bootstrap(
            container.directory, container.bus, auth.hasher, slug, email, PASSWORD, roles
        )
    tenants = {}
    for slug in ("acme", "other"):
        tenant = await container.directory.get_tenant_by_slug(slug)
        assert tenant is not None
        tenants[slug] = tenant.id
    acme = tenants["acme"]
    inbox = (await container.directory.get_or_create_mailbox(acme, "Inbox", "local")).id
    sales = (await container.directory.get_or_create_mailbox(acme, "Sales", "local")).id
    theirs = (await container.directory.get_or_create_mailbox(tenants["other"], "In", "local")).id
    for name, box in (("member", inbox), ("seller", sales)):
        [(user, _)] = await container.directory.find_users_by_email(USERS[name][1])
        await container.access.set_members(acme, box, [user.id])
    container.notifications = NotificationHub(ring_size=ring)
    app = create_app(container, auth.tokens.verify_access, ("gateway",), auth)
    async with feeding(container), served(app) as base:
        tokens = {n: await login(base, u[1], PASSWORD) for n, u in USERS.items()}
        yield Live(container, base, tmp_path, tokens, tenants, inbox, sales, theirs, auth)


def processed(mailbox: str) -> Any:
    return lambda e: e["type"] == "email.processed" and e["data"]["mailbox_id"] == mailbox


def boxes(socket: Socket) -> set[str]:
    return {e["data"]["mailbox_id"] for e in socket.events()}


async def test_a_processed_email_reaches_only_those_who_read_its_mailbox(live: Live) -> None:
    sockets = {name: await Socket.open(live.base, token) for name, token in live.tokens.items()}
    for socket in sockets.values():
        await socket.ready()
    await live.deliver(live.inbox, "for the inbox")
    await live.deliver(live.sales, "for sales")
    await live.deliver(live.theirs, "for them", tenant="other")
    # Two mailboxes are two partitions: their events may come in either order.
    await sockets["admin"].seen(processed(live.inbox))
    await sockets["admin"].seen(processed(live.sales))
    await sockets["other"].seen(processed(live.theirs))
    everything = live.hub_cursor()  # all three have passed through the hub
    for socket in sockets.values():
        await socket.caught_up(everything)
        await socket.close()
    assert boxes(sockets["admin"]) == {live.inbox, live.sales}
    assert boxes(sockets["member"]) == {live.inbox}
    assert boxes(sockets["seller"]) == {live.sales}
    assert boxes(sockets["other"]) == {live.theirs}
    [event] = sockets["member"].events()
    assert event["tenant_id"] == live.tenants["acme"] and event["data"]["email_id"]
    assert "key" not in event


async def test_a_flag_change_reaches_clients_as_email_updated(live: Live) -> None:
    member = await Socket.open(live.base, live.tokens["member"])
    seller = await Socket.open(live.base, live.tokens["seller"])
    await member.ready()
    await seller.ready()
    await live.deliver(live.inbox, "to be read")
    email_id = (await member.event(processed(live.inbox)))["event"]["data"]["email_id"]
    await settle(live.c)
    async with httpx.AsyncClient(base_url=live.base) as http:
        r = await http.patch(
            f"/api/v1/emails/{email_id}",
            json={"flags": {"seen": True}},
            headers={"Authorization": f"Bearer {live.tokens['member']}"},
        )
        assert r.status_code == 200, r.text
    updated = await member.event(lambda e: e["type"] == "email.updated")
    data = updated["event"]["data"]
    assert data == {
        "mailbox_id": live.inbox,
        "email_ids": [email_id],
        "changed": ["flags"],
        "source": "api",
    }
    await seller.caught_up(updated["cursor"])
    assert seller.events() == []
    await member.close()
    await seller.close()


async def of_box(sse: Sse, mailbox_id: str) -> tuple[str, str, dict[str, Any]]:
    """The next ``mailbox.status`` of ``mailbox_id`` (the engine syncs the others too)."""
    while (item := await sse.until("mailbox.status"))[2]["event"]["data"]["mailbox_id"] != (
        mailbox_id
    ):
        pass
    return item


async def test_a_sync_error_and_its_recovery_reach_sse_clients(live: Live) -> None:
    from inboxhub.services.fetcher.engine import FetcherEngine

    acme = live.tenants["acme"]
    nowhere = live.tmp / "nowhere"
    box = await live.c.directory.create_mailbox(
        acme, "Archive", "local", {"paths": [str(nowhere)]}, None
    )
    engine = FetcherEngine(live.c, "worker-1")
    async with Sse.open(live.base, live.tokens["admin"], types="mailbox.status") as sse:
        await sse.until("ready")
        await engine.reconcile()
        try:
            _, ident, message = await of_box(sse, box.id)
            status = message["event"]["data"]
            assert status["state"] == "error"
            assert "does not exist" in status["error"]
            assert ident == message["cursor"]
            maildir = write_maildir(nowhere.parent / "md", [make_message("fixed")])
            await live.c.directory.update_mailbox(acme, box.id, config={"paths": [str(maildir)]})
            await engine.reconcile()
            _, _, back = await of_box(sse, box.id)
            assert back["event"]["data"]["state"] == "idle"
            assert back["event"]["data"]["error"] is None
        finally:
            await engine.shutdown()


async def missed_three(live: Live, base: str | None = None) -> tuple[str, list[str]]:
    """The member reads one event and leaves; three more happen (seen by the admin):
    the member's cursor and the ids of the three."""
    admin = await Socket.open(live.base, live.tokens["admin"])
    other = await Socket.open(live.base, live.tokens["other"])
    member = await Socket.open(base or live.base, live.tokens["member"])
    for socket in (admin, other, member):
        await socket.ready()
    await live.deliver(live.inbox, "seen live")
    cursor = (await member.event(processed(live.inbox)))["cursor"]
    await member.close()
    await live.deliver(live.inbox, "missed 1", "missed 2", "missed 3")
    await live.deliver(live.sales, "not the member's")
    await live.deliver(live.theirs, "another tenant's", tenant="other")
    missed = [(await admin.event(processed(live.inbox)))["event"] for _ in range(4)][1:]
    await admin.seen(processed(live.sales))
    await other.seen(processed(live.theirs))  # the hub read them all
    await admin.close()
    await other.close()
    return cursor, sorted(e["id"] for e in missed)


@pytest.mark.parametrize("ring", [RING_SIZE, 1], ids=["from-ring", "from-bus"], indirect=True)
async def test_a_client_resuming_gets_exactly_what_it_missed_then_live_events(
    live: Live,
) -> None:
    cursor, missed = await missed_three(live)
    again = await Socket.open(live.base, live.tokens["member"], query=f"cursor={cursor}")
    await again.ready()
    assert sorted(e["id"] for e in again.events()) == missed  # of the member's mailbox only
    await live.deliver(live.inbox, "after")
    after = await again.event(processed(live.inbox))
    assert after["event"]["id"] not in missed
    assert len(again.events()) == 4  # no duplicate at the switch from replay to live
    await again.close()


async def test_an_sse_client_resumes_with_last_event_id(live: Live) -> None:
    cursor, missed = await missed_three(live)
    token = live.tokens["member"]
    async with Sse.open(live.base, token, headers={"Last-Event-ID": cursor}) as sse:
        await sse.until("ready")
    replayed = [m["event"]["id"] for kind, _, m in sse.events if kind == "email.processed"]
    assert sorted(replayed) == missed
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.base) as http:
        for params, headers in (({"types": "no.such"}, {}), ({}, {"Last-Event-ID": "x"})):
            r = await http.get("/api/v1/events", params=params, headers={**auth, **headers})
            assert r.status_code == 422, r.text
            assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("ring", [1], ids=["small-ring"], indirect=True)
async def test_a_cursor_older_than_the_bus_keeps_gets_a_reset(live: Live) -> None:
    cursor, _ = await missed_three(live)
    for topic in LIVE_TOPICS:
        await live.c.bus.delete_before(topic, await live.c.bus.end_offsets(topic))
    again = await Socket.open(live.base, live.tokens["member"])
    await again.ready()
    await again.send({"type": "resume", "cursor": cursor})
    reset = await again.until(lambda m: m["type"] != "pong")
    assert reset["type"] == "reset"
    await again.ready()
    assert again.events() == []
    await live.deliver(live.inbox, "after the reset")
    await again.event(processed(live.inbox))
    await again.close()


async def test_authentication_by_first_message_and_refusals(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = await Socket.open(live.base, first={"type": "auth", "token": live.tokens["member"]})
    await browser.ready()
    await live.deliver(live.inbox, "to the browser")
    await browser.event(processed(live.inbox))
    await browser.send({"type": "auth", "token": live.tokens["member"]})  # fresh: goes on
    await browser.send({"type": "ping"})
    await browser.until(lambda m: m["type"] == "pong")
    await browser.send({"type": "auth", "token": live.tokens["seller"]})  # someone else's
    assert (await browser.closed())[0] == ws_module.CLOSE_UNAUTHORIZED

    bad = await Socket.open(live.base, first={"type": "auth", "token": "not-a-token"})
    assert (await bad.closed())[0] == ws_module.CLOSE_UNAUTHORIZED
    forged = await Socket.open(live.base, "not-a-token")
    assert (await forged.closed())[0] == ws_module.CLOSE_UNAUTHORIZED
    rude = await Socket.open(live.base, first={"type": "subscribe"})
    assert (await rude.closed())[0] == ws_module.CLOSE_UNAUTHORIZED
    odd = await Socket.open(live.base, live.tokens["member"], query="cursor=nonsense")
    assert (await odd.closed())[0] == ws_module.CLOSE_INVALID
    monkeypatch.setattr(ws_module, "AUTH_SECONDS", 0.2)
    silent = await Socket.open(live.base)
    assert (await silent.closed())[0] == ws_module.CLOSE_UNAUTHORIZED


async def test_an_expired_or_revoked_token_closes_the_socket(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    [(user, _)] = await live.c.directory.find_users_by_email(USERS["member"][1])
    live.auth.tokens.access_ttl = 6  # time enough to connect first, even on a busy machine
    short = live.auth.tokens.issue_access(user)
    brief = await Socket.open(live.base, short)
    await brief.ready()
    code, reason = await brief.closed()
    assert code == ws_module.CLOSE_UNAUTHORIZED and reason and "expired" in reason

    monkeypatch.setattr(ws_module, "PING_SECONDS", 0.2)
    monkeypatch.setattr(token_watch, "RECHECK_SECONDS", 0.1)
    token = live.tokens["member"]
    held = await Socket.open(live.base, token)
    await held.ready()
    async with httpx.AsyncClient(base_url=live.base) as http:
        r = await http.post(
            "/api/v1/auth/logout", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 204, r.text
    assert (await held.closed())[0] == ws_module.CLOSE_UNAUTHORIZED


async def test_two_notification_processes_each_serve_and_resume_the_others_cursor(
    live: Live,
) -> None:
    """A second process (its own container and hub on the same bus and database)
    delivers to its own clients, and a cursor from the first resumes there."""
    second = await open_container(live.c.settings)
    try:
        auth = await build_auth(second)
        app = create_app(second, auth.tokens.verify_access, ("notifications",), auth)
        async with feeding(second), served(app) as other_base:
            watcher = await Socket.open(other_base, live.tokens["member"])
            await watcher.ready()
            cursor, missed = await missed_three(live)  # the member was on the first
            for _ in range(4):
                await watcher.event(processed(live.inbox))
            moved = await Socket.open(other_base, live.tokens["member"], query=f"cursor={cursor}")
            await moved.ready()
            assert sorted(e["id"] for e in moved.events()) == missed
            await live.deliver(live.inbox, "after the move")
            await moved.event(processed(live.inbox))
            assert len(moved.events()) == 4
            await moved.close()
            await watcher.close()
    finally:
        await second.close()
