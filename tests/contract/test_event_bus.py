"""The EventBus contract (and the consumer runner on top of it), on every adapter."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.events import Envelope, dlq_topic
from inboxhub.ports import EventBus, Record, Subscription
from inboxhub.services.consumer import (
    process_batch,
    replay_dlq,
    run_consumer,
    wait_until_consumed,
)
from tests.contract.adapters import BUSES, Ctx

TOPIC = "email.eml.uploaded"


def env(key: str, n: int, tenant: str = "t1") -> Envelope:
    return Envelope(type=TOPIC, tenant_id=tenant, key=key, data={"n": n})


@pytest.fixture(params=sorted(BUSES))
def make_bus(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., EventBus]:
    ctx = Ctx(tmp_path, request)
    return lambda **options: BUSES[request.param](ctx, **options)


@pytest.fixture()
async def bus(make_bus: Callable[..., EventBus]) -> AsyncIterator[EventBus]:
    b = make_bus()
    await b.start()
    yield b
    await b.close()


async def drain(sub: Subscription, want: int, timeout: float = 10.0) -> list[Record]:
    got: list[Record] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        got += await sub.fetch(100, 0.2)
    return got


async def test_round_trip_keeps_envelope_and_headers(bus: EventBus) -> None:
    sent = env("t1:box", 1)
    await bus.publish(TOPIC, [sent], {"trace": "abc"})
    sub = bus.subscribe("g", [TOPIC])
    [got] = await drain(sub, 1)
    assert got.envelope == sent and got.topic == TOPIC
    assert got.headers["trace"] == "abc" and got.headers["tenant_id"] == "t1"
    await sub.close()


async def test_each_key_keeps_its_order(bus: EventBus) -> None:
    keys = [f"t1:box{k}" for k in range(7)]
    for batch in range(5):
        await bus.publish(TOPIC, [env(k, batch * 10 + i) for i, k in enumerate(keys)])
    sub = bus.subscribe("g", [TOPIC])
    records = await drain(sub, 35)
    assert len(records) == 35
    for k in keys:
        ns = [r.envelope.data["n"] for r in records if r.envelope.key == k]
        assert ns == sorted(ns) and len(ns) == 5
    await sub.close()


async def test_groups_are_independent(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env(f"k{i}", i) for i in range(10)])
    a, b = bus.subscribe("a", [TOPIC]), bus.subscribe("b", [TOPIC])
    assert len(await drain(a, 10)) == 10 and len(await drain(b, 10)) == 10
    await a.close()
    await b.close()


async def test_commit_survives_restart_and_uncommitted_is_redelivered(
    make_bus: Callable[..., EventBus],
) -> None:
    first = make_bus()
    await first.start()
    await first.publish(TOPIC, [env("k", i) for i in range(6)])
    sub = first.subscribe("g", [TOPIC])
    records = await drain(sub, 6)
    await sub.commit(records[:4])
    await sub.close()
    await first.close()

    again = make_bus()
    await again.start()
    assert sum((await again.committed("g", TOPIC)).values()) == 4
    sub = again.subscribe("g", [TOPIC])
    rest = await drain(sub, 2)
    assert [r.envelope.data["n"] for r in rest] == [4, 5]
    await sub.close()
    await again.close()


async def test_two_members_share_partitions_without_duplicates(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env(f"k{i}", i) for i in range(200)])
    one, two = bus.subscribe("g", [TOPIC]), bus.subscribe("g", [TOPIC])
    seen: list[Record] = []
    while len(seen) < 200:
        for sub in (one, two):
            got = await sub.fetch(20, 0.1)
            await sub.commit(got)
            seen += got
    assert sorted(r.envelope.data["n"] for r in seen) == list(range(200))
    await one.close()
    await two.close()


async def test_a_member_that_leaves_hands_its_partitions_over(bus: EventBus) -> None:
    one = bus.subscribe("g", [TOPIC])
    await one.fetch(1, 0.1)  # joins and takes every partition
    two = bus.subscribe("g", [TOPIC])
    await one.close()
    await bus.publish(TOPIC, [env(f"k{i}", i) for i in range(20)])
    assert len(await drain(two, 20)) == 20
    await two.close()


async def test_a_silent_member_loses_its_partitions(make_bus: Callable[..., EventBus]) -> None:
    b = make_bus(session_timeout=0.3, heartbeat_interval=0.05)
    await b.start()
    await b.publish(TOPIC, [env(f"k{i}", i) for i in range(20)])
    silent = b.subscribe("g", [TOPIC])
    await silent.fetch(1, 0.1)  # holds everything, then never calls again
    alive = b.subscribe("g", [TOPIC])
    assert len(await drain(alive, 20)) == 20
    await b.close()


async def test_a_member_in_another_process_consumes_in_the_same_group(
    bus: EventBus, tmp_path: Path
) -> None:
    if not hasattr(bus, "path"):
        pytest.skip("only file-backed buses are shared by processes")
    await bus.publish(TOPIC, [env(f"k{i}", i) for i in range(30)])
    script = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from inboxhub.adapters.bus_sqlite import SqliteEventBus
        async def main():
            bus = SqliteEventBus(Path({str(bus.path)!r}), partitions=4)
            sub = bus.subscribe("g", [{TOPIC!r}])
            got = []
            while len(got) < 30:
                records = await sub.fetch(100, 0.2)
                await sub.commit(records)
                got += records
            await sub.close()
            await bus.close()
            print(len(got))
        asyncio.run(main())
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "30"
    assert sum((await bus.committed("g", TOPIC)).values()) == 30


async def test_offsets_and_read(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env(f"k{i}", i) for i in range(9)])
    ends = await bus.end_offsets(TOPIC)
    assert sum(ends.values()) == 9
    assert sum((await bus.committed("nobody", TOPIC)).values()) == 0
    assert [r.envelope.data["n"] for r in await bus.read(TOPIC, 3)] == [0, 1, 2]


# ------------------------------------------------------------------- the consumer runner


class Flaky:
    """A handler that fails for chosen records a chosen number of times."""

    def __init__(self, failures: dict[int, int]) -> None:
        self.failures = failures
        self.done: list[int] = []

    async def __call__(self, records: list[Record]) -> None:
        for r in records:
            n = r.envelope.data["n"]
            if self.failures.get(n, 0) > 0:
                self.failures[n] -= 1
                raise ValueError(f"cannot handle {n}")
        self.done += [r.envelope.data["n"] for r in records]


async def run_until(bus: EventBus, handler: Any, count: int, **kw: Any) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(
            bus, "g", [TOPIC], handler, stop=stop, max_attempts=3, backoff_seconds=0.001, **kw
        )
    )
    await wait_until_consumed(bus, "g", TOPIC, await bus.end_offsets(TOPIC), 30)
    stop.set()
    await task
    assert sum((await bus.committed("g", TOPIC)).values()) == count


async def test_poison_record_goes_to_dlq_and_the_rest_flows(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env("same-key", i) for i in range(5)])
    handler = Flaky({2: 1000})
    await run_until(bus, handler, 5)
    assert sorted(set(handler.done)) == [0, 1, 3, 4]
    [dead] = await bus.read(dlq_topic(TOPIC))
    assert dead.envelope.data["n"] == 2
    assert "cannot handle 2" in dead.headers["error"] and dead.headers["attempts"] == "3"
    assert dead.headers["original_topic"] == TOPIC


async def test_transient_failure_is_retried_not_dead_lettered(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env("k", 0)])
    handler = Flaky({0: 2})
    await run_until(bus, handler, 1)
    assert handler.done == [0]
    assert await bus.read(dlq_topic(TOPIC)) == []


async def test_replayed_dead_letters_are_processed_after_a_fix(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env("k", 7)])
    await run_until(bus, Flaky({7: 1000}), 1)
    assert await replay_dlq(bus, TOPIC) == 1
    assert await replay_dlq(bus, TOPIC) == 0, "each dead letter is replayed once"
    fixed = Flaky({})
    await run_until(bus, fixed, 2)
    assert fixed.done == [7]


async def test_single_record_batch_failing_is_dead_lettered_once(bus: EventBus) -> None:
    await bus.publish(TOPIC, [env("k", 1)])
    sub = bus.subscribe("g", [TOPIC])
    records = await drain(sub, 1)
    await process_batch(bus, Flaky({1: 1000}), records, 2, 0.001, asyncio.Event())
    assert len(await bus.read(dlq_topic(TOPIC))) == 1
    await sub.close()
