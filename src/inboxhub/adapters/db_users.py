"""A tenant's users and invitations on SQLAlchemy: the user administration half of
``ports.TenancyStore`` (``db_tenancy.SqlTenancyStore`` adds domains and tenants).

A tenant always keeps one active owner: a change that would leave none is refused
inside the transaction that makes it, with the tenant's row locked on PostgreSQL so
that two owners demoting each other at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import invitations, refresh_tokens, tenants, users
from inboxhub.domain.errors import Conflict, NotFound
from inboxhub.domain.ids import new_id
from inboxhub.domain.models import Invitation, User

OWNER = "owner"
LAST_OWNER = "the tenant's last active owner cannot be removed, demoted or suspended"


def _invitation(row: Any) -> Invitation:
    return Invitation(
        id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        roles=list(row.roles),
        invited_by=row.invited_by,
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at),
        accepted_at=_utc(row.accepted_at) if row.accepted_at else None,
    )


def _user_where(tenant_id: str, user_id: str) -> Any:
    return (users.c.tenant_id == tenant_id) & (users.c.id == user_id)


class SqlUserStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    # ------------------------------------------------------------ users

    async def list_users(self, tenant_id: str, limit: int, after: str | None = None) -> list[User]:
        query = select(users).where(users.c.tenant_id == tenant_id)
        if after is not None:
            query = query.where(users.c.email > after)
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(query.order_by(users.c.email).limit(limit))
            return [SqlDirectory._user(r) for r in rows]

    async def _keep_an_owner(self, conn: AsyncConnection, tenant_id: str) -> None:
        rows = await conn.execute(
            select(users.c.roles).where(users.c.tenant_id == tenant_id, users.c.status == "active")
        )
        if not any(OWNER in r.roles for r in rows):
            raise Conflict(LAST_OWNER)

    async def _lock_tenant(self, conn: AsyncConnection, tenant_id: str) -> None:
        """Serialise owner changes of one tenant (PostgreSQL; SQLite has one writer)."""
        await conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update())

    async def update_user(
        self,
        tenant_id: str,
        user_id: str,
        *,
        roles: Sequence[str] | None = None,
        status: str | None = None,
    ) -> User | None:
        values: dict[str, Any] = {}
        if roles is not None:
            values["roles"] = list(roles)
        if status is not None:
            values["status"] = status
        async with self._db.tx(tenant_id) as conn:
            await self._lock_tenant(conn, tenant_id)
            if values:
                await conn.execute(
                    update(users).where(_user_where(tenant_id, user_id)).values(values)
                )
                await self._keep_an_owner(conn, tenant_id)
            row = (await conn.execute(select(users).where(_user_where(tenant_id, user_id)))).first()
        return SqlDirectory._user(row) if row else None

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            await self._lock_tenant(conn, tenant_id)
            gone = await conn.execute(delete(users).where(_user_where(tenant_id, user_id)))
            if not gone.rowcount:
                return False
            await self._keep_an_owner(conn, tenant_id)
            await conn.execute(
                delete(refresh_tokens).where(
                    refresh_tokens.c.tenant_id == tenant_id, refresh_tokens.c.user_id == user_id
                )
            )
        return True

    # ------------------------------------------------------------ invitations

    async def add_invitation(
        self,
        tenant_id: str,
        email: str,
        roles: Sequence[str],
        token_hash: str,
        invited_by: str | None,
        expires_at: datetime,
    ) -> Invitation:
        invitation = Invitation(
            id=new_id(),
            tenant_id=tenant_id,
            email=email.strip().lower(),
            roles=list(roles),
            invited_by=invited_by,
            created_at=_now(),
            expires_at=expires_at,
        )
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                delete(invitations).where(
                    invitations.c.tenant_id == tenant_id,
                    invitations.c.email == invitation.email,
                    invitations.c.accepted_at.is_(None),
                )
            )
            await conn.execute(
                insert(invitations).values(**invitation.model_dump(), token_hash=token_hash)
            )
        return invitation

    async def list_invitations(self, tenant_id: str) -> list[Invitation]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(invitations)
                .where(invitations.c.tenant_id == tenant_id)
                .order_by(invitations.c.created_at.desc(), invitations.c.id)
            )
            return [_invitation(r) for r in rows]

    async def delete_invitation(self, tenant_id: str, invitation_id: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            gone = await conn.execute(
                delete(invitations).where(
                    invitations.c.tenant_id == tenant_id, invitations.c.id == invitation_id
                )
            )
        return bool(gone.rowcount)

    async def accept_invitation(self, token_hash: str, password_hash: str) -> User:
        now = _now()
        try:
            # Whose invitation it is only the token says: a platform-wide lookup.
            async with self._db.tx(PLATFORM) as conn:
                taken = await conn.execute(
                    update(invitations)
                    .where(
                        invitations.c.token_hash == token_hash,
                        invitations.c.accepted_at.is_(None),
                        invitations.c.expires_at > now,
                    )
                    .values(accepted_at=now)
                    .returning(*invitations.c)
                )
                row = taken.first()
                if row is None:
                    raise NotFound("the invitation is unknown, used, revoked or expired")
                user = User(
                    id=new_id(),
                    tenant_id=row.tenant_id,
                    email=row.email,
                    roles=list(row.roles),
                    created_at=now,
                )
                await conn.execute(
                    insert(users).values(**user.model_dump(), password_hash=password_hash)
                )
        except IntegrityError as exc:
            raise Conflict("this email has an account in the tenant already") from exc
        return user
