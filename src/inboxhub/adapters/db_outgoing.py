"""Outgoing messages and uploads on SQLAlchemy (``ports.OutgoingStore``), under the
tenant wall.

A worker claims a message with one conditional ``UPDATE`` per candidate (``WHERE``
the message is still due and its lease free): on PostgreSQL a second worker's
``UPDATE`` of the same row waits for the first and then finds the condition false;
SQLite runs one writer at a time. Either way one worker gets the row.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from inboxhub.adapters.db import PLATFORM, SqlDirectory
from inboxhub.adapters.db_tables import outgoing_messages as om
from inboxhub.adapters.db_tables import uploads
from inboxhub.domain.errors import Conflict
from inboxhub.domain.outgoing import OutgoingMessage, Upload


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _message(row: Any) -> OutgoingMessage:
    data = {k: _utc(v) for k, v in row._mapping.items()}
    return OutgoingMessage.model_validate(data)


def _upload(row: Any) -> Upload:
    return Upload.model_validate({k: _utc(v) for k, v in row._mapping.items()})


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(om.c.lease_owner.is_(None), om.c.lease_expires_at < now)


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(om.c.state.in_(("queued", "scheduled")), om.c.next_attempt_at <= now),
        om.c.state == "sending",  # with its lease expired: an interrupted send
        and_(om.c.state == "sent", om.c.filed_at.is_(None)),  # the Sent copy to file
    )


class SqlOutgoingStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    @staticmethod
    def _one(tenant_id: str, message_id: str) -> ColumnElement[bool]:
        return and_(om.c.tenant_id == tenant_id, om.c.id == message_id)

    async def create(self, message: OutgoingMessage) -> OutgoingMessage:
        values = message.model_dump(mode="python")
        try:
            async with self._db.tx(message.tenant_id) as conn:
                await conn.execute(insert(om).values(values))
        except IntegrityError as exc:
            raise Conflict("this Idempotency-Key was used for another message") from exc
        return message

    async def get(self, tenant_id: str, message_id: str) -> OutgoingMessage | None:
        async with self._db.tx(tenant_id) as conn:
            row = (await conn.execute(select(om).where(self._one(tenant_id, message_id)))).first()
        return _message(row) if row else None

    async def by_idempotency_key(
        self, tenant_id: str, user_id: str, key: str
    ) -> OutgoingMessage | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(om).where(
                        om.c.tenant_id == tenant_id,
                        om.c.user_id == user_id,
                        om.c.idempotency_key == key,
                    )
                )
            ).first()
        return _message(row) if row else None

    async def list(
        self,
        tenant_id: str,
        user_id: str,
        states: Sequence[str] | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[OutgoingMessage]:
        query = select(om).where(om.c.tenant_id == tenant_id, om.c.user_id == user_id)
        if states is not None:
            query = query.where(om.c.state.in_(list(states)))
        if before is not None:
            at, last = before
            query = query.where(
                or_(om.c.created_at < at, and_(om.c.created_at == at, om.c.id < last))
            )
        query = query.order_by(om.c.created_at.desc(), om.c.id.desc()).limit(limit)
        async with self._db.tx(tenant_id) as conn:
            return [_message(r) for r in await conn.execute(query)]

    async def change(
        self,
        tenant_id: str,
        message_id: str,
        values: Mapping[str, Any],
        *,
        states: Sequence[str],
        now: datetime,
        owner: str | None = None,
    ) -> OutgoingMessage | None:
        held = _free(now) if owner is None else om.c.lease_owner == owner
        async with self._db.tx(tenant_id) as conn:
            done = await conn.execute(
                update(om)
                .where(self._one(tenant_id, message_id), om.c.state.in_(list(states)), held)
                .values({"updated_at": now, **values})
            )
            if not done.rowcount:
                return None
            row = (await conn.execute(select(om).where(self._one(tenant_id, message_id)))).one()
        return _message(row)

    async def delete(
        self, tenant_id: str, message_id: str, *, states: Sequence[str], now: datetime
    ) -> bool:
        async with self._db.tx(tenant_id) as conn:
            done = await conn.execute(
                delete(om).where(
                    self._one(tenant_id, message_id), om.c.state.in_(list(states)), _free(now)
                )
            )
            return bool(done.rowcount)

    async def submitted_since(
        self, tenant_id: str, user_id: str | None, since: datetime
    ) -> tuple[int, datetime | None]:
        query = select(func.count(), func.min(om.c.queued_at)).where(
            om.c.tenant_id == tenant_id, om.c.queued_at >= since, om.c.state != "cancelled"
        )
        if user_id is not None:
            query = query.where(om.c.user_id == user_id)
        async with self._db.tx(tenant_id) as conn:
            count, oldest = (await conn.execute(query)).one()
        return int(count), _utc(oldest)

    async def claim_due(
        self, worker_id: str, now: datetime, ttl: float, limit: int
    ) -> builtins.list[OutgoingMessage]:
        async with self._db.tx(PLATFORM) as conn:
            candidates = [
                (r.tenant_id, r.id)
                for r in await conn.execute(
                    select(om.c.tenant_id, om.c.id)
                    .where(_due(now), _free(now))
                    .order_by(om.c.next_attempt_at)
                    .limit(limit)
                )
            ]
        lease = {"lease_owner": worker_id, "lease_expires_at": now + timedelta(seconds=ttl)}
        claimed: builtins.list[OutgoingMessage] = []
        for tenant_id, message_id in candidates:
            # its own transaction: the condition is checked against what is committed now
            async with self._db.tx(tenant_id) as conn:
                done = await conn.execute(
                    update(om)
                    .where(self._one(tenant_id, message_id), _due(now), _free(now))
                    .values(lease)
                )
                if done.rowcount:
                    row = (
                        await conn.execute(select(om).where(self._one(tenant_id, message_id)))
                    ).one()
                    claimed.append(_message(row))
        return claimed

    async def release(self, tenant_id: str, message_id: str, owner: str) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                update(om)
                .where(self._one(tenant_id, message_id), om.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    # -- uploads -----------------------------------------------------------------

    async def add_upload(self, upload: Upload) -> None:
        async with self._db.tx(upload.tenant_id) as conn:
            await conn.execute(insert(uploads).values(upload.model_dump()))

    async def get_upload(self, tenant_id: str, upload_id: str) -> Upload | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(uploads).where(
                        uploads.c.tenant_id == tenant_id, uploads.c.id == upload_id
                    )
                )
            ).first()
        return _upload(row) if row else None

    async def purge_uploads(self, now: datetime) -> builtins.list[Upload]:
        async with self._db.tx(PLATFORM) as conn:
            rows = list(await conn.execute(select(uploads).where(uploads.c.expires_at < now)))
            if rows:
                await conn.execute(delete(uploads).where(uploads.c.id.in_([r.id for r in rows])))
        return [_upload(r) for r in rows]

    async def upload_in_use(self, tenant_id: str, sha256: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(uploads.c.id)
                    .where(uploads.c.tenant_id == tenant_id, uploads.c.sha256 == sha256)
                    .limit(1)
                )
            ).first()
        return row is not None
