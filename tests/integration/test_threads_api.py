"""Conversations and copies over the Email API (HTTP, in process), with the processor
and indexer running: a thread spanning two mailboxes, a message delivered to both
(shown once in the all-inboxes list and in its thread), messages without a
Message-ID (never merged), cursor pages, and another tenant's thread (404)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.domain.ids import email_id
from inboxhub.providers.base import FetchedMessage
from inboxhub.runtime import Container, build_auth
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from tests.integration.conftest import settle
from tests.integration.test_email_flags import PASSWORD, _login
from tests.support.threads import DAY0, message

ADMIN, OTHER = "admin@t.test", "boss@other.test"


def trace(box: str) -> tuple[tuple[str, str], ...]:
    """What one delivery adds on top of a message."""
    return (
        ("Received", f"from mx.example.com by {box}.example.org; Mon, 3 Jun 2024 09:00:00 +0000"),
        ("Delivered-To", f"{box}@example.org"),
        ("Return-Path", "<bounce@example.com>"),
    )


@dataclass
class World:
    c: Container
    me: httpx.AsyncClient
    other: httpx.AsyncClient
    inbox: str
    work: str
    ids: dict[str, str]  # name → email id

    def id(self, name: str) -> str:
        return self.ids[name]


async def _deliver(
    c: Container, tenant: str, box: str, messages: dict[str, bytes]
) -> dict[str, str]:
    arrived = DAY0 + timedelta(days=30)
    batch = [FetchedMessage(pid, data, arrived) for pid, data in messages.items()]
    await c.ingest().ingest_batch(tenant, box, batch)
    return {pid: email_id(tenant, box, pid) for pid in messages}


@pytest.fixture()
async def world(container: Container) -> AsyncIterator[World]:
    c = container
    auth = await build_auth(c)
    for slug, email in (("acme", ADMIN), ("other", OTHER)):
        await bootstrap(c.directory, c.bus, auth.hasher, slug, email, PASSWORD, ("owner", "admin"))
    acme, other = [await c.directory.get_tenant_by_slug(s) for s in ("acme", "other")]
    assert acme is not None and other is not None
    inbox = await c.directory.get_or_create_mailbox(acme.id, "Inbox", "local")
    work = await c.directory.get_or_create_mailbox(acme.id, "Work", "local")
    theirs = await c.directory.get_or_create_mailbox(other.id, "Inbox", "local")
    newsletter = message(None, "Newsletter", hours=3, sender="News <news@example.net>")
    ids = await _deliver(
        c,
        acme.id,
        inbox.id,
        {
            "launch": message("launch@x", "Launch", trace=trace("inbox")),
            "offsite-in": message("offsite@x", "Offsite", hours=2, trace=trace("inbox")),
            "news-in": newsletter,
        },
    )
    ids |= await _deliver(
        c,
        acme.id,
        work.id,
        {
            "reply": message(
                "reply@x", "Re: Launch", hours=1, in_reply_to="launch@x", sender="Bo <bo@x.org>"
            ),
            "offsite-work": message("offsite@x", "Offsite", hours=2, trace=trace("work")),
            "news-work": newsletter,
        },
    )
    ids |= await _deliver(c, other.id, theirs.id, {"theirs": message("launch@x", "Launch")})
    await settle(c)
    app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
    me, them = await _login(app, ADMIN), await _login(app, OTHER)
    yield World(c, me, them, inbox.id, work.id, ids)
    await me.aclose()
    await them.aclose()


async def _get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    r = await client.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def _pages(client: httpx.AsyncClient, url: str, limit: int, **params: Any) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = await _get(
            client, url, limit=limit, **({"cursor": cursor} if cursor else {}), **params
        )
        assert page["items"] or cursor is None, "a cursor led to an empty page"
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            return items


async def test_a_message_in_two_mailboxes_is_listed_once_across_them(world: World) -> None:
    copies = sorted([world.id("offsite-in"), world.id("offsite-work")], reverse=True)
    items = (await _get(world.me, "/api/v1/emails"))["items"]
    assert [i["subject"] for i in items] == [
        "Newsletter",
        "Newsletter",
        "Offsite",
        "Re: Launch",
        "Launch",
    ]
    offsite = items[2]
    assert offsite["id"] == copies[0] and offsite["duplicate_ids"] == copies[1:]
    assert sorted(offsite["mailbox_ids"]) == sorted([world.inbox, world.work])
    # without a Message-ID, identical messages are two
    assert {items[0]["id"], items[1]["id"]} == {world.id("news-in"), world.id("news-work")}
    assert all(
        i["duplicate_ids"] == [] and len(i["mailbox_ids"]) == 1 for i in items if i is not offsite
    )
    for limit in (1, 2, 3):
        paged = await _pages(world.me, "/api/v1/emails", limit)
        assert [i["id"] for i in paged] == [i["id"] for i in items], limit
    # one mailbox lists its own copy, alone
    work = (await _get(world.me, "/api/v1/emails", mailbox_id=world.work))["items"]
    assert [(i["id"], i["mailbox_ids"], i["duplicate_ids"]) for i in work] == [
        (world.id("news-work"), [world.work], []),
        (world.id("offsite-work"), [world.work], []),
        (world.id("reply"), [world.work], []),
    ]


async def test_threads_are_listed_newest_first_across_mailboxes(world: World) -> None:
    items = (await _get(world.me, "/api/v1/threads"))["items"]
    assert [t["subject"] for t in items] == ["Newsletter", "Newsletter", "Offsite", "Launch"]
    launch = items[3]
    reply = await _get(world.me, f"/api/v1/emails/{world.id('reply')}")
    assert launch["thread_id"] == reply["thread_id"] != ""
    assert launch["message_count"] == 2 and launch["unread_count"] == 2
    assert [p["email"] for p in launch["participants"]] == ["ann@example.com", "bo@x.org"]
    assert sorted(launch["mailbox_ids"]) == sorted([world.inbox, world.work])
    assert launch["latest_id"] == world.id("reply") and "reply@x" in launch["snippet"]
    assert launch["date"].startswith("2024-06-03T10:00")
    offsite = items[2]
    assert offsite["message_count"] == 1 and sorted(offsite["mailbox_ids"]) == sorted(
        [world.inbox, world.work]
    )
    for limit in (1, 3):
        paged = await _pages(world.me, "/api/v1/threads", limit)
        assert [t["thread_id"] for t in paged] == [t["thread_id"] for t in items], limit
    # narrowed to a mailbox: threads with a message there, counting all their messages
    work = (await _get(world.me, "/api/v1/threads", mailbox_id=world.work))["items"]
    assert [t["subject"] for t in work] == ["Newsletter", "Offsite", "Launch"]
    assert work[2]["message_count"] == 2
    r = await world.me.get("/api/v1/threads", params={"mailbox_id": "nope"})
    assert r.status_code == 404


async def test_reading_a_message_of_a_thread_counts_for_its_copies(world: World) -> None:
    launch = world.id("launch")
    r = await world.me.patch(f"/api/v1/emails/{launch}", json={"flags": {"seen": True}})
    assert r.status_code == 200, r.text
    r = await world.me.patch(
        f"/api/v1/emails/{world.id('offsite-work')}", json={"flags": {"seen": True}}
    )
    assert r.status_code == 200, r.text
    items = {t["subject"]: t for t in (await _get(world.me, "/api/v1/threads"))["items"]}
    assert items["Launch"]["unread_count"] == 1
    assert items["Offsite"]["unread_count"] == 0  # read in one mailbox is read


async def test_messages_in_the_trash_leave_lists_and_threads(world: World) -> None:
    for name in ("reply", "offsite-work"):
        r = await world.me.post(f"/api/v1/emails/{world.id(name)}/trash")
        assert r.status_code == 200, r.text
    items = (await _get(world.me, "/api/v1/emails"))["items"]
    offsite = next(i for i in items if i["subject"] == "Offsite")
    assert (offsite["id"], offsite["mailbox_ids"], offsite["duplicate_ids"]) == (
        world.id("offsite-in"),
        [world.inbox],
        [],
    )
    assert "Re: Launch" not in {i["subject"] for i in items}
    threads = {t["subject"]: t for t in (await _get(world.me, "/api/v1/threads"))["items"]}
    assert threads["Launch"]["message_count"] == 1
    assert threads["Launch"]["latest_id"] == world.id("launch")
    view = await _get(world.me, f"/api/v1/threads/{threads['Launch']['thread_id']}")
    assert [m["id"] for m in view["messages"]] == [world.id("launch")]
    trashed = (await _get(world.me, "/api/v1/emails", **{"in": "trash"}))["items"]
    assert {i["id"] for i in trashed} == {world.id("reply"), world.id("offsite-work")}


async def test_a_thread_shows_its_messages_oldest_first_each_once(world: World) -> None:
    thread_id = (await _get(world.me, f"/api/v1/emails/{world.id('launch')}"))["thread_id"]
    view = await _get(world.me, f"/api/v1/threads/{thread_id}")
    assert view["thread_id"] == thread_id and view["subject"] == "Launch"
    assert [(m["id"], m["position"], m["in_reply_to"]) for m in view["messages"]] == [
        (world.id("launch"), 0, None),
        (world.id("reply"), 1, "launch@x"),
    ]
    assert [m["mailbox_ids"] for m in view["messages"]] == [[world.inbox], [world.work]]
    assert all(m["thread_id"] == thread_id for m in view["messages"])

    offsite_thread = (await _get(world.me, f"/api/v1/emails/{world.id('offsite-in')}"))["thread_id"]
    offsite = await _get(world.me, f"/api/v1/threads/{offsite_thread}")
    [shown] = offsite["messages"]
    assert sorted([shown["id"], *shown["duplicate_ids"]]) == sorted(
        [world.id("offsite-in"), world.id("offsite-work")]
    )
    reads = [
        r.envelope.data
        for r in await world.c.bus.read(AUDIT_ACTION, 10_000)
        if r.envelope.data["action"] == "thread.read"
    ]
    assert [a["object_id"] for a in reads] == [thread_id, offsite_thread]


async def test_another_tenants_or_an_unknown_thread_is_not_found(world: World) -> None:
    mine = (await _get(world.me, f"/api/v1/emails/{world.id('launch')}"))["thread_id"]
    theirs = (await _get(world.other, "/api/v1/threads"))["items"]
    assert [t["subject"] for t in theirs] == ["Launch"] and theirs[0]["thread_id"] != mine
    for client, thread_id in (
        (world.other, mine),
        (world.me, theirs[0]["thread_id"]),
        (world.me, "nope"),
    ):
        r = await client.get(f"/api/v1/threads/{thread_id}")
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_search_results_carry_the_thread(world: World) -> None:
    found = await _get(world.me, "/api/v1/search", q="launch")
    threads = {i["id"]: i["thread_id"] for i in found["items"]}
    assert set(threads) == {world.id("launch"), world.id("reply")}
    assert len(set(threads.values())) == 1 and "" not in threads.values()
