"""Bus events → delivery rows: one per active subscription of the event's tenant
and type. Runs in the consumer group ``webhooks``; a redelivered record adds nothing
(one delivery per subscription and event id), so committing after ``enqueue`` is
enough for at-least-once. Webhooks are the tenant's, configured by its admins: they
carry events of every mailbox of the tenant, whoever may read it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from inboxhub.domain.webhooks import EVENT_TYPES, NewDelivery, Webhook
from inboxhub.ports import EmailStore, Record, WebhookStore
from inboxhub.services.webhooks import payloads

GROUP = "webhooks"
TOPICS = list(EVENT_TYPES)


class SubscriptionCache:
    """Each tenant's subscriptions, read at most once per ``ttl`` seconds: a change
    takes effect within that long (every event of a busy tenant would read them)."""

    def __init__(
        self, store: WebhookStore, ttl: float, clock: Callable[[], float] = time.monotonic
    ):
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._known: dict[str, tuple[float, list[Webhook]]] = {}

    async def matching(self, tenant_id: str, event_type: str) -> list[Webhook]:
        now = self._clock()
        cached = self._known.get(tenant_id)
        if cached is None or now - cached[0] >= self._ttl:
            cached = (now, await self._store.list(tenant_id))
            self._known[tenant_id] = cached
        return [w for w in cached[1] if w.active and event_type in w.event_types]


class WebhookFanout:
    def __init__(
        self,
        store: WebhookStore,
        emails: EmailStore,
        cache_seconds: float,
        max_attempts: int,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._emails = emails
        self._cache = SubscriptionCache(store, cache_seconds)
        self._max_attempts = max_attempts
        self._wake = wake

    async def handle(self, records: list[Record]) -> None:
        events = [r.envelope for r in records if r.envelope.type in EVENT_TYPES]
        targets = [(env, await self._cache.matching(env.tenant_id, env.type)) for env in events]
        targets = [(env, subs) for env, subs in targets if subs]
        if not targets:
            return
        bodies = await payloads.bodies(self._emails, [env for env, _ in targets])
        new = [
            NewDelivery(env.tenant_id, sub.id, env.id, env.type, bodies[env.id])
            for env, subs in targets
            for sub in subs
        ]
        await self._store.enqueue(new, self._max_attempts, datetime.now(UTC))
        if self._wake is not None:
            self._wake.set()  # a worker in this process sends them now, not at its next poll
