"""The fetcher: spreads mailboxes over the fetcher processes and syncs its share.

Every process heartbeats into the ``SyncStore``. Each mailbox belongs to the live
worker that rendezvous hashing picks for it, so the share moves as little as
possible when workers come and go. A worker syncs a mailbox only while it holds the
mailbox's lease (renewed every third of its lifetime): when a worker dies, its
heartbeat and then its leases expire, and the mailboxes' new owners take them over.
Two workers never sync one mailbox at once, even while they disagree about who is
alive.

``tenant.config.updated`` wakes the engine at once: a created, changed, paused or
deleted mailbox starts, restarts or stops without a restart of the process, and a
push notification (``mailbox.changed``) makes its mailbox sync now. Each process
reads those events in a consumer group of its own, so every one of them sees all.

Users' changes queued for the provider (the outbox) need no topic of their own:
about once a second each process asks the ``SyncStore`` which of its mailboxes have
changes waiting (one query for all of them) and wakes those runners.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
from dataclasses import dataclass

import structlog

from inboxhub.domain.events import TENANT_CONFIG_UPDATED, TenantConfigUpdated
from inboxhub.domain.models import Mailbox
from inboxhub.runtime import Container
from inboxhub.services.fetcher import metrics
from inboxhub.services.fetcher.mailbox_sync import MailboxRunner, first_of

log = structlog.get_logger(__name__)
MAILBOX_CHANGED = "mailbox.changed"  # TenantConfigUpdated.what of a push notification
OUTBOX_POLL_SECONDS = 1.0

Key = tuple[str, str]  # (tenant_id, mailbox_id)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def owner(live: list[str], tenant_id: str, mailbox_id: str) -> str:
    """The live worker a mailbox belongs to (highest random weight)."""
    return max(
        live, key=lambda w: hashlib.sha256(f"{w}|{tenant_id}|{mailbox_id}".encode()).digest()
    )


@dataclass
class Running:
    runner: MailboxRunner
    task: asyncio.Task[None]
    updated_at: object


class FetcherEngine:
    def __init__(self, c: Container, worker_id: str | None = None) -> None:
        self.c = c
        self.worker_id = worker_id or new_worker_id()
        self.running: dict[Key, Running] = {}
        self._changed = asyncio.Event()
        self.outbox_poll_seconds = OUTBOX_POLL_SECONDS

    @property
    def lease_seconds(self) -> float:
        return self.c.settings.fetcher_lease_seconds

    async def run(self, stop: asyncio.Event) -> None:
        events = asyncio.create_task(self._follow_config_events(stop), name="fetcher-config")
        outbox = asyncio.create_task(self._watch_outboxes(stop), name="fetcher-outbox")
        try:
            while not stop.is_set():
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("fetcher.reconcile_failed")
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    waits = first_of(stop.wait(), self._changed.wait())
                    await asyncio.wait_for(waits, self.lease_seconds / 3)
        finally:
            events.cancel()
            outbox.cancel()
            await asyncio.gather(events, outbox, return_exceptions=True)
            await self.shutdown()

    async def reconcile(self) -> None:
        """Start what is ours, renew its leases, stop what is not ours any more."""
        sync = self.c.sync
        live = await sync.heartbeat(self.worker_id, self.lease_seconds)
        if self.worker_id not in live:
            live.append(self.worker_id)
        suspended = await self.c.tenancy.suspended_tenant_ids()  # their mailboxes rest
        mine: dict[Key, Mailbox] = {
            (b.tenant_id, b.id): b
            for b in await sync.mailboxes_to_sync()
            if b.tenant_id not in suspended and owner(live, b.tenant_id, b.id) == self.worker_id
        }
        for key, run in list(self.running.items()):
            box = mine.get(key)
            if box is None or box.updated_at != run.updated_at or run.task.done():
                await self._stop(key)
        for key, box in mine.items():
            claimed = await sync.claim(*key, self.worker_id, self.lease_seconds)
            if not claimed:
                if key in self.running:  # someone else took it: let go
                    await self._stop(key, release=False)
                continue
            if key not in self.running:
                self._start(box)
        metrics.MAILBOXES.set(len(self.running))

    def _start(self, box: Mailbox) -> None:
        runner = MailboxRunner(self.c, box, self.worker_id)
        task = asyncio.create_task(runner.run(), name=f"mailbox:{box.id}")
        self.running[(box.tenant_id, box.id)] = Running(runner, task, box.updated_at)
        log.info("fetcher.mailbox_started", mailbox=box.id, provider=box.provider)

    async def _stop(self, key: Key, release: bool = True) -> None:
        run = self.running.pop(key)
        run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)
        if release:
            with contextlib.suppress(Exception):
                await self.c.sync.release(*key, self.worker_id)
        log.info("fetcher.mailbox_stopped", mailbox=key[1])

    async def shutdown(self) -> None:
        for key in list(self.running):
            await self._stop(key)
        with contextlib.suppress(Exception):
            await self.c.sync.forget_worker(self.worker_id)

    def wake(self, tenant_id: str, mailbox_id: str) -> bool:
        """Make the mailbox sync now, if this worker runs it."""
        run = self.running.get((tenant_id, mailbox_id))
        if run is None:
            return False
        run.runner.wake.set()
        return True

    async def wake_outboxes(self) -> int:
        """Wake the runners of this worker's mailboxes whose outbox has changes
        waiting; returns how many were woken."""
        woken = 0
        for key in await self.c.sync.outbox_mailboxes(self.worker_id):
            run = self.running.get(key)
            if run is not None:
                run.runner.outbox.waiting.set()
                woken += 1
        return woken

    async def _watch_outboxes(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.wake_outboxes()
            except Exception:
                log.exception("fetcher.outbox_poll_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.outbox_poll_seconds)

    async def _follow_config_events(self, stop: asyncio.Event) -> None:
        sub = self.c.bus.subscribe(f"fetcher.{self.worker_id}", [TENANT_CONFIG_UPDATED])
        try:
            while not stop.is_set():
                try:
                    records = await sub.fetch(100, 1.0)
                except Exception:
                    log.exception("fetcher.config_events_failed")
                    await asyncio.sleep(1.0)
                    continue
                for record in records:
                    change = TenantConfigUpdated.of(record.envelope)
                    if change.what == MAILBOX_CHANGED:
                        self.wake(record.envelope.tenant_id, change.object_id)
                    elif change.what.startswith(("mailbox.", "tenant.")):
                        self._changed.set()
                if records:
                    await sub.commit(records)
        finally:
            with contextlib.suppress(Exception):
                await sub.close()
