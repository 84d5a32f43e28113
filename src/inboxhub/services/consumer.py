"""The consumer loop every service runs (DESIGN §4).

Fetch a batch, hand it to the handler, commit only after the handler returned (its
effects are durable). A failing batch is retried with exponential backoff; if it
keeps failing it is split and each record retried alone, in order, so one poison
record cannot hold back its neighbours. A record that still fails goes to ``T.dlq``
with the error in its headers, and the consumer moves on.

A server that cannot be reached (``services/transient.py``) is not the record's
fault: handling, dead-lettering, fetching and committing are tried again, without
counting attempts, until it is back. The consumer stalls through an outage instead
of dead-lettering everything it meets or dying on a failed commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import structlog
from prometheus_client import Counter

from inboxhub.domain.events import dlq_topic
from inboxhub.ports import EventBus, Record
from inboxhub.services.transient import transient

log = structlog.get_logger(__name__)
Handler = Callable[[list[Record]], Awaitable[None]]
T = TypeVar("T")
MAX_BACKOFF = 30.0
OUTAGE_BACKOFF = 5.0  # longest pause while a server is down: resume soon after it is back
REPLAY_GROUP = "dlq-replay"
BATCH_ATTEMPTS = 2  # then each record alone, so one poison record costs little
CONSUMED = Counter("inboxhub_consumer_records_total", "Records handled and committed", ["group"])
DEAD_LETTERED = Counter("inboxhub_consumer_dead_letters_total", "Records sent to T.dlq", ["topic"])


class Interrupted(Exception):
    """Stopped while a server was down: nothing is dead-lettered nor committed, the
    records are delivered again after the restart."""


async def _pause(stop: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)


async def _attempt(
    handler: Handler, records: list[Record], attempts: int, backoff: float, stop: asyncio.Event
) -> Exception | None:
    """Run the handler up to ``attempts`` times; the last error, or None on success.
    A failure of a server (``transient``) does not count as an attempt: the handler is
    tried again, backing off, until the server is back, so an outage stalls the
    consumer instead of dead-lettering what it meets."""
    error: Exception | None = None
    attempt = tries = 0
    while attempt < attempts:
        try:
            await handler(records)
            return None
        except Exception as exc:
            error, outage = exc, transient(exc)
            attempt += 0 if outage else 1
            tries += 1
            log.warning(
                "consumer.handler_failed",
                attempt=attempt,
                outage=outage,
                records=len(records),
                error=f"{type(exc).__name__}: {exc}"[:500],
            )
            if outage and stop.is_set():
                raise Interrupted from exc
            if attempt < attempts:
                # A stop request cuts the wait short, not the retries.
                longest = OUTAGE_BACKOFF if outage else MAX_BACKOFF
                await _pause(stop, min(longest, backoff * 2 ** min(tries - 1, 10)))
    return error


async def _through_outages(
    what: str, call: Callable[[], Awaitable[T]], backoff: float, stop: asyncio.Event
) -> T:
    """``call()``, tried again while it fails because a server is down (until a stop
    request: then ``Interrupted``)."""
    tries = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient(exc):
                raise
            if stop.is_set():
                raise Interrupted from exc
            tries += 1
            log.warning(
                "consumer.waiting_for_server", on=what, error=f"{type(exc).__name__}: {exc}"[:500]
            )
            await _pause(stop, min(OUTAGE_BACKOFF, backoff * 2 ** min(tries, 10)))


async def _dead_letter(
    bus: EventBus,
    record: Record,
    error: Exception,
    attempts: int,
    backoff: float,
    stop: asyncio.Event,
) -> None:
    headers = {
        "error": f"{type(error).__name__}: {error}"[:2000],
        "attempts": str(attempts),
        "original_topic": record.topic,
        "original_partition": str(record.partition),
        "original_offset": str(record.offset),
    }
    topic = dlq_topic(record.topic)
    await _through_outages(
        "dead letter", lambda: bus.publish(topic, [record.envelope], headers), backoff, stop
    )
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
        await _dead_letter(bus, records[0], error, max_attempts, backoff, stop)
        return
    for record in records:  # isolate the poison, keep the order
        error = await _attempt(handler, [record], max_attempts, backoff, stop)
        if error is not None:
            await _dead_letter(bus, record, error, max_attempts, backoff, stop)


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
            done, ahead = ahead, None
            if (records := await _fetched(done, backoff_seconds, stop)) is None:
                continue
            ahead = asyncio.create_task(subscription.fetch(batch_size, fetch_timeout))
            await process_batch(bus, handler, records, max_attempts, backoff_seconds, stop)
            await _through_outages(
                "commit", lambda: subscription.commit(records), backoff_seconds, stop
            )
            CONSUMED.labels(group).inc(len(records))
    except Interrupted:
        log.warning("consumer.stopped_during_outage", group=group, note="redelivered later")
    finally:
        stopping.cancel()
        if ahead is not None:  # fetched, never handled nor committed: redelivered later
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
        await subscription.close()
        log.info("consumer.stopped", group=group)


async def _fetched(
    done: asyncio.Task[list[Record]], backoff: float, stop: asyncio.Event
) -> list[Record] | None:
    """A fetch's records; None if there were none or the broker could not be reached
    (the next fetch tries again, after a pause)."""
    try:
        return done.result() or None
    except Exception as exc:
        if not transient(exc):
            raise
        log.warning("consumer.waiting_for_server", on="fetch", error=f"{type(exc).__name__}: {exc}")
        await _pause(stop, min(OUTAGE_BACKOFF, backoff * 10))
        return None


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
    """Wait until ``group`` has committed at least ``targets`` on every partition
    (through an outage of the broker: it is asked again until the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            committed = await bus.committed(group, topic)
        except Exception as exc:  # the broker restarting: ask again
            if not transient(exc):
                raise
            committed = {}
        if all(committed.get(p, 0) >= offset for p, offset in targets.items()):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{group} did not consume {topic} up to {targets} in {timeout}s")
        await asyncio.sleep(0.05)
