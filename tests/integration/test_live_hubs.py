"""Two notification hubs (as in two processes) on one bus, embedded and Kafka: each
reads every event, and a stream resumed on the other hub from a cursor gets exactly
what it missed (from its ring or from the bus), or a reset when the bus dropped it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.events import (
    EMAIL_PROCESSED,
    EMAIL_UPDATED,
    MAILBOX_STATUS,
    EmailProcessed,
    EmailUpdated,
    mailbox_key,
)
from inboxhub.ports import EventBus
from inboxhub.services.gateway.security import Principal
from inboxhub.services.notifications import hub as hub_module
from inboxhub.services.notifications.hub import LIVE_TOPICS, NotificationHub
from inboxhub.services.notifications.stream import Message, Overflowed, Stream, event_types
from inboxhub.services.notifications.visibility import Visible
from tests.contract.adapters import BUSES, Ctx

TENANT = "t1"
OWNER = Principal("u1", TENANT, ("owner",))  # sees every mailbox: no directory needed
WAIT = 60.0


@pytest.fixture(params=sorted(BUSES))
async def bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EventBus]:
    b: EventBus = BUSES[request.param](Ctx(tmp_path, request))
    await b.start()
    yield b
    await b.close()


@contextlib.asynccontextmanager
async def hub_on(bus: EventBus, ring_size: int) -> AsyncIterator[NotificationHub]:
    hub = NotificationHub(ring_size=ring_size)
    stop = asyncio.Event()
    task = asyncio.create_task(hub.run(bus, LIVE_TOPICS, stop))
    await asyncio.wait_for(hub.ready.wait(), WAIT)
    try:
        yield hub
    finally:
        stop.set()
        await task


def stream(hub: NotificationHub) -> Stream:
    return Stream(hub, Visible(None, OWNER))  # type: ignore[arg-type]


async def publish(bus: EventBus, *names: str, mailbox: str = "box") -> None:
    events = [
        EmailProcessed(mailbox_id=mailbox, email_id=n).envelope(
            TENANT, mailbox_key(TENANT, mailbox)
        )
        for n in names
    ]
    await bus.publish(EMAIL_PROCESSED, events)


async def events(s: Stream, count: int) -> list[Message]:
    out = []
    async with asyncio.timeout(WAIT):
        while len(out) < count:
            out.append(await s.next())
    return out


def ids(messages: list[Message]) -> list[str]:
    return [m["event"]["data"]["email_id"] for m in messages if m["type"] == "event"]


@pytest.mark.parametrize("ring_size", [10_000, 1], ids=["ring", "bus"])
async def test_a_cursor_from_one_hub_resumes_on_the_other(bus: EventBus, ring_size: int) -> None:
    async with hub_on(bus, ring_size) as one, hub_on(bus, ring_size) as two:
        first, watcher = stream(one), stream(two)
        await first.begin(None)
        await watcher.begin(None)
        await publish(bus, "a", "b", mailbox="x")
        await publish(bus, "c", mailbox="y")  # another partition, perhaps
        got = await events(first, 3)
        assert sorted(ids(got)) == ["a", "b", "c"]
        assert sorted(ids(await events(watcher, 3))) == ["a", "b", "c"]
        cursor = got[-1]["cursor"]
        first.close()
        await publish(bus, "d", "e", mailbox="x")
        await publish(bus, "f", mailbox="y")
        assert sorted(ids(await events(watcher, 3))) == ["d", "e", "f"]
        moved = stream(two)
        replayed = await moved.begin(cursor)
        assert replayed[-1]["type"] == "ready"
        assert sorted(ids(replayed)) == ["d", "e", "f"]
        assert ids(replayed).index("d") < ids(replayed).index("e")  # one mailbox: in order
        await publish(bus, "g")
        assert ids(await events(moved, 1)) == ["g"]
        moved.close()
        watcher.close()


async def test_a_cursor_the_bus_no_longer_holds_gets_a_reset(bus: EventBus) -> None:
    async with hub_on(bus, 1) as hub:
        s = stream(hub)
        await s.begin(None)
        await publish(bus, "a")
        [got] = await events(s, 1)
        s.close()
        await publish(bus, "b", "c")
        async with asyncio.timeout(WAIT):
            while sum(o for (t, _), o in hub.positions.items() if t == EMAIL_PROCESSED) < 3:
                await asyncio.sleep(0.05)  # until the hub has read "b" and "c"
        for topic in (EMAIL_PROCESSED, MAILBOX_STATUS):
            await bus.delete_before(topic, await bus.end_offsets(topic))
        again = stream(hub)
        first: list[dict[str, Any]] = await again.begin(got["cursor"])
        assert [m["type"] for m in first] == ["reset", "ready"]
        await publish(bus, "d")
        assert ids(await events(again, 1)) == ["d"]
        again.close()


async def test_a_client_too_slow_is_stopped_and_resumes_without_loss(
    bus: EventBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_SIZE", 2)
    async with hub_on(bus, 10_000) as hub:
        slow = stream(hub)
        await slow.begin(None)
        await publish(bus, *"abcde")  # one mailbox: in order; more than the queue holds
        async with asyncio.timeout(WAIT):
            while slow.client is not None and not slow.client.overflowed.is_set():
                await asyncio.sleep(0.05)
        got = [await slow.next(), await slow.next()]  # what the queue kept
        with pytest.raises(Overflowed):
            await slow.next()
        assert ids(got) == ["a", "b"]
        rest = await slow.begin(got[-1]["cursor"])  # what a reconnecting client does
        assert ids(rest) == ["c", "d", "e"]
        slow.close()


async def test_a_stream_gets_only_the_types_it_asked_for(bus: EventBus) -> None:
    async with hub_on(bus, 10_000) as hub:
        s = Stream(hub, Visible(None, OWNER), event_types("email.updated"))  # type: ignore[arg-type]
        await s.begin(None)
        await publish(bus, "a")
        changed = EmailUpdated(mailbox_id="box", email_ids=["a"], changed=["flags"])
        await bus.publish(EMAIL_UPDATED, [changed.envelope(TENANT, mailbox_key(TENANT, "box"))])
        [got] = await events(s, 1)
        assert got["event"]["type"] == "email.updated"
        s.close()
    with pytest.raises(InvalidInput):
        event_types("email.processed,no.such.type")
