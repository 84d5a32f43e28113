"""The fetcher's shared state on SQLAlchemy (``ports.SyncStore``), beside the
directory's tables and under the same tenant wall (``SqlDirectory.tx``).

A lease is two columns of ``sync_state``: whoever's lease has expired (or who holds
none) may take it with one conditional UPDATE, so two workers can never both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import fetcher_workers, mailboxes, provider_items, sync_state
from inboxhub.adapters.sqlite_thread import in_chunks
from inboxhub.domain.models import SyncStatus


class SqlSyncStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory
        self._insert = (
            postgresql.insert if directory.engine.dialect.name == "postgresql" else sqlite.insert
        )

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
