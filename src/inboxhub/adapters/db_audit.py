"""The audit trail in the relational store (``ports.AuditStore``): a hash chain per
tenant (``services/audit/chain.py``).

Appends are serialised per tenant on the tenant's ``audit_chains`` row: locked
(``SELECT … FOR UPDATE``) on PostgreSQL in the insert's transaction, so two audit
consumers cannot fork the chain; SQLite serialises writers by itself. Rows written
before revision 0009 are chained, oldest first, when the tenant's chain row is made
(its first append or verify after the upgrade). A purge deletes the oldest records
and moves the chain's anchor (the last purged record's seq and hash) up to them.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_tables import audit_chains, audit_log
from inboxhub.crypto import SecretBox
from inboxhub.domain.audit import (
    AuditEntry,
    AuditFilter,
    AuditPolicy,
    AuditVerification,
)
from inboxhub.services.audit.chain import GENESIS, commitment, row_hash, timestamp

PAGE = 500


class SqlAuditStore:
    def __init__(self, directory: SqlDirectory, box: SecretBox) -> None:
        self._db = directory
        self._box = box
        self._keys: dict[str, bytes] = {}

    # ------------------------------------------------------------ writing

    async def append(self, tenant_id: str, entry: AuditEntry) -> bool:
        await self._ensure_chain(tenant_id)
        async with self._db.tx(tenant_id) as conn:
            head = await self._locked_head(conn, tenant_id)
            known = select(audit_log.c.event_id).where(audit_log.c.event_id == entry.event_id)
            if (await conn.execute(known)).first():
                return False  # redelivered
            if head is not None:
                await self._chain(conn, tenant_id, head, [entry])
                return True
        self._keys.pop(tenant_id, None)  # the tenant's trail was erased meanwhile: anew
        return await self.append(tenant_id, entry)

    async def _chain(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        head: Any,
        entries: list[AuditEntry],
        stored: bool = False,
    ) -> None:
        """Insert ``entries`` (or, ``stored``, chain those already in the table) after
        the locked ``head``, and move the head."""
        key = self._key(tenant_id, head.key)
        seq, prev = int(head.head_seq), str(head.head_hash)
        for e in entries:
            seq += 1
            values = {
                "event_id": e.event_id,
                "tenant_id": tenant_id,
                "time": e.time,
                "actor_id": e.actor_id,
                "action": e.action,
                "object_id": e.object_id,
                "detail": e.detail,
                "outcome": e.outcome,
                "request_id": e.request_id,
                "seq": seq,
                "prev_hash": prev,
                "commitment": commitment(key, e.actor_id, e.object_id, e.detail),
            }
            prev = values["hash"] = row_hash(tenant_id, _Row(values))
            await conn.execute(
                update(audit_log).where(audit_log.c.event_id == e.event_id).values(values)
                if stored
                else insert(audit_log).values(values)
            )
        await conn.execute(
            update(audit_chains)
            .where(audit_chains.c.tenant_id == tenant_id)
            .values(head_seq=seq, head_hash=prev)
        )

    async def _ensure_chain(self, tenant_id: str) -> None:
        """The tenant's chain row, made (with its key) on first use; the rows of
        before revision 0009 are chained then."""
        if tenant_id in self._keys:
            return
        async with self._db.tx(tenant_id) as conn:
            found = await conn.execute(
                select(audit_chains.c.key).where(audit_chains.c.tenant_id == tenant_id)
            )
            if row := found.first():
                self._key(tenant_id, row.key)
                return
        with contextlib.suppress(IntegrityError):  # another process made it first
            async with self._db.tx(tenant_id) as conn:
                sealed = self._box.encrypt(secrets.token_bytes(32))
                await conn.execute(
                    insert(audit_chains).values(
                        tenant_id=tenant_id,
                        head_seq=0,
                        head_hash=GENESIS,
                        anchor_seq=0,
                        anchor_hash=GENESIS,
                        key=sealed,
                    )
                )
                head = await self._locked_head(conn, tenant_id)
                legacy = await conn.execute(
                    select(audit_log)
                    .where(audit_log.c.tenant_id == tenant_id, audit_log.c.seq.is_(None))
                    .order_by(audit_log.c.time, audit_log.c.event_id)
                )
                entries = [_entry(r) for r in legacy]
                await self._chain(conn, tenant_id, head, entries, stored=True)

    @staticmethod
    async def _locked_head(conn: AsyncConnection, tenant_id: str) -> Any:
        """The chain's head, locked until the transaction ends. SQLite locks the whole
        database for a writer: writing first takes that lock before anything is read
        (a read first would fail, not wait, when another writer commits meanwhile)."""
        ours = audit_chains.c.tenant_id == tenant_id
        if conn.dialect.name == "sqlite":
            await conn.execute(
                update(audit_chains).where(ours).values(head_seq=audit_chains.c.head_seq)
            )
        return (await conn.execute(select(audit_chains).where(ours).with_for_update())).first()

    def _key(self, tenant_id: str, sealed: bytes) -> bytes:
        if tenant_id not in self._keys:
            self._keys[tenant_id] = self._box.decrypt(bytes(sealed))
        return self._keys[tenant_id]

    # ------------------------------------------------------------ reading

    async def query(
        self, tenant_id: str, where: AuditFilter, before_seq: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """Newest first; the next page is ``before_seq`` = the last item's ``seq``."""
        await self._ensure_chain(tenant_id)
        query = _filtered(tenant_id, where).order_by(audit_log.c.seq.desc()).limit(limit)
        if before_seq is not None:
            query = query.where(audit_log.c.seq < before_seq)
        async with self._db.tx(tenant_id) as conn:
            return [_item(r) for r in await conn.execute(query)]

    async def pages(
        self, tenant_id: str, where: AuditFilter, size: int = PAGE
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every matching record, newest first, ``size`` at a time (for exports)."""
        before: int | None = None
        while True:
            page = await self.query(tenant_id, where, before, size)
            if page:
                yield page
            if len(page) < size:
                return
            before = int(page[-1]["seq"])

    async def verify(self, tenant_id: str) -> AuditVerification:
        await self._ensure_chain(tenant_id)
        async with self._db.tx(tenant_id) as conn:
            head = (
                await conn.execute(
                    select(audit_chains).where(audit_chains.c.tenant_id == tenant_id)
                )
            ).one()
            stray = (
                await conn.execute(
                    select(func.min(audit_log.c.time)).where(
                        audit_log.c.tenant_id == tenant_id,
                        (audit_log.c.seq.is_(None)) | (audit_log.c.seq <= head.anchor_seq),
                    )
                )
            ).scalar()
        key = self._key(tenant_id, head.key)
        seq, prev, count = int(head.anchor_seq), str(head.anchor_hash), 0

        def broken(at: int, reason: str) -> AuditVerification:
            return AuditVerification(tenant_id, count, at, reason)

        while seq < head.head_seq:
            async with self._db.tx(tenant_id) as conn:
                rows = list(
                    await conn.execute(
                        select(audit_log)
                        .where(
                            audit_log.c.tenant_id == tenant_id,
                            audit_log.c.seq > seq,
                            audit_log.c.seq <= head.head_seq,
                        )
                        .order_by(audit_log.c.seq)
                        .limit(PAGE)
                    )
                )
            if not rows:
                return broken(seq + 1, "missing record(s) at the end of the chain")
            for row in rows:
                if row.seq != seq + 1:
                    return broken(seq + 1, "missing record")
                if row.prev_hash != prev or row.hash != row_hash(tenant_id, row):
                    return broken(row.seq, "hash does not match")
                personal = commitment(key, row.actor_id, row.object_id, row.detail)
                if not row.erased and personal != row.commitment:
                    return broken(row.seq, "personal fields do not match their commitment")
                seq, prev, count = row.seq, row.hash, count + 1
        if prev != head.head_hash:
            return broken(seq, "the last record is not the chain's head")
        if stray is not None:
            return broken(await self._seq_after(tenant_id, stray), "record outside the chain")
        return AuditVerification(tenant_id, count)

    async def _seq_after(self, tenant_id: str, time: datetime) -> int:
        """Where a record of ``time`` outside the chain sits: the first chained record
        not older than it."""
        async with self._db.tx(tenant_id) as conn:
            found = await conn.execute(
                select(func.min(audit_log.c.seq)).where(
                    audit_log.c.tenant_id == tenant_id, audit_log.c.time >= time
                )
            )
            return int(found.scalar() or 0)

    # ------------------------------------------------------------ retention

    async def policy(self, tenant_id: str) -> AuditPolicy:
        await self._ensure_chain(tenant_id)
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(audit_chains.c.retention_days, audit_chains.c.legal_hold).where(
                        audit_chains.c.tenant_id == tenant_id
                    )
                )
            ).one()
        return AuditPolicy(row.retention_days, bool(row.legal_hold))

    async def set_policy(self, tenant_id: str, policy: AuditPolicy) -> None:
        await self._ensure_chain(tenant_id)
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(audit_chains)
                .where(audit_chains.c.tenant_id == tenant_id)
                .values(retention_days=policy.retention_days, legal_hold=policy.legal_hold)
            )

    async def purge(self, tenant_id: str, now: datetime) -> int:
        """Delete the records older than the retention (none under legal hold), oldest
        first and without gaps; the last one deleted becomes the chain's anchor."""
        await self._ensure_chain(tenant_id)
        async with self._db.tx(tenant_id) as conn:
            head = await self._locked_head(conn, tenant_id)
            if head is None or head.legal_hold or head.retention_days is None:
                return 0
            cutoff = now - timedelta(days=int(head.retention_days))
            ours = audit_log.c.tenant_id == tenant_id
            kept = (
                await conn.execute(
                    select(func.min(audit_log.c.seq)).where(ours, audit_log.c.time >= cutoff)
                )
            ).scalar()
            last = int(head.head_seq) if kept is None else int(kept) - 1
            if last <= head.anchor_seq:
                return 0
            anchor = (
                await conn.execute(select(audit_log.c.hash).where(ours, audit_log.c.seq == last))
            ).scalar_one()
            gone = await conn.execute(
                audit_log.delete().where(
                    ours, audit_log.c.seq > head.anchor_seq, audit_log.c.seq <= last
                )
            )
            await conn.execute(
                update(audit_chains)
                .where(audit_chains.c.tenant_id == tenant_id)
                .values(anchor_seq=last, anchor_hash=anchor)
            )
        return int(gone.rowcount or 0)


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        event_id=row.event_id,
        time=row.time,
        action=row.action,
        actor_id=row.actor_id,
        object_id=row.object_id,
        detail=dict(row.detail or {}),
        outcome=row.outcome,
        request_id=row.request_id,
    )


def _filtered(tenant_id: str, where: AuditFilter) -> Select[Any]:
    query = select(audit_log).where(
        audit_log.c.tenant_id == tenant_id, audit_log.c.seq.is_not(None)
    )
    if where.actor_id is not None:
        query = query.where(audit_log.c.actor_id == where.actor_id)
    if where.action is not None:
        query = query.where(audit_log.c.action == where.action)
    if where.since is not None:
        query = query.where(audit_log.c.time >= where.since)
    if where.until is not None:
        query = query.where(audit_log.c.time < where.until)
    return query


def _item(row: Any) -> dict[str, Any]:
    detail = dict(row.detail or {})
    return {
        "seq": row.seq,
        "id": row.event_id,
        "time": timestamp(row.time),
        "actor_id": row.actor_id,
        "action": row.action,
        "object_id": row.object_id,
        "outcome": row.outcome,
        "request_id": row.request_id,
        "ip": detail.get("ip"),
        "user_agent": detail.get("user_agent"),
        "detail": detail,
    }
