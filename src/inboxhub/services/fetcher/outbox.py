"""Draining a mailbox's outbox: the users' changes made at the provider too.

The API changes its own copy of an email at once and queues a ``MailChange``; the
runner holding the mailbox's lease hands the changes to its connector
(``providers.base.Writable``) in the order they were queued: at start, after each
sync round, and when the engine says changes are waiting. Only the lease holder
drains, and it renews the lease before each batch, so two fetchers never apply the
same change.

Applied and refused changes leave the outbox. A change that failed for now counts
an attempt (the store drops it after too many) and holds the outbox back, with a
doubling delay, while syncing goes on; the changes behind it wait, so they never
overtake it. A connector that cannot write (a local archive is read-only) has its
changes dropped as done.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog

from inboxhub.domain.models import Mailbox, OutboxEntry
from inboxhub.providers.base import ChangeResult, Connector, Outcome, ProviderError, Writable
from inboxhub.runtime import Container
from inboxhub.services.fetcher.sink import LeaseLost

log = structlog.get_logger(__name__)

BATCH = 100  # changes per outbox_take and per Writable.apply


@dataclass
class OutboxDrain:
    c: Container
    mailbox: Mailbox
    worker_id: str
    waiting: asyncio.Event = field(default_factory=asyncio.Event)  # set by the engine
    hold_until: float = 0.0  # time.monotonic(); no draining before (after a failure)
    backoff: float = 1.0

    @property
    def holding(self) -> float:
        """Seconds until the outbox may be tried again (0 when it may now)."""
        return max(0.0, self.hold_until - time.monotonic())

    async def drain(self, connector: Connector) -> int:
        """Apply what waits, batch by batch, until the outbox is empty or a change
        failed for now; returns how many changes left the outbox."""
        if self.holding:
            return 0
        self.waiting.clear()
        gone = 0
        while entries := await self._take():
            results = await self._apply(connector, entries)
            done = self._log_results(entries, results)
            await self._done(done)
            gone += len(done)
            if len(done) < len(entries):
                result = results[len(done)]
                await self._failed(entries[len(done)], result.detail, result.retry_after)
                return gone
        self.backoff = 1.0
        return gone

    async def _apply(self, connector: Connector, entries: list[OutboxEntry]) -> list[ChangeResult]:
        """One result per entry; a mailbox-wide retryable failure fails the first."""
        if not isinstance(connector, Writable):
            log.debug("outbox.read_only_dropped", mailbox=self.mailbox.id, n=len(entries))
            return [ChangeResult(Outcome.REFUSED, "read-only")] * len(entries)
        try:
            results = list(await connector.apply([e.change for e in entries]))
        except ProviderError as exc:
            if not exc.retryable:
                raise  # credentials or settings: the runner parks the mailbox
            return [ChangeResult(Outcome.FAILED, str(exc), exc.retry_after)]
        missing = ChangeResult(Outcome.FAILED, "the connector reported no result")
        return results + [missing] * (len(entries) - len(results))

    async def _take(self) -> list[OutboxEntry]:
        tenant_id, mailbox_id = self.mailbox.tenant_id, self.mailbox.id
        entries = await self.c.sync.outbox_take(tenant_id, mailbox_id, BATCH)
        lease = self.c.settings.fetcher_lease_seconds
        if entries and not await self.c.sync.claim(tenant_id, mailbox_id, self.worker_id, lease):
            raise LeaseLost(f"mailbox {mailbox_id} is synced by another worker now")
        return entries

    async def _done(self, ids: list[int]) -> None:
        await self.c.sync.outbox_done(self.mailbox.tenant_id, self.mailbox.id, ids)

    def _log_results(self, entries: list[OutboxEntry], results: list[ChangeResult]) -> list[int]:
        """The ids of the leading entries that are done (applied or refused)."""
        done: list[int] = []
        for entry, result in zip(entries, results, strict=False):
            if not result.done:
                break
            done.append(entry.id)
            if result.detail and result.detail != "read-only":
                log.info(
                    "outbox.change_refused"
                    if result.outcome is Outcome.REFUSED
                    else "outbox.change_partly_applied",
                    mailbox=self.mailbox.id,
                    email=entry.change.email_id,
                    detail=result.detail,
                )
        return done

    async def _failed(self, entry: OutboxEntry, error: str, retry_after: float | None) -> None:
        """Count the attempt on the change that failed and hold the outbox back."""
        limit = self.c.settings.fetcher_max_backoff_seconds
        delay = min(limit, max(self.backoff, retry_after or 0.0))
        self.backoff = min(limit, self.backoff * 2)
        self.hold_until = time.monotonic() + delay
        log.warning(
            "outbox.change_failed",
            mailbox=self.mailbox.id,
            email=entry.change.email_id,
            attempts=entry.attempts + 1,
            retry_in=round(delay, 1),
            error=error or "not applied",
        )
        await self.c.sync.outbox_done(
            self.mailbox.tenant_id, self.mailbox.id, [entry.id], error=error or "not applied"
        )
