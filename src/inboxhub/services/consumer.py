"""The consumer loop every service runs (DESIGN §4).

Fetch a batch, hand it to the handler, commit only after the handler returned (its
effects are durable). A failing batch is retried with exponential backoff; if it
keeps failing it is split and each record retried alone, in order, so one poison
record cannot hold back its neighbours. A record that still fails goes to ``T.dlq``
with the error in its headers, and the consumer moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from prometheus_client import Counter

from inboxhub.domain.events import dlq_topic
from inboxhub.ports import EventBus, Record

log = structlog.get_logger(__name__)
Handler = Callable[[list[Record]], Awaitable[None]]
MAX_BACKOFF = 30.0
REPLAY_GROUP = "dlq-replay"
BATCH_ATTEMPTS = 2  # then each record alone, so one poison record costs little
CONSUMED = Counter("inboxhub_consumer_records_total", "Records handled and committed", ["group"])
DEAD_LETTERED = Counter("inboxhub_consumer_dead_letters_total", "Records sent to T.dlq", ["topic"])


async def _attempt(
    handler: Handler, records: list[Record], attempts: int, backoff: float, stop: asyncio.Event
) -> Exception | None:
    """Run the handler up to ``attempts`` times; the last error, or None on success."""
    error: Exception | None = None
    for attempt in range(attempts):
        try:
            await handler(records)
            return None
        except Exception as exc:
            error = exc
            log.warning(
                "consumer.handler_failed",
                attempt=attempt + 1,
                records=len(records),
                error=f"{type(exc).__name__}: {exc}",
            )
            if attempt + 1 < attempts:
                delay = min(MAX_BACKOFF, backoff * 2**attempt)
                # A stop request cuts the wait short, not the retries.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
    return error


async def _dead_letter(bus: EventBus, record: Record, error: Exception, attempts: int) -> None:
    headers = {
        "error": f"{type(error).__name__}: {error}"[:2000],
        "attempts": str(attempts),
        "original_topic": record.topic,
        "original_partition": str(record.partition),
        "original_offset": str(record.offset),
    }
    await bus.publish(dlq_topic(record.topic), [record.envelope], headers)
    DEAD_LETTERED.labels(record.topic).inc()
    log.error(
        "consumer.dead_letter",
        topic=record.topic,
        offset=record.offset,
        event_id=record.envelope.id,
        error=headers["error"],
    )


async def process_batch(
    bus: EventBus,
    handler: Handler,
    records: list[Record],
    max_attempts: int,
    backoff: float,
    stop: asyncio.Event,
) -> None:
    """Handle ``records``; whatever cannot be handled ends in the dead-letter topic."""
    batch_attempts = min(BATCH_ATTEMPTS, max_attempts) if len(records) > 1 else max_attempts
    error = await _attempt(handler, records, batch_attempts, backoff, stop)
    if error is None:
        return
    if len(records) == 1:
        await _dead_letter(bus, records[0], error, max_attempts)
        return
    for record in records:  # isolate the poison, keep the order
        error = await _attempt(handler, [record], max_attempts, backoff, stop)
        if error is not None:
            await _dead_letter(bus, record, error, max_attempts)


async def run_consumer(
    bus: EventBus,
    group: str,
    topics: Sequence[str],
    handler: Handler,
    *,
    batch_size: int = 256,
    max_attempts: int = 5,
    backoff_seconds: float = 0.2,
    stop: asyncio.Event,
    fetch_timeout: float = 0.5,
) -> None:
    """Fetch, handle, commit; the next batch is fetched while this one is handled, so
    the handler never waits on the bus. Commits stay in order, after the handler."""
    subscription = bus.subscribe(group, topics)
    log.info("consumer.started", group=group, topics=list(topics))
    stopping = asyncio.create_task(stop.wait())
    ahead: asyncio.Task[list[Record]] | None = None
    try:
        while not stop.is_set():
            ahead = ahead or asyncio.create_task(subscription.fetch(batch_size, fetch_timeout))
            await asyncio.wait({ahead, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not ahead.done():
                break  # stopped while waiting for records: none taken, none lost
            records, ahead = ahead.result(), None
            if not records:
                continue
            ahead = asyncio.create_task(subscription.fetch(batch_size, fetch_timeout))
            await process_batch(bus, handler, records, max_attempts, backoff_seconds, stop)
            await subscription.commit(records)
            CONSUMED.labels(group).inc(len(records))
    finally:
        stopping.cancel()
        if ahead is not None:  # fetched, never handled nor committed: redelivered later
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
        await subscription.close()
        log.info("consumer.stopped", group=group)


async def replay_dlq(bus: EventBus, topic: str, group: str = REPLAY_GROUP) -> int:
    """Move the dead letters of ``topic`` back onto it; each is replayed once."""
    subscription = bus.subscribe(group, [dlq_topic(topic)])
    replayed = 0
    try:
        while records := await subscription.fetch(500, 1.0):
            await bus.publish(topic, [r.envelope for r in records], {"replayed": "true"})
            await subscription.commit(records)
            replayed += len(records)
    finally:
        await subscription.close()
    return replayed


async def wait_until_consumed(
    bus: EventBus, group: str, topic: str, targets: dict[int, int], timeout: float
) -> None:
    """Wait until ``group`` has committed at least ``targets`` on every partition."""
    deadline = time.monotonic() + timeout
    while True:
        committed = await bus.committed(group, topic)
        if all(committed.get(p, 0) >= offset for p, offset in targets.items()):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{group} did not consume {topic} up to {targets} in {timeout}s")
        await asyncio.sleep(0.05)
