"""The fetcher's shared state on SQLAlchemy (``ports.SyncStore``), beside the
directory's tables and under the same tenant wall (``SqlDirectory.tx``).

A lease is two columns of ``sync_state``: whoever's lease has expired (or who holds
none) may take it with one conditional UPDATE, so two workers can never both win.

The outbox (``mail_outbox``) keeps the users' changes for the provider in ``id``
order. An entry that failed ``OUTBOX_MAX_ATTEMPTS`` times is dropped: logged, and
shown as the mailbox's last error, so one change the provider keeps failing on
cannot hold up the changes behind it for ever.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import (
    fetcher_workers,
    mail_outbox,
    mailboxes,
    provider_items,
    sync_state,
)
from inboxhub.adapters.sqlite_thread import in_chunks
from inboxhub.domain.models import MailChange, OutboxEntry, SyncStatus

log = structlog.get_logger(__name__)
OUTBOX_MAX_ATTEMPTS = 10


class SqlSyncStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory
        self._insert = directory.insert_or

    async def heartbeat(self, worker_id: str, ttl: float) -> list[str]:
        now = _now()
        async with self._db.tx(PLATFORM) as conn:
            stmt = self._insert(fetcher_workers).values(worker_id=worker_id, heartbeat_at=now)
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"heartbeat_at": now})
            )
            cutoff = now - timedelta(seconds=ttl)
            stale = now - timedelta(seconds=ttl * 10)  # long gone: tidy up
            await conn.execute(
                delete(fetcher_workers).where(fetcher_workers.c.heartbeat_at < stale)
            )
            rows = await conn.execute(
                select(fetcher_workers.c.worker_id).where(fetcher_workers.c.heartbeat_at >= cutoff)
            )
            return sorted(r.worker_id for r in rows)

    async def forget_worker(self, worker_id: str) -> None:
        async with self._db.tx(PLATFORM) as conn:
            await conn.execute(
                delete(fetcher_workers).where(fetcher_workers.c.worker_id == worker_id)
            )

    async def mailboxes_to_sync(self) -> list[Any]:
        async with self._db.tx(PLATFORM) as conn:
            rows = await conn.execute(
                select(mailboxes)
                .where(mailboxes.c.status == "active")
                .order_by(mailboxes.c.tenant_id, mailboxes.c.id)
            )
            return [SqlDirectory._mailbox(r) for r in rows]

    async def _ensure_row(self, conn: AsyncConnection, tenant_id: str, mailbox_id: str) -> None:
        stmt = self._insert(sync_state).values(tenant_id=tenant_id, mailbox_id=mailbox_id, state={})
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "mailbox_id"]))

    @staticmethod
    def _where(tenant_id: str, mailbox_id: str) -> Any:
        return and_(sync_state.c.tenant_id == tenant_id, sync_state.c.mailbox_id == mailbox_id)

    async def claim(self, tenant_id: str, mailbox_id: str, worker_id: str, ttl: float) -> bool:
        now = _now()
        async with self._db.tx(tenant_id) as conn:
            await self._ensure_row(conn, tenant_id, mailbox_id)
            free = or_(
                sync_state.c.lease_owner.is_(None),
                sync_state.c.lease_owner == worker_id,
                sync_state.c.lease_expires_at < now,
            )
            done = await conn.execute(
                update(sync_state)
                .where(self._where(tenant_id, mailbox_id), free)
                .values(lease_owner=worker_id, lease_expires_at=now + timedelta(seconds=ttl))
            )
            return bool(done.rowcount)

    async def release(self, tenant_id: str, mailbox_id: str, worker_id: str) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(sync_state)
                .where(self._where(tenant_id, mailbox_id), sync_state.c.lease_owner == worker_id)
                .values(lease_owner=None, lease_expires_at=None)
            )

    async def save_cursor(
        self, tenant_id: str, mailbox_id: str, worker_id: str, cursor: dict[str, Any]
    ) -> bool:
        async with self._db.tx(tenant_id) as conn:
            done = await conn.execute(
                update(sync_state)
                .where(self._where(tenant_id, mailbox_id), sync_state.c.lease_owner == worker_id)
                .values(state=cursor)
            )
            return bool(done.rowcount)

    async def set_status(
        self,
        tenant_id: str,
        mailbox_id: str,
        state: str,
        *,
        error: str | None = None,
        synced: int = 0,
        finished: bool = False,
    ) -> None:
        now = _now()
        values: dict[str, Any] = {"sync_status": state}
        if error is not None:
            values.update(last_error=error[:2000], last_error_at=now)
        if finished:
            values.update(last_sync_at=now, last_error=None, last_error_at=None)
        if synced:
            values["messages_synced"] = sync_state.c.messages_synced + synced
        async with self._db.tx(tenant_id) as conn:
            await self._ensure_row(conn, tenant_id, mailbox_id)
            await conn.execute(
                update(sync_state).where(self._where(tenant_id, mailbox_id)).values(**values)
            )

    async def get_status(self, tenant_id: str, mailbox_id: str) -> SyncStatus:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(select(sync_state).where(self._where(tenant_id, mailbox_id)))
            ).first()
        if row is None or row.sync_status is None:
            return SyncStatus()
        live = row.lease_expires_at is not None and _utc(row.lease_expires_at) > _now()
        return SyncStatus(
            state=row.sync_status,
            last_sync_at=_utc(row.last_sync_at) if row.last_sync_at else None,
            last_error=row.last_error,
            last_error_at=_utc(row.last_error_at) if row.last_error_at else None,
            messages_synced=row.messages_synced or 0,
            worker=row.lease_owner if live else None,
        )

    # ---------------------------------------------------------------- item maps

    @staticmethod
    def _items(tenant_id: str, mailbox_id: str, folder: str) -> Any:
        return and_(
            provider_items.c.tenant_id == tenant_id,
            provider_items.c.mailbox_id == mailbox_id,
            provider_items.c.folder == folder,
        )

    async def items_get(
        self, tenant_id: str, mailbox_id: str, folder: str, refs: Sequence[str] | None
    ) -> dict[str, str]:
        where = self._items(tenant_id, mailbox_id, folder)
        query = select(provider_items.c.ref, provider_items.c.value)
        found: dict[str, str] = {}
        async with self._db.tx(tenant_id) as conn:
            if refs is None:
                rows = await conn.execute(query.where(where))
                return {r.ref: r.value for r in rows}
            for part in in_chunks(list(refs)):
                rows = await conn.execute(query.where(where, provider_items.c.ref.in_(part)))
                found.update({r.ref: r.value for r in rows})
        return found

    async def items_put(
        self, tenant_id: str, mailbox_id: str, folder: str, items: dict[str, str]
    ) -> None:
        if not items:
            return
        rows = [
            {
                "tenant_id": tenant_id,
                "mailbox_id": mailbox_id,
                "folder": folder,
                "ref": r,
                "value": v,
            }
            for r, v in items.items()
        ]
        stmt = self._insert(provider_items)
        upsert = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "mailbox_id", "folder", "ref"],
            set_={"value": stmt.excluded.value},
        )
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(upsert, rows)  # one statement, executemany: compiled once

    async def items_drop(
        self, tenant_id: str, mailbox_id: str, folder: str, refs: Sequence[str] | None
    ) -> None:
        where = self._items(tenant_id, mailbox_id, folder)
        async with self._db.tx(tenant_id) as conn:
            if refs is None:
                await conn.execute(delete(provider_items).where(where))
                return
            for part in in_chunks(list(refs)):
                await conn.execute(
                    delete(provider_items).where(where, provider_items.c.ref.in_(part))
                )

    # ---------------------------------------------------------------- outbox

    @staticmethod
    def _outbox(tenant_id: str, mailbox_id: str) -> Any:
        return and_(mail_outbox.c.tenant_id == tenant_id, mail_outbox.c.mailbox_id == mailbox_id)

    async def outbox_put(
        self, tenant_id: str, mailbox_id: str, changes: Sequence[MailChange]
    ) -> None:
        if not changes:
            return
        now = _now()
        rows = [
            {
                "tenant_id": tenant_id,
                "mailbox_id": mailbox_id,
                "change": change.model_dump(mode="json"),
                "created_at": now,
            }
            for change in changes
        ]
        async with self._db.tx(tenant_id) as conn:
            for row in rows:  # one by one: ids follow the order of ``changes``
                await conn.execute(mail_outbox.insert().values(**row))

    async def outbox_take(self, tenant_id: str, mailbox_id: str, limit: int) -> list[OutboxEntry]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(mail_outbox)
                .where(self._outbox(tenant_id, mailbox_id))
                .order_by(mail_outbox.c.id)
                .limit(limit)
            )
            return [
                OutboxEntry(
                    id=r.id,
                    mailbox_id=r.mailbox_id,
                    change=MailChange.model_validate(r.change),
                    attempts=r.attempts,
                )
                for r in rows
            ]

    async def outbox_done(
        self, tenant_id: str, mailbox_id: str, ids: Sequence[int], error: str | None = None
    ) -> None:
        if not ids:
            return
        mine = self._outbox(tenant_id, mailbox_id)
        async with self._db.tx(tenant_id) as conn:
            for part in in_chunks(list(ids)):
                chosen = and_(mine, mail_outbox.c.id.in_(part))
                if error is None:
                    await conn.execute(delete(mail_outbox).where(chosen))
                    continue
                await conn.execute(
                    update(mail_outbox)
                    .where(chosen)
                    .values(attempts=mail_outbox.c.attempts + 1, last_error=error[:2000])
                )
                given_up = and_(chosen, mail_outbox.c.attempts >= OUTBOX_MAX_ATTEMPTS)
                dropped = list(
                    await conn.execute(
                        select(mail_outbox.c.id, mail_outbox.c.change).where(given_up)
                    )
                )
                if dropped:
                    await self._drop_failed(conn, tenant_id, mailbox_id, dropped, error)

    async def _drop_failed(
        self, conn: AsyncConnection, tenant_id: str, mailbox_id: str, rows: list[Any], error: str
    ) -> None:
        for row in rows:
            log.error(
                "outbox.change_dropped",
                tenant=tenant_id,
                mailbox=mailbox_id,
                entry=row.id,
                email=row.change.get("email_id"),
                attempts=OUTBOX_MAX_ATTEMPTS,
                error=error,
            )
        await conn.execute(delete(mail_outbox).where(mail_outbox.c.id.in_([r.id for r in rows])))
        await self._ensure_row(conn, tenant_id, mailbox_id)
        message = (
            f"{len(rows)} change(s) could not be made at the provider after "
            f"{OUTBOX_MAX_ATTEMPTS} attempts and were given up: {error}"
        )
        await conn.execute(
            update(sync_state)
            .where(self._where(tenant_id, mailbox_id))
            .values(
                last_error=message[:2000],
                last_error_at=_now(),
                sync_status=func.coalesce(sync_state.c.sync_status, "pending"),
            )
        )

    async def outbox_mailboxes(self, worker_id: str) -> list[tuple[str, str]]:
        waiting = exists().where(
            mail_outbox.c.tenant_id == sync_state.c.tenant_id,
            mail_outbox.c.mailbox_id == sync_state.c.mailbox_id,
        )
        async with self._db.tx(PLATFORM) as conn:
            rows = await conn.execute(
                select(sync_state.c.tenant_id, sync_state.c.mailbox_id).where(
                    sync_state.c.lease_owner == worker_id, waiting
                )
            )
            return [(r.tenant_id, r.mailbox_id) for r in rows]
