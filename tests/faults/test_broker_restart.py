"""The broker goes away while batches are in flight and comes back: publishing works
again.

A batch that times out in the outage took its sequence numbers with it, so the
broker refuses the producer's next batch as out of order (or, having restarted, no
longer knows the producer id), and aiokafka's idempotent producer never gets past
that: every later publish failed, and each event the processor tried to pass on was
dead-lettered (found by ``test_outages.py``'s 30 s broker outage). The bus now puts a
new producer in its place, when the broker refuses the old one's state or when its
deliveries stop being answered (its sender has stopped: a publish would hang). A
noida-db of this test's own, since it is stopped; one to three minutes, most of it
the producer's 40 s request timeout running out in the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from aiokafka.errors import KafkaError
from structlog.testing import capture_logs

from inboxhub.adapters.bus_kafka import DELIVERY_WAIT, KafkaEventBus
from inboxhub.domain.events import Envelope
from tests.support.servers.noida import Noida

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TOPIC = "email.eml.uploaded"
REQUEST_TIMEOUT = 40  # aiokafka's default request_timeout_ms, in seconds
AFTER = DELIVERY_WAIT + REQUEST_TIMEOUT + 30  # a stuck producer is found, then replaced


def envelopes(n: int) -> list[Envelope]:
    return [Envelope(type=TOPIC, tenant_id="t", key=f"k{i % 7}", data={"n": i}) for i in range(n)]


@pytest.fixture
def broker() -> Iterator[Noida]:
    server = Noida().start()
    try:
        yield server
    finally:
        server.stop()


async def test_publishing_works_again_after_the_broker_went_away_mid_publish(
    broker: Noida,
) -> None:
    """A publisher that keeps going through the outage, as the processors do: it gets
    errors while the broker is away, then its publishes land again (they neither fail
    for ever nor hang)."""
    bus = KafkaEventBus.from_url(f"kafka://{broker.bootstrap}?topic_prefix=restart.")
    landed: list[float] = []
    try:
        await bus.start()
        await bus.publish(TOPIC, envelopes(200))

        async def publishing() -> None:
            while True:
                with contextlib.suppress(KafkaError):
                    await bus.publish(TOPIC, envelopes(500))
                    landed.append(time.monotonic())

        with capture_logs() as logs:
            busy = asyncio.create_task(publishing())
            await asyncio.sleep(0.3)  # batches in flight
            broker.server.stop()
            await asyncio.sleep(REQUEST_TIMEOUT + 10)  # they time out: a gap
            broker.server.start(broker.kafka_port, timeout=120)
            back = time.monotonic()
            try:
                async with asyncio.timeout(AFTER):
                    while not landed or landed[-1] <= back:
                        await asyncio.sleep(0.5)
            finally:
                busy.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await busy
        replaced = [e for e in logs if e["event"] == "kafka.producer_replaced"]
        assert replaced, "the outage left the producer's sequence intact: nothing was tested"
    finally:
        await bus.close()
