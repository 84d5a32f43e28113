"""Mailbox assignments on SQLAlchemy (``ports.AccessStore``), under the tenant wall."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_tables import mailbox_members


class SqlAccessStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    async def members(self, tenant_id: str, mailbox_id: str) -> list[str]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(mailbox_members.c.user_id)
                .where(
                    mailbox_members.c.tenant_id == tenant_id,
                    mailbox_members.c.mailbox_id == mailbox_id,
                )
                .order_by(mailbox_members.c.user_id)
            )
            return [r.user_id for r in rows]

    async def set_members(self, tenant_id: str, mailbox_id: str, user_ids: Sequence[str]) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                delete(mailbox_members).where(
                    mailbox_members.c.tenant_id == tenant_id,
                    mailbox_members.c.mailbox_id == mailbox_id,
                )
            )
            wanted = sorted(set(user_ids))
            if wanted:
                await conn.execute(
                    insert(mailbox_members),
                    [
                        {"tenant_id": tenant_id, "mailbox_id": mailbox_id, "user_id": u}
                        for u in wanted
                    ],
                )

    async def assigned(self, tenant_id: str, user_id: str) -> set[str]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(mailbox_members.c.mailbox_id).where(
                    mailbox_members.c.tenant_id == tenant_id,
                    mailbox_members.c.user_id == user_id,
                )
            )
            return {r.mailbox_id for r in rows}
