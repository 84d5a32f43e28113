"""Sending deliveries: claim the due ones (any tenant), POST them, record the result.

Up to ``webhook_concurrency`` requests at once per worker; any number of workers
(processes) may run, a claim holds a delivery for one of them. Deliveries are not
ordered, not even per subscription: a retry waits while later events go ahead
(each body carries its event's time and id; ``email.updated`` receivers re-read).
A failed attempt is retried after ``webhook_retry_seconds[n]`` (± jitter); after
the last one the delivery has failed, and too many such in a row disable the
subscription (``DisablePolicy``), which then gets no new deliveries until an admin
enables it again (its pending ones wait for that).
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from inboxhub.domain.webhooks import FAILED, AttemptResult, Claimed, DisablePolicy
from inboxhub.ports import WebhookStore
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.webhooks import outbound, signing
from inboxhub.settings import Settings

log = structlog.get_logger(__name__)
PRUNE_EVERY = 3600.0  # seconds between deletions of old log entries
LEASE_MARGIN = 30.0  # beyond the request timeout: a claim outlives its attempt


def max_attempts(settings: Settings) -> int:
    return len(settings.webhook_retry_seconds) + 1


def url_policy(settings: Settings) -> outbound.UrlPolicy:
    return outbound.UrlPolicy(settings.webhook_allow_http, settings.webhook_allow_private_hosts)


class DeliveryWorker:
    def __init__(
        self,
        store: WebhookStore,
        settings: Settings,
        audit: AuditLog | None = None,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._s = settings
        self._audit = audit
        self.wake = wake or asyncio.Event()
        self._policy = DisablePolicy(
            settings.webhook_disable_after_failures, settings.webhook_disable_after_hours * 3600
        )
        self._pruned_at = float("-inf")

    def client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=self._s.webhook_concurrency)
        return httpx.AsyncClient(
            timeout=self._s.webhook_timeout_seconds,
            follow_redirects=False,
            trust_env=False,  # we connect to the address we vetted, never via a proxy
            limits=limits,
        )

    async def run(self, stop: asyncio.Event) -> None:
        log.info("webhooks.worker_started")
        async with self.client() as client:
            while not stop.is_set():
                self.wake.clear()  # an enqueue from now on wakes the wait below
                try:
                    await self._prune()
                    sent = await self.run_once(client)
                except Exception:
                    log.exception("webhooks.worker_failed")  # the database may be back soon
                    sent = 0
                if sent:
                    continue
                waiting = [asyncio.ensure_future(e.wait()) for e in (stop, self.wake)]
                try:
                    await asyncio.wait(waiting, timeout=self._s.webhook_poll_seconds)
                finally:
                    for w in waiting:
                        w.cancel()
        log.info("webhooks.worker_stopped")

    async def run_once(self, client: httpx.AsyncClient) -> int:
        """Claim what is due and send it; how many were claimed."""
        lease = self._s.webhook_timeout_seconds + LEASE_MARGIN
        claimed = await self._store.claim(datetime.now(UTC), lease, self._s.webhook_concurrency)
        outcomes = await asyncio.gather(
            *(self._attempt(client, c) for c in claimed), return_exceptions=True
        )
        for c, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, BaseException):  # its lease runs out: tried again then
                log.error("webhooks.attempt_failed", delivery_id=c.delivery.id, error=repr(outcome))
        return len(claimed)

    async def _attempt(self, client: httpx.AsyncClient, claimed: Claimed) -> None:
        d = claimed.delivery
        keys = await self._store.secrets(d.tenant_id, d.webhook_id, datetime.now(UTC))
        if not keys:
            return  # deleted meanwhile (its deliveries went with it)
        headers = signing.headers(keys, d.body, d.event_type, d.id)
        result = await outbound.post(client, claimed.url, d.body, headers, url_policy(self._s))
        now = datetime.now(UTC)
        retry_at = None if result.ok else self._retry_at(d.attempts + 1, d.max_attempts, now)
        done = await self._store.record_attempt(claimed, result, now, retry_at, self._policy)
        log.info(
            "webhooks.attempt",
            tenant_id=d.tenant_id,
            webhook_id=d.webhook_id,
            delivery_id=d.id,
            status=result.status_code,
            error=result.error,
            state=done.state if done else "lease lost",
        )
        if done is not None and done.state == FAILED:
            await self._maybe_disabled(d.tenant_id, d.webhook_id, now, result)

    def _retry_at(self, attempts: int, most: int, now: datetime) -> datetime | None:
        if attempts >= most:
            return None
        schedule = self._s.webhook_retry_seconds or [0.0]
        wait = schedule[min(attempts, len(schedule)) - 1]
        jitter = self._s.webhook_retry_jitter
        return now + timedelta(seconds=wait * (1 + random.uniform(-jitter, jitter)))

    async def _maybe_disabled(
        self, tenant_id: str, webhook_id: str, now: datetime, result: AttemptResult
    ) -> None:
        """Audit (as the platform, no actor) the subscription's disabling, if this
        failure did it."""
        sub = await self._store.get(tenant_id, webhook_id)
        if sub is None or sub.active or sub.disabled_at != now:
            return
        log.warning(
            "webhooks.disabled",
            tenant_id=tenant_id,
            webhook_id=webhook_id,
            reason=sub.disabled_reason,
        )
        if self._audit is not None:
            await self._audit.record(
                tenant_id,
                None,
                "webhook.disabled",
                webhook_id,
                reason=sub.disabled_reason,
                last_error=result.error,
            )

    async def _prune(self) -> None:
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = time.monotonic()
        cutoff = datetime.now(UTC) - timedelta(days=self._s.webhook_log_retention_days)
        if gone := await self._store.prune(cutoff):
            log.info("webhooks.log_pruned", deliveries=gone)
