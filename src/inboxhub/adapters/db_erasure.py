"""GDPR erasure in the relational store (``ports.ErasureStore``).

The tables are found from the schema (``db_tables.metadata``), so a table added
later is covered without a line here, by these conventions:

* a ``tenant_id`` column: the row is the tenant's, and goes with it;
* a ``user_id`` column (or, in ``users``, the ``id``): the row is the user's, and goes
  with them; so does a row naming one of the user's addresses in a column of
  ``EMAIL_COLUMNS`` (an invitation's ``email``, a lockout's ``subject``);
* a column in ``ACTOR_COLUMNS`` holding the user's id names them as the one who did
  something (the audit log's actor, who sent an invitation): the tenant's record of
  it stays, naming a pseudonym instead;
* a table that must outlive its user (say, a revocation list read until the user's
  last token expires) says so with ``Table(..., info={"erase_with_user": False})``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, Text, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxhub.adapters.db import PLATFORM, SqlDirectory
from inboxhub.adapters.db_tables import audit_log, metadata, tenants, users

ACTOR_COLUMNS = ("actor_id", "object_id", "invited_by", "created_by", "updated_by")
EMAIL_COLUMNS = {"email": "{}", "subject": "email:{}"}  # column: how it holds an address
ERASED = "[erased]"  # what an erased email address reads as in an audit detail


def tenant_tables() -> list[Table]:
    """Every table holding tenants' rows (all but ``tenants`` itself), children first."""
    return [t for t in reversed(metadata.sorted_tables) if "tenant_id" in t.c]


def scrubbed(value: Any, emails: Sequence[str]) -> Any:
    """``value`` (JSON) with each of ``emails`` (any case) replaced by ``ERASED``."""
    if isinstance(value, str):
        for email in emails:
            start = value.casefold().find(email.casefold())
            while start >= 0:
                value = value[:start] + ERASED + value[start + len(email) :]
                start = value.casefold().find(email.casefold(), start + len(ERASED))
        return value
    if isinstance(value, dict):
        return {k: scrubbed(v, emails) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, emails) for v in value]
    return value


def _found_emails(value: Any) -> list[str]:
    """The values of ``email`` keys anywhere in ``value`` (JSON)."""
    if isinstance(value, dict):
        here = [v for k, v in value.items() if k == "email" and isinstance(v, str)]
        return here + [e for v in value.values() for e in _found_emails(v)]
    if isinstance(value, list):
        return [e for v in value for e in _found_emails(v)]
    return []


class SqlErasureStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    async def erase_tenant_rows(self, tenant_id: str) -> dict[str, int]:
        done: dict[str, int] = {}
        async with self._db.tx(tenant_id) as conn:
            for table in tenant_tables():
                gone = await conn.execute(delete(table).where(table.c.tenant_id == tenant_id))
                done[table.name] = int(gone.rowcount or 0)
        return done

    async def drop_tenant(self, tenant_id: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            gone = await conn.execute(delete(tenants).where(tenants.c.id == tenant_id))
        return bool(gone.rowcount)

    async def tenant_of_user(self, user_id: str) -> str | None:
        async with self._db.tx(PLATFORM) as conn:
            row = (
                await conn.execute(select(users.c.tenant_id).where(users.c.id == user_id))
            ).first()
        return row.tenant_id if row else None

    async def emails_of(self, tenant_id: str, user_id: str) -> list[str]:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(users.c.email).where(
                        users.c.tenant_id == tenant_id, users.c.id == user_id
                    )
                )
            ).first()
            entries = await conn.execute(
                select(audit_log.c.detail).where(
                    audit_log.c.tenant_id == tenant_id,
                    or_(audit_log.c.actor_id == user_id, audit_log.c.object_id == user_id),
                    cast(audit_log.c.detail, Text).like("%@%"),
                )
            )
            found = [e for r in entries for e in _found_emails(r.detail)]
        return sorted({e.strip().lower() for e in ([row.email] if row else []) + found if e})

    async def erase_user_rows(
        self, tenant_id: str, user_id: str, emails: Sequence[str], pseudonym: str
    ) -> dict[str, int]:
        done: dict[str, int] = {}
        async with self._db.tx(tenant_id) as conn:
            for table in tenant_tables():
                count = await self._erase_user_in(
                    conn, table, tenant_id, user_id, emails, pseudonym
                )
                if count:
                    done[table.name] = count
            done["audit_log.detail"] = await self._scrub_audit(conn, tenant_id, emails, pseudonym)
        return done

    @staticmethod
    async def _erase_user_in(
        conn: AsyncConnection,
        table: Table,
        tenant_id: str,
        user_id: str,
        emails: Sequence[str],
        pseudonym: str,
    ) -> int:
        ours = table.c.tenant_id == tenant_id
        count = 0
        whose = None
        if table is users:
            whose = users.c.id == user_id
        elif table.info.get("erase_with_user", True):
            if "user_id" in table.c:
                whose = table.c.user_id == user_id
            for name, form in EMAIL_COLUMNS.items():
                if name in table.c and emails and whose is None:
                    whose = table.c[name].in_([form.format(e) for e in emails])
        if whose is not None:
            count += int((await conn.execute(delete(table).where(ours, whose))).rowcount or 0)
        for name in ACTOR_COLUMNS:
            if name in table.c:
                column = table.c[name]
                values: dict[str, Any] = {name: pseudonym}
                if table is audit_log:  # its chain keeps the commitment (services/audit)
                    values["erased"] = True
                moved = await conn.execute(
                    update(table).where(ours, column == user_id).values(values)
                )
                count += int(moved.rowcount or 0)
        return count

    @staticmethod
    async def _scrub_audit(
        conn: AsyncConnection, tenant_id: str, emails: Sequence[str], pseudonym: str
    ) -> int:
        """Their addresses out of every audit detail of the tenant; their IP addresses
        and user agents out of the entries of what they did. The entries rewritten are
        marked ``erased``: the audit chain then checks them by their place only."""
        text = cast(audit_log.c.detail, Text)
        mentions = [text.ilike(f"%{e}%") for e in emails]
        rows = await conn.execute(
            select(audit_log.c.event_id, audit_log.c.actor_id, audit_log.c.detail).where(
                audit_log.c.tenant_id == tenant_id,
                or_(audit_log.c.actor_id == pseudonym, *mentions),
            )
        )
        count = 0
        for row in list(rows):
            detail = scrubbed(dict(row.detail or {}), emails)
            if row.actor_id == pseudonym:
                detail.pop("ip", None)
                detail.pop("user_agent", None)
            if detail != row.detail:
                await conn.execute(
                    update(audit_log)
                    .where(audit_log.c.tenant_id == tenant_id, audit_log.c.event_id == row.event_id)
                    .values(detail=detail, erased=True)
                )
                count += 1
        return count
