"""In-process fan-out of bus events to connected clients, with replay for resumes.

Every notification process reads the live topics with a group-less bus reader
(``EventBus.reader``) from the end of each partition at start-up: each process sees
every record (fan-out across processes), in the same per-partition order, so a
client's cursor (``cursor.py``) is a bus position that means the same everywhere.

A client resuming from a cursor gets what it missed from a ring of recent records
when the ring reaches back far enough, else read from the bus; when the bus no
longer holds them (or they are too many to replay) it is told to re-list
(``Expired``). Each client has a bounded queue; a client too slow to drain it is
marked overflowed and its stream closed, so it resumes from its cursor instead of
silently missing events.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import defaultdict, deque
from dataclasses import dataclass, field

import structlog

from inboxhub.domain.events import EMAIL_PROCESSED, EMAIL_SENT, EMAIL_UPDATED, MAILBOX_STATUS
from inboxhub.ports import EventBus, Record, RecordsExpired, Subscription
from inboxhub.services.notifications.cursor import Positions

log = structlog.get_logger(__name__)

LIVE_TOPICS = (EMAIL_PROCESSED, EMAIL_UPDATED, EMAIL_SENT, MAILBOX_STATUS)
QUEUE_SIZE = 1000  # records waiting for one client
RING_SIZE = 10_000  # recent records kept for resumes
MAX_REPLAY = 20_000  # more missed than this: re-list instead
REPLAY_SECONDS = 30.0  # a replay from the bus that takes longer gives up (re-list)
FETCH_SECONDS = 0.5


class Expired(Exception):
    """What a cursor asks for cannot be replayed: the client re-lists."""


@dataclass(eq=False)
class Client:
    tenant_id: str
    start: Positions  # the hub's position when it connected: its queue holds what follows
    queue: asyncio.Queue[Record] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, record: Record) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(record)
        except asyncio.QueueFull:
            self.overflowed.set()


class NotificationHub:
    def __init__(self, ring_size: int = RING_SIZE) -> None:
        self.positions: Positions = {}  # next offset per partition, as read so far
        self.ready = asyncio.Event()
        self.feeding = False  # run() started: clients wait for it to be ready
        self._ring: deque[Record] = deque(maxlen=ring_size)
        self._since: Positions = {}  # the ring holds every record of a partition from here
        self._clients: dict[str, set[Client]] = defaultdict(set)
        self._bus: EventBus | None = None

    # ------------------------------------------------------------ feed

    async def run(self, bus: EventBus, topics: tuple[str, ...], stop: asyncio.Event) -> None:
        """Read the bus from its current end until ``stop``."""
        self.feeding, self._bus = True, bus
        reader = await self._read_from_end(bus, topics)
        self.ready.set()
        try:
            while not stop.is_set():
                try:
                    self.handle(await reader.fetch(1000, FETCH_SECONDS))
                except RecordsExpired as exc:
                    # Fell behind the bus's retention: what was lost cannot be
                    # pushed; every client reconnects and is told to re-list.
                    log.warning("notifications.fell_behind", error=str(exc))
                    await reader.close()
                    for client in (c for cs in self._clients.values() for c in cs):
                        client.overflowed.set()
                    reader = await self._read_from_end(bus, topics)
        finally:
            await reader.close()

    async def _read_from_end(self, bus: EventBus, topics: tuple[str, ...]) -> Subscription:
        start: Positions = {}
        for topic in topics:
            start |= {(topic, p): o for p, o in (await bus.end_offsets(topic)).items()}
        self.positions = {**self.positions, **start}
        self._since = dict(self.positions)
        self._ring.clear()
        return bus.reader(start)

    def handle(self, records: list[Record]) -> None:
        for r in records:
            tp = (r.topic, r.partition)
            if r.offset < self.positions.get(tp, 0):
                continue
            self.positions[tp] = r.offset + 1
            if len(self._ring) == self._ring.maxlen:
                old = self._ring[0]
                self._since[(old.topic, old.partition)] = old.offset + 1
            self._ring.append(r)
            for client in self._clients.get(r.envelope.tenant_id, ()):
                client.offer(r)

    # ------------------------------------------------------------ clients

    async def wait_ready(self, seconds: float) -> bool:
        """False if the feed is starting and not ready within ``seconds``. A hub
        with no feed in this process (an app under test) is ready at once: it
        serves empty streams."""
        if not self.feeding:
            return True
        try:
            await asyncio.wait_for(self.ready.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def connect(self, tenant_id: str) -> Client:
        client = Client(tenant_id, dict(self.positions))
        self._clients[tenant_id].add(client)
        return client

    def disconnect(self, client: Client) -> None:
        self._clients[client.tenant_id].discard(client)

    def clients(self, tenant_id: str) -> int:
        return len(self._clients[tenant_id])

    async def replay(self, since: Positions, until: Positions) -> list[Record]:
        """The records after ``since`` and before ``until``, per partition in order
        (``Expired`` if they cannot all be had). Partitions ``since`` lacks: none."""
        wanted = {tp: since[tp] for tp, end in until.items() if since.get(tp, end) < end}
        if not wanted:
            return []
        if sum(until[tp] - o for tp, o in wanted.items()) > MAX_REPLAY:
            raise Expired("too far behind")
        if all(self._since.get(tp, end) <= wanted[tp] for tp, end in until.items() if tp in wanted):
            return [
                r
                for r in list(self._ring)
                if (tp := (r.topic, r.partition)) in wanted and wanted[tp] <= r.offset < until[tp]
            ]
        return await self._read_bus(wanted, until)

    async def _read_bus(self, wanted: Positions, until: Positions) -> list[Record]:
        assert self._bus is not None
        reader = self._bus.reader(wanted)
        todo = dict(wanted)
        per: dict[tuple[str, int], list[Record]] = defaultdict(list)
        try:
            async with asyncio.timeout(REPLAY_SECONDS):
                while todo:
                    for r in await reader.fetch(1000, FETCH_SECONDS):
                        tp = (r.topic, r.partition)
                        if tp in todo and r.offset < until[tp]:
                            per[tp].append(r)
                        if r.offset + 1 >= until[tp]:
                            todo.pop(tp, None)
        except RecordsExpired as exc:
            raise Expired(str(exc)) from exc
        except TimeoutError as exc:
            log.warning("notifications.replay_slow", missing=len(todo))
            raise Expired("the bus took too long") from exc
        finally:
            with contextlib.suppress(Exception):
                await reader.close()
        # Each partition in its order, merged by event time (as they came, roughly).
        return list(heapq.merge(*per.values(), key=lambda r: r.envelope.time))
