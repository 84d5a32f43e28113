"""In-process fan-out of bus events to connected clients, per tenant.

Each connected client owns a bounded queue; a client too slow to drain it loses the
oldest events rather than growing memory (it can re-list to catch up). Fan-out
across several notification processes comes from each process consuming the bus
in a consumer group of its own (a later issue adds the WebSocket endpoint).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from inboxhub.domain.events import Envelope
from inboxhub.ports import Record

QUEUE_SIZE = 1000


@dataclass
class NotificationHub:
    _clients: dict[str, set[asyncio.Queue[Envelope]]] = field(
        default_factory=lambda: defaultdict(set)
    )

    def connect(self, tenant_id: str) -> asyncio.Queue[Envelope]:
        queue: asyncio.Queue[Envelope] = asyncio.Queue(QUEUE_SIZE)
        self._clients[tenant_id].add(queue)
        return queue

    def disconnect(self, tenant_id: str, queue: asyncio.Queue[Envelope]) -> None:
        self._clients[tenant_id].discard(queue)

    def clients(self, tenant_id: str) -> int:
        return len(self._clients[tenant_id])

    async def handle(self, records: list[Record]) -> None:
        for r in records:
            for queue in self._clients.get(r.envelope.tenant_id, ()):
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(r.envelope)
