"""One mailbox's sync, for as long as this worker holds its lease.

sync → wait for a change (push, or the poll interval) → sync again. Around each
sync the users' changes waiting in the mailbox's outbox are made at the provider
(``outbox.OutboxDrain``): before it, so the sync sees them made, and after it, for
what was queued meanwhile; the engine wakes the runner when changes wait. A retryable
failure backs off (doubling, honouring the provider's Retry-After, capped); a
permanent one (bad password, revoked consent, a forbidden host) is shown in the
mailbox's status and the runner parks: no retry loop against a server that will
say no again. Changing the mailbox's settings restarts it (the engine sees
``updated_at`` move).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import structlog

from inboxhub.domain.models import Mailbox
from inboxhub.providers.base import (
    Connector,
    ConnectorContext,
    Cursor,
    ProviderConfigError,
    ProviderError,
)
from inboxhub.runtime import Container
from inboxhub.services.fetcher import metrics, registry
from inboxhub.services.fetcher.outbox import OutboxDrain
from inboxhub.services.fetcher.sink import LeaseLost, PipelineSink, SqlItemMap
from inboxhub.services.fetcher.status_events import StatusEvents

log = structlog.get_logger(__name__)


async def load_secrets(c: Container, tenant_id: str, mailbox_id: str) -> dict[str, Any]:
    sealed = await c.directory.get_mailbox_credentials(tenant_id, mailbox_id)
    if sealed is None:
        return {}
    secrets: dict[str, Any] = json.loads(c.box.decrypt(sealed))
    return secrets


def seal_secrets(c: Container, secrets: dict[str, Any]) -> bytes:
    return c.box.encrypt(json.dumps(secrets).encode())


async def build_connector(c: Container, mailbox: Mailbox) -> Connector:
    secrets = await load_secrets(c, mailbox.tenant_id, mailbox.id)
    try:
        config = registry.validate(mailbox.provider, {**mailbox.config, **secrets})
    except Exception as exc:  # settings stored by an older version, say
        raise ProviderConfigError(str(exc)) from exc

    async def save_secrets(updated: dict[str, Any]) -> None:
        await c.directory.set_mailbox_credentials(
            mailbox.tenant_id, mailbox.id, seal_secrets(c, {**secrets, **updated})
        )

    ctx = ConnectorContext(
        tenant_id=mailbox.tenant_id,
        mailbox_id=mailbox.id,
        app=c.settings,
        items=SqlItemMap(c.sync, mailbox.tenant_id, mailbox.id),
        save_secrets=save_secrets,
    )
    connector: Connector = registry.module(mailbox.provider).CONNECTOR(config, secrets, ctx)
    return connector


@dataclass
class MailboxRunner:
    c: Container
    mailbox: Mailbox
    worker_id: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    outbox: OutboxDrain = field(init=False)
    status: StatusEvents = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = OutboxDrain(self.c, self.mailbox, self.worker_id)
        self.status = StatusEvents(self.c.bus, self.c.sync, *self._ids)

    @property
    def _ids(self) -> tuple[str, str]:
        return self.mailbox.tenant_id, self.mailbox.id

    def sink(self) -> PipelineSink:
        c = self.c
        return PipelineSink(
            *self._ids, self.worker_id, c.ingest(), c.emails, c.search, c.bus, c.sync
        )

    async def run(self) -> None:
        s = self.c.settings
        backoff = 1.0
        with contextlib.suppress(Exception):
            await self.status.load()
        while True:
            connector: Connector | None = None
            delay: float | None = None  # None: a permanent failure, park
            try:
                connector = await build_connector(self.c, self.mailbox)
                while True:
                    await self.outbox.drain(connector)
                    cursor = await self._sync_once(connector)
                    backoff = 1.0
                    await self.outbox.drain(connector)
                    await self._wait_for_change(connector, cursor, s.fetcher_poll_seconds)
            except LeaseLost:
                log.info("fetcher.lease_lost", mailbox=self.mailbox.id)
                return
            except ProviderError as exc:
                if exc.retryable:
                    delay = min(s.fetcher_max_backoff_seconds, exc.retry_after or backoff)
                await self._failed(str(exc), "retrying" if exc.retryable else "error")
            except Exception as exc:
                log.exception("fetcher.sync_crashed", mailbox=self.mailbox.id)
                delay = min(s.fetcher_max_backoff_seconds, backoff)
                # Tenants see the status: the details stay in the operators' logs.
                message = f"internal error ({type(exc).__name__}); retrying"
                await self._failed(message, "retrying", kind="internal")
            finally:
                if connector is not None:
                    with contextlib.suppress(Exception):
                        await connector.close()
            if delay is None:
                await asyncio.Event().wait()  # until the engine cancels us
            backoff = min(s.fetcher_max_backoff_seconds, backoff * 2)
            await asyncio.sleep(delay or 0)

    async def _sync_once(self, connector: Connector) -> Cursor:
        tenant_id, mailbox_id = self._ids
        sink = self.sink()
        await self.c.sync.set_status(tenant_id, mailbox_id, "syncing")
        self.wake.clear()
        cursor = await self.c.directory.get_sync_state(tenant_id, mailbox_id)
        cursor = await connector.sync(cursor, sink)
        await sink.checkpoint(cursor)
        await self.c.sync.set_status(tenant_id, mailbox_id, "idle", finished=True)
        await self.status.now("idle")
        metrics.SYNCS.labels(self.mailbox.provider).inc()
        metrics.MESSAGES.labels(self.mailbox.provider).inc(sink.published)
        if sink.published:
            log.info("fetcher.synced", mailbox=mailbox_id, new=sink.published)
        return cursor

    async def _wait_for_change(self, connector: Connector, cursor: Cursor, timeout: float) -> None:
        """Until the connector sees a change, the engine wakes us (a push
        notification, a settings change, changes waiting in the outbox) or ``timeout``
        passes. While the outbox is held back after a failure, its wake-ups are
        ignored until the hold ends."""
        held = self.outbox.holding
        outbox = asyncio.sleep(held) if held else self.outbox.waiting.wait()
        await first_of(connector.wait_for_change(cursor, timeout), self.wake.wait(), outbox)

    async def _failed(self, message: str, state: str, kind: str | None = None) -> None:
        log.warning("fetcher.sync_failed", mailbox=self.mailbox.id, state=state, error=message)
        metrics.SYNC_ERRORS.labels(self.mailbox.provider, kind or state).inc()
        with contextlib.suppress(Exception):
            await self.c.sync.set_status(*self._ids, state, error=message)
            await self.status.now(state, message)


async def first_of(*waits: Awaitable[Any]) -> None:
    """Wait for the first of ``waits`` to finish; cancel the others. A failure of the
    one that finished is raised."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
