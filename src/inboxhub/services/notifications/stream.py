"""One client's stream of messages, for SSE and the WebSocket alike.

From a cursor: what was missed (replayed), then ``ready``, then live events, without
a gap or a duplicate at the switch-over (a live record at or before the position
already reached is skipped). Messages are JSON objects ``{type, cursor, event?}``:

* ``event``: ``event`` is the bus envelope (id, type, time, tenant_id, data);
* ``ready``: the replay (if any) is done, live events follow;
* ``reset``: the cursor is older than what can be replayed: re-list, then go on from
  the ``cursor`` given here.

``cursor`` is where the stream stands after that message; a client keeps the last
one it got and resumes from it. Events the client may not see (another mailbox, a
type it did not ask for) move the cursor without being sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

from inboxhub.domain.errors import InvalidInput
from inboxhub.ports import Record
from inboxhub.services.notifications.cursor import Positions, decode, encode
from inboxhub.services.notifications.hub import LIVE_TOPICS, Client, Expired, NotificationHub
from inboxhub.services.notifications.visibility import Visible

Message = dict[str, Any]


class Overflowed(Exception):
    """The client fell too far behind: close, and let it resume from its cursor."""


def event_types(types: str | None) -> frozenset[str]:
    """``?types=a,b``: the event types asked for (all when none)."""
    if not types:
        return frozenset(LIVE_TOPICS)
    wanted = frozenset(t.strip() for t in types.split(",") if t.strip())
    if unknown := wanted - set(LIVE_TOPICS):
        raise InvalidInput(f"unknown event types: {', '.join(sorted(unknown))}")
    return wanted


class Stream:
    def __init__(
        self, hub: NotificationHub, visible: Visible, types: frozenset[str] = frozenset()
    ) -> None:
        self.hub, self.visible = hub, visible
        self.types = types or frozenset(LIVE_TOPICS)
        self.client: Client | None = None
        self.positions: Positions = {}
        self._pending: asyncio.Future[Message] | None = None
        self._busy = False  # a record taken from the queue is being looked at

    @property
    def cursor(self) -> str:
        return encode(self.positions)

    def idle_cursor(self) -> str:
        """The cursor for a keepalive: when nothing waits for this client, it has seen
        everything of its tenant the hub read, so it stands where the hub does (a
        quiet client's cursor does not fall behind what the bus keeps)."""
        client = self.client
        idle = client is not None and client.queue.empty() and not self._busy
        if idle and client is not None and not client.overflowed.is_set():
            for tp, offset in self.hub.positions.items():
                self.positions[tp] = max(self.positions.get(tp, 0), offset)
        return self.cursor

    async def begin(self, cursor: str | None) -> list[Message]:
        """(Re)start at ``cursor`` (None: now): the messages up to ``ready``."""
        since = decode(cursor) if cursor else None  # InvalidInput before anything changes
        self.close()
        self.client = client = self.hub.connect(self.visible.principal.tenant_id)
        now = client.start
        if since is None:
            self.positions = dict(now)
            return [self._ready()]
        try:
            missed = await self.hub.replay(since, now)
        except Expired:
            self.positions = dict(now)
            return [{"type": "reset", "cursor": self.cursor}, self._ready()]
        self.positions = dict(since)  # partitions this process does not read: kept
        for tp, offset in now.items():
            self.positions.setdefault(tp, offset)
        out = [m for r in missed if (m := await self._message(r)) is not None]
        for tp, offset in now.items():  # what follows comes live (undecodable ones skipped)
            self.positions[tp] = max(self.positions[tp], offset)
        return [*out, self._ready()]

    async def next(self) -> Message:
        """The next live message; ``Overflowed`` once the queue lost records."""
        assert self.client is not None
        queue = self.client.queue
        while True:
            if queue.empty() and self.client.overflowed.is_set():
                raise Overflowed
            record = await queue.get()
            self._busy = True
            try:
                message = await self._message(record)
            finally:
                self._busy = False
            if message is not None:
                return message

    async def next_within(self, seconds: float) -> Message | None:
        """``next``, or None after ``seconds`` without one. The wait goes on in the
        background until the next call (cancelling it could drop a record taken
        from the queue)."""
        done, _ = await asyncio.wait({self.waiting()}, timeout=seconds)
        return self.taken() if done else None

    def waiting(self) -> asyncio.Future[Message]:
        """The background wait for the next message (started if none is)."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.next())
        return self._pending

    def taken(self) -> Message:
        """The message the finished wait got (or its ``Overflowed``)."""
        assert self._pending is not None and self._pending.done()
        task, self._pending = self._pending, None
        return task.result()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self.client is not None:
            self.hub.disconnect(self.client)
            self.client = None

    def _ready(self) -> Message:
        return {"type": "ready", "cursor": self.cursor}

    async def _message(self, record: Record) -> Message | None:
        tp = (record.topic, record.partition)
        if record.offset < self.positions.get(tp, 0):
            return None  # had it already (replayed, or from a cursor ahead of this process)
        env = record.envelope
        shown = record.topic in self.types and await self.visible(env)
        # moved only now: a keepalive sent meanwhile must not claim this record
        self.positions[tp] = record.offset + 1
        if not shown:
            return None
        event = env.model_dump(mode="json", exclude={"key"})
        return {"type": "event", "cursor": self.cursor, "event": event}
