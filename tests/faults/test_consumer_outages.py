"""The consumer loop through a server outage, on the embedded bus (fast, in CI): a
failure to reach a server is waited out, not counted as an attempt, and never sends
a record to the dead-letter topic; a stop during an outage commits nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pymongo.errors import ServerSelectionTimeoutError

from inboxhub.adapters.bus_sqlite import SqliteEventBus
from inboxhub.domain.errors import NotFound
from inboxhub.domain.events import Envelope, dlq_topic
from inboxhub.ports import EventBus, Record
from inboxhub.services.consumer import run_consumer, wait_until_consumed
from inboxhub.services.transient import transient

TOPIC = "email.eml.uploaded"


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EventBus]:
    b = SqliteEventBus(tmp_path / "bus.db", partitions=2)
    await b.start()
    yield b
    await b.close()


class Outage:
    """A handler whose server is down for its first ``down`` calls."""

    def __init__(self, down: int, error: Exception) -> None:
        self.down, self.error, self.calls = down, error, 0
        self.done: list[int] = []

    async def __call__(self, records: list[Record]) -> None:
        self.calls += 1
        if self.calls <= self.down:
            raise self.error
        self.done += [r.envelope.data["n"] for r in records]


def envelopes(n: int) -> list[Envelope]:
    return [Envelope(type=TOPIC, tenant_id="t", key=f"k{i}", data={"n": i}) for i in range(n)]


def s3_error(status: int, code: str) -> ClientError:
    meta = {"HTTPStatusCode": status}
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": meta}, "GetObject")


def not_found_from_s3() -> NotFound:
    try:
        try:
            raise s3_error(404, "NoSuchKey")
        except ClientError:
            raise NotFound("no blob") from None
    except NotFound as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (ServerSelectionTimeoutError("no servers"), True),
        (EndpointConnectionError(endpoint_url="http://s3"), True),
        (s3_error(503, "SlowDown"), True),
        (RuntimeError("wrapped"), False),
        (s3_error(404, "NoSuchKey"), False),
        (not_found_from_s3(), False),
        (ValueError("bad input"), False),
    ],
)
def test_what_counts_as_a_server_being_down(error: Exception, expected: bool) -> None:
    assert transient(error) is expected


def test_a_wrapped_connection_error_is_recognised() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as exc:
            raise RuntimeError("bulk failed") from exc
    except RuntimeError as wrapped:
        assert transient(wrapped)


async def test_an_outage_longer_than_the_attempts_stalls_instead_of_dead_lettering(
    bus: EventBus,
) -> None:
    await bus.publish(TOPIC, envelopes(6))
    handler = Outage(down=12, error=ConnectionRefusedError(111, "refused"))  # 4x the attempts
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(bus, "g", [TOPIC], handler, stop=stop, max_attempts=3, backoff_seconds=0.001)
    )
    await wait_until_consumed(bus, "g", TOPIC, await bus.end_offsets(TOPIC), 60)
    stop.set()
    await task
    assert sorted(handler.done) == list(range(6))
    assert handler.calls > 12
    assert await bus.read(dlq_topic(TOPIC)) == []


async def test_a_stop_during_an_outage_commits_nothing_and_dead_letters_nothing(
    bus: EventBus,
) -> None:
    await bus.publish(TOPIC, envelopes(3))
    handler = Outage(down=10**9, error=ServerSelectionTimeoutError("down"))
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_consumer(bus, "g", [TOPIC], handler, stop=stop, max_attempts=2, backoff_seconds=0.001)
    )
    while handler.calls < 5:  # well past the attempts
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 30)  # returns, does not raise
    assert sum((await bus.committed("g", TOPIC)).values()) == 0, "delivered again after restart"
    assert await bus.read(dlq_topic(TOPIC)) == []
