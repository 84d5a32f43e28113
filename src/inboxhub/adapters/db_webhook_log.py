"""The webhook delivery log on SQLAlchemy: the half of ``ports.WebhookStore`` that
workers use (``db_webhooks.py`` has the subscriptions).

A claim is a compare-and-set on the delivery row: a due row (pending, its
``next_attempt_at`` passed) is taken by moving ``next_attempt_at`` to the end of the
lease and writing a fresh ``claim_token``, on the condition that neither changed
since it was read. Of two workers reading the same row, one UPDATE matches and the
other's matches nothing, on SQLite and PostgreSQL alike. The result of an attempt is
recorded only under the token that claimed it; a worker that died mid-attempt lets
its lease run out and the row becomes due again (receivers deduplicate by the
``Inboxhub-Delivery`` id).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _utc
from inboxhub.adapters.db_tables import webhook_deliveries as wd
from inboxhub.adapters.db_tables import webhooks as wh
from inboxhub.domain.webhooks import (
    ACTIVE,
    DELIVERED,
    DISABLED,
    FAILED,
    PENDING,
    AttemptResult,
    Claimed,
    Delivery,
    DisablePolicy,
    NewDelivery,
)


def delivery_id() -> str:
    """Time-ordered (milliseconds first), so the log pages newest first by id."""
    return f"{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


def _at(value: datetime | None) -> datetime | None:
    return _utc(value) if value is not None else None


def _mine(tenant_id: str, webhook_id: str) -> Any:
    return and_(wh.c.tenant_id == tenant_id, wh.c.id == webhook_id)


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        tenant_id=row.tenant_id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        body=bytes(row.body),
        state=row.state,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        next_attempt_at=_at(row.next_attempt_at) if row.state == PENDING else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        response_excerpt=row.response_excerpt,
        duration_ms=row.duration_ms,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


class SqlWebhookLog:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory
        self._insert = directory.insert_or

    async def enqueue(
        self, deliveries: Sequence[NewDelivery], max_attempts: int, now: datetime
    ) -> list[str]:
        ids: list[str] = []
        for tenant_id in dict.fromkeys(d.tenant_id for d in deliveries):
            mine = [d for d in deliveries if d.tenant_id == tenant_id]
            async with self._db.tx(tenant_id) as conn:
                for d in mine:
                    stmt = self._insert(wd).values(
                        id=delivery_id(),
                        tenant_id=tenant_id,
                        webhook_id=d.webhook_id,
                        event_id=d.event_id,
                        event_type=d.event_type,
                        body=d.body,
                        state=PENDING,
                        attempts=0,
                        max_attempts=max_attempts,
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                    await conn.execute(
                        stmt.on_conflict_do_nothing(index_elements=["webhook_id", "event_id"])
                    )
                    found = await conn.execute(
                        select(wd.c.id).where(
                            wd.c.webhook_id == d.webhook_id, wd.c.event_id == d.event_id
                        )
                    )
                    ids.append(found.scalar_one())
        return ids

    async def claim(self, now: datetime, lease_seconds: float, limit: int) -> list[Claimed]:
        until = now + timedelta(seconds=lease_seconds)
        async with self._db.tx(PLATFORM) as conn:
            due = await conn.execute(
                select(wd.c.id, wd.c.tenant_id, wd.c.next_attempt_at, wd.c.claim_token, wh.c.url)
                .join(wh, wh.c.id == wd.c.webhook_id)
                .where(wd.c.state == PENDING, wd.c.next_attempt_at <= now, wh.c.status == ACTIVE)
                .order_by(wd.c.next_attempt_at)
                .limit(limit)
            )
            candidates = list(due)
        taken: list[Claimed] = []
        for row in candidates:
            token = secrets.token_hex(16)
            async with self._db.tx(row.tenant_id) as conn:
                same = (
                    wd.c.claim_token.is_(None)
                    if row.claim_token is None
                    else (wd.c.claim_token == row.claim_token)
                )
                won = await conn.execute(
                    update(wd)
                    .where(
                        wd.c.id == row.id,
                        wd.c.state == PENDING,
                        wd.c.next_attempt_at == row.next_attempt_at,
                        same,
                    )
                    .values(next_attempt_at=until, claim_token=token)
                )
                if not won.rowcount:
                    continue  # another worker took it between the read and now
                got = (await conn.execute(select(wd).where(wd.c.id == row.id))).one()
            taken.append(Claimed(_delivery(got), token, row.url))
        return taken

    async def record_attempt(
        self,
        claimed: Claimed,
        result: AttemptResult,
        now: datetime,
        retry_at: datetime | None,
        policy: DisablePolicy,
    ) -> Delivery | None:
        d = claimed.delivery
        state = DELIVERED if result.ok else (PENDING if retry_at is not None else FAILED)
        async with self._db.tx(d.tenant_id) as conn:
            done = await conn.execute(
                update(wd)
                .where(wd.c.id == d.id, wd.c.claim_token == claimed.token, wd.c.state == PENDING)
                .values(
                    state=state,
                    attempts=wd.c.attempts + 1,
                    next_attempt_at=retry_at,
                    claim_token=None,
                    last_status_code=result.status_code,
                    last_error=(result.error or "")[:1000] or None,
                    response_excerpt=result.response_excerpt,
                    duration_ms=result.duration_ms,
                    updated_at=now,
                )
            )
            if not done.rowcount:
                return None  # the lease ran out and another worker has it
            await self._count(conn, d, result.ok, state == FAILED, now, policy)
            row = (await conn.execute(select(wd).where(wd.c.id == d.id))).one()
        return _delivery(row)

    async def _count(
        self, conn: Any, d: Delivery, ok: bool, failed: bool, now: datetime, policy: DisablePolicy
    ) -> None:
        """The subscription's failure streak: reset by a success, lengthened by a
        delivery that failed for good, which disables it past ``policy``."""
        mine = _mine(d.tenant_id, d.webhook_id)
        if ok:
            await conn.execute(
                update(wh).where(mine).values(consecutive_failures=0, failing_since=None)
            )
            return
        sub = (
            await conn.execute(select(wh.c.consecutive_failures, wh.c.failing_since).where(mine))
        ).first()
        if sub is None:
            return
        since = _at(sub.failing_since) or now
        values: dict[str, Any] = {"failing_since": since}
        if failed:
            streak = sub.consecutive_failures + 1
            values["consecutive_failures"] = streak
            failing_for = (now - since).total_seconds()
            reason = None
            if streak >= policy.after_failures:
                reason = f"{streak} deliveries in a row failed"
            elif failing_for >= policy.after_seconds:
                reason = f"every delivery failed for {failing_for / 3600:.1f} hours"
            if reason is not None:
                values.update(status=DISABLED, disabled_reason=reason, disabled_at=now)
        await conn.execute(update(wh).where(mine, wh.c.status == ACTIVE).values(values))

    async def deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        state: str | None,
        before: str | None,
        limit: int,
    ) -> list[Delivery]:
        query = select(wd).where(wd.c.tenant_id == tenant_id, wd.c.webhook_id == webhook_id)
        if state is not None:
            query = query.where(wd.c.state == state)
        if before is not None:
            query = query.where(wd.c.id < before)
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(query.order_by(wd.c.id.desc()).limit(limit))
            return [_delivery(r) for r in rows]

    async def delivery(self, tenant_id: str, webhook_id: str, delivery_id: str) -> Delivery | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(wd).where(
                        wd.c.tenant_id == tenant_id,
                        wd.c.webhook_id == webhook_id,
                        wd.c.id == delivery_id,
                    )
                )
            ).first()
        return _delivery(row) if row else None

    async def replay(
        self, tenant_id: str, webhook_id: str, delivery_id: str, now: datetime
    ) -> Delivery | None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(wd)
                .where(
                    wd.c.tenant_id == tenant_id,
                    wd.c.webhook_id == webhook_id,
                    wd.c.id == delivery_id,
                    wd.c.state != PENDING,
                )
                .values(
                    state=PENDING,
                    max_attempts=wd.c.attempts + 1,
                    next_attempt_at=now,
                    claim_token=None,
                    updated_at=now,
                )
            )
        return await self.delivery(tenant_id, webhook_id, delivery_id)

    async def prune(self, older_than: datetime) -> int:
        async with self._db.tx(PLATFORM) as conn:
            done = await conn.execute(
                delete(wd).where(wd.c.state != PENDING, wd.c.updated_at < older_than)
            )
            return int(done.rowcount or 0)
