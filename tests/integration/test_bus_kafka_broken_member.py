"""A Kafka consumer that breaks for good is replaced, and nothing is lost.

After a 30 s broker outage, noida-db answered an indexer's SyncGroup with an empty
assignment; aiokafka cannot decode that, its coordination task dies, and every later
call on that consumer raises ``KafkaError("Unexpected error during coordination …")``.
The indexer died with it (found by ``tests/faults/test_outages.py``). Real brokers send
empty assignments too (Kafka 0.10 for a member given no partitions). The fault is put
in the one place it happens, aiokafka's decoding of the assignment, and the rest runs
against the real broker.

One member only: when a member of two leaves in a rebalance, noida-db may go on naming
it the group's leader, so no live member ever sends the assignment and the others
rejoin for ever (its JoinGroup answers name a leader that left; seen once in ten
runs). That is the emulator's own fault, not the one tested here.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka.coordinator.protocol import ConsumerProtocol
from structlog.testing import capture_logs

from inboxhub.adapters.bus_kafka import KafkaEventBus
from inboxhub.domain.events import Envelope
from inboxhub.ports import Record, Subscription
from tests.support.servers.noida import Noida

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOPIC = "email.index.requested"


@pytest.fixture(params=[1, 2], ids=["joining", "rejoining"])
def spoiled(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """One assignment the member decodes arrives empty, as noida-db sent it: the first
    (the member joining), or the second (the member rejoining while it consumes)."""
    assignment = ConsumerProtocol.ASSIGNMENT
    decode = assignment.decode.__func__  # type: ignore[attr-defined]
    calls: list[bytes] = []

    def spoil_one(cls: Any, data: bytes) -> Any:
        calls.append(data)
        if len(calls) == request.param:
            return decode(cls, b"")  # raises, as aiokafka does on the real thing
        return decode(cls, data)

    monkeypatch.setattr(assignment, "decode", classmethod(spoil_one))
    return calls


def envelopes(numbers: range) -> list[Envelope]:
    return [Envelope(type=TOPIC, tenant_id="t", key=f"k{i}", data={"n": i}) for i in numbers]


async def until(sub: Subscription, seen: list[Record], want: set[int]) -> None:
    """Fetch and commit until each of ``want`` was seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while not want <= {r.envelope.data["n"] for r in seen}:
        assert loop.time() < deadline, "records missing after two minutes"
        got = await sub.fetch(10, 0.2)
        await sub.commit(got)
        seen += got


async def test_a_member_whose_coordination_breaks_is_replaced_and_loses_nothing(
    noida: Noida, spoiled: list[bytes]
) -> None:
    prefix = f"broken-{uuid.uuid4().hex[:8]}."  # a group and topic of its own
    # A member silent for longer than max_poll_interval leaves the group and rejoins
    # at its next fetch: the rejoin's assignment is the second one it decodes.
    bus = KafkaEventBus.from_url(
        f"kafka://{noida.bootstrap}?topic_prefix={prefix}", partitions=4, max_poll_interval=1.0
    )
    await bus.start()
    sub = bus.subscribe("indexer", [TOPIC])
    try:
        await bus.publish(TOPIC, envelopes(range(40)))
        with capture_logs() as logs:
            seen: list[Record] = []
            await until(sub, seen, set(range(40)))
            await asyncio.sleep(2.0)  # silent: out of the group
            await bus.publish(TOPIC, envelopes(range(40, 80)))
            await until(sub, seen, set(range(80)))
        assert len(spoiled) >= 2, "the member never rejoined"
        replaced = [e for e in logs if e["event"] == "kafka.consumer_replaced"]
        assert len(replaced) == 1, logs
        assert "Unexpected error during coordination" in replaced[0]["error"]
        assert sorted({r.envelope.data["n"] for r in seen}) == list(range(80))
    finally:
        await sub.close()
        await bus.close()
