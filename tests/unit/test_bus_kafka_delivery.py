"""How a Kafka publish waits for its delivery reports (``bus_kafka._delivered``): the
reports are aiokafka's futures, one per batch, which its sender resolves. Once the
sender has stopped, the futures it had not resolved never will be, so the wait must
end on the failure that stopped it, or on no report at all."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber

from inboxhub.adapters import bus_kafka
from inboxhub.adapters.bus_kafka import ProducerStuck, _delivered


def report() -> asyncio.Future[object]:
    return asyncio.get_running_loop().create_future()


async def test_all_delivered_is_quiet() -> None:
    futures = [report(), report()]
    for f in futures:
        f.set_result(None)
    await _delivered(futures)


async def test_an_ordinary_failure_is_raised_once_every_report_is_in() -> None:
    failed, late = report(), report()
    failed.set_exception(KafkaTimeoutError())
    waiting = asyncio.create_task(_delivered([failed, late]))
    await asyncio.sleep(0.05)
    assert not waiting.done(), "a batch still in flight is waited for"
    late.set_result(None)
    with pytest.raises(KafkaTimeoutError):
        await waiting


async def test_a_refused_producer_state_ends_the_wait_at_once() -> None:
    refused, never = report(), report()
    refused.set_exception(OutOfOrderSequenceNumber())
    async with asyncio.timeout(5):
        with pytest.raises(OutOfOrderSequenceNumber):
            await _delivered([never, refused])


async def test_no_report_at_all_is_a_stuck_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_kafka, "DELIVERY_WAIT", 0.1)
    async with asyncio.timeout(5):
        with pytest.raises(ProducerStuck) as raised:
            await _delivered([report(), report()])
    assert raised.value.retriable, "the consumer waits it out as an outage"
