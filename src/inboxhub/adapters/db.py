"""Tenants, users, mailboxes and sync state on SQLAlchemy (async).

The same code runs on SQLite (``sqlite+aiosqlite://``, the embedded default) and
PostgreSQL (``postgresql+asyncpg://``). Every query that reads tenant data filters
on the tenant id passed in first; on PostgreSQL each transaction also declares its
tenant (``inboxhub.tenant_id``) for the row-level security policies of migration
0002, so a query that forgot its filter still cannot cross the wall.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import delete, event, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inboxhub.adapters.db_tables import (
    audit_log,
    mail_outbox,
    mailboxes,
    provider_items,
    refresh_tokens,
    secrets,
    sync_state,
    tenants,
    users,
)
from inboxhub.domain.errors import Conflict
from inboxhub.domain.ids import new_id
from inboxhub.domain.models import Mailbox, Tenant, User

ALEMBIC_DIR = Path(__file__).resolve().parents[1] / "alembic"
PLATFORM = "*"  # the scope of platform-wide lookups (no single tenant)
_SET_TENANT = text("SELECT set_config('inboxhub.tenant_id', :scope, true)")


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(url: str) -> None:
    """``alembic upgrade head``; a no-op when the schema is current."""
    await asyncio.to_thread(command.upgrade, _alembic_config(url), "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "busy_timeout=30000",
        "synchronous=NORMAL",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class SqlDirectory:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._scoped = engine.dialect.name == "postgresql"
        # The dialect's own INSERT, the one with ON CONFLICT (both databases have it).
        self.insert_or = postgresql.insert if self._scoped else sqlite.insert

    @classmethod
    async def open(cls, url: str, run_migrations: bool = True) -> SqlDirectory:
        """Connect; with ``run_migrations`` (the default) bring the schema to head first
        (the distributed deployment runs ``inboxhub migrate`` once instead)."""
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
        if run_migrations:
            await migrate(url)
        engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return cls(engine)

    @contextlib.asynccontextmanager
    async def tx(self, scope: str) -> AsyncIterator[AsyncConnection]:
        """A transaction working for tenant ``scope`` (or ``PLATFORM``); the other
        stores on these tables (``db_sync``) open theirs here too."""
        async with self.engine.begin() as conn:
            if self._scoped:
                await conn.execute(_SET_TENANT, {"scope": scope})
            yield conn

    async def _one(self, scope: str, stmt: Any) -> Any:
        async with self.tx(scope) as conn:
            return (await conn.execute(stmt)).first()

    async def _all(self, scope: str, stmt: Any) -> list[Any]:
        async with self.tx(scope) as conn:
            return list((await conn.execute(stmt)).all())

    async def _write(self, scope: str, stmt: Any) -> int:
        async with self.tx(scope) as conn:
            return int((await conn.execute(stmt)).rowcount or 0)

    # ------------------------------------------------------------ tenants

    @staticmethod
    def _tenant(row: Any) -> Tenant:
        return Tenant(
            id=row.id,
            slug=row.slug,
            name=row.name,
            status=row.status,
            created_at=_utc(row.created_at),
        )

    async def create_tenant(self, slug: str, name: str) -> Tenant:
        tenant = Tenant(id=new_id(), slug=slug, name=name, created_at=_now())
        try:
            await self._write(tenant.id, insert(tenants).values(**tenant.model_dump()))
        except IntegrityError as exc:
            raise Conflict(f"tenant {slug!r} exists already") from exc
        return tenant

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        row = await self._one(tenant_id, select(tenants).where(tenants.c.id == tenant_id))
        return self._tenant(row) if row else None

    async def get_tenant_by_slug(self, slug: str) -> Tenant | None:
        row = await self._one(PLATFORM, select(tenants).where(tenants.c.slug == slug))
        return self._tenant(row) if row else None

    async def list_tenant_ids(self) -> list[str]:
        return [r.id for r in await self._all(PLATFORM, select(tenants.c.id))]

    # ------------------------------------------------------------ users

    @staticmethod
    def _user(row: Any) -> User:
        return User(
            id=row.id,
            tenant_id=row.tenant_id,
            email=row.email,
            roles=list(row.roles),
            status=row.status,
            created_at=_utc(row.created_at),
        )

    async def create_user(
        self, tenant_id: str, email: str, password_hash: str | None, roles: Sequence[str]
    ) -> User:
        user = User(
            id=new_id(),
            tenant_id=tenant_id,
            email=email.strip().lower(),
            roles=list(roles),
            created_at=_now(),
        )
        try:
            await self._write(
                tenant_id, insert(users).values(**user.model_dump(), password_hash=password_hash)
            )
        except IntegrityError as exc:
            raise Conflict(f"{user.email} has an account in this tenant already") from exc
        return user

    async def get_user(self, tenant_id: str, user_id: str) -> User | None:
        row = await self._one(
            tenant_id, select(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id)
        )
        return self._user(row) if row else None

    async def find_users_by_email(self, email: str) -> list[tuple[User, str | None]]:
        rows = await self._all(
            PLATFORM, select(users).where(users.c.email == email.strip().lower())
        )
        return [(self._user(r), r.password_hash) for r in rows]

    async def set_password_hash(self, tenant_id: str, user_id: str, password_hash: str) -> None:
        await self._write(
            tenant_id,
            update(users)
            .where(users.c.tenant_id == tenant_id, users.c.id == user_id)
            .values(password_hash=password_hash),
        )

    # ------------------------------------------------------------ mailboxes

    @staticmethod
    def _mailbox(row: Any) -> Mailbox:
        return Mailbox(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            provider=row.provider,
            status=row.status,
            created_at=_utc(row.created_at),
            config=dict(row.config or {}),
            updated_at=_utc(row.updated_at) if row.updated_at else None,
        )

    async def create_mailbox(
        self,
        tenant_id: str,
        name: str,
        provider: str,
        config: dict[str, Any],
        credentials: bytes | None,
    ) -> Mailbox:
        now = _now()
        box = Mailbox(
            id=new_id(),
            tenant_id=tenant_id,
            name=name,
            provider=provider,
            created_at=now,
            config=config,
            updated_at=now,
        )
        try:
            await self._write(
                tenant_id, insert(mailboxes).values(**box.model_dump(), credentials=credentials)
            )
        except IntegrityError as exc:
            raise Conflict(f"a mailbox named {name!r} exists already") from exc
        return box

    async def update_mailbox(
        self,
        tenant_id: str,
        mailbox_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        credentials: bytes | None = None,
        status: str | None = None,
    ) -> Mailbox | None:
        values: dict[str, Any] = {"updated_at": _now()}
        for column, value in (
            ("name", name),
            ("config", config),
            ("credentials", credentials),
            ("status", status),
        ):
            if value is not None:
                values[column] = value
        where = (mailboxes.c.tenant_id == tenant_id, mailboxes.c.id == mailbox_id)
        try:
            await self._write(tenant_id, update(mailboxes).where(*where).values(**values))
        except IntegrityError as exc:
            raise Conflict(f"a mailbox named {name!r} exists already") from exc
        return await self.get_mailbox(tenant_id, mailbox_id)

    async def set_mailbox_credentials(
        self, tenant_id: str, mailbox_id: str, credentials: bytes
    ) -> None:
        where = (mailboxes.c.tenant_id == tenant_id, mailboxes.c.id == mailbox_id)
        await self._write(
            tenant_id, update(mailboxes).where(*where).values(credentials=credentials)
        )

    async def get_mailbox_credentials(self, tenant_id: str, mailbox_id: str) -> bytes | None:
        row = await self._one(
            tenant_id,
            select(mailboxes.c.credentials).where(
                mailboxes.c.tenant_id == tenant_id, mailboxes.c.id == mailbox_id
            ),
        )
        return bytes(row.credentials) if row and row.credentials is not None else None

    async def delete_mailbox(self, tenant_id: str, mailbox_id: str) -> bool:
        async with self.tx(tenant_id) as conn:
            for table in (provider_items, sync_state, mail_outbox):
                await conn.execute(
                    delete(table).where(
                        table.c.tenant_id == tenant_id, table.c.mailbox_id == mailbox_id
                    )
                )
            done = await conn.execute(
                delete(mailboxes).where(
                    mailboxes.c.tenant_id == tenant_id, mailboxes.c.id == mailbox_id
                )
            )
            return bool(done.rowcount)

    async def _mailbox_by_name(self, tenant_id: str, name: str) -> Mailbox | None:
        row = await self._one(
            tenant_id,
            select(mailboxes).where(mailboxes.c.tenant_id == tenant_id, mailboxes.c.name == name),
        )
        return self._mailbox(row) if row else None

    async def get_or_create_mailbox(self, tenant_id: str, name: str, provider: str) -> Mailbox:
        found = await self._mailbox_by_name(tenant_id, name)
        if found is not None:
            return found
        box = Mailbox(
            id=new_id(), tenant_id=tenant_id, name=name, provider=provider, created_at=_now()
        )
        try:
            await self._write(tenant_id, insert(mailboxes).values(**box.model_dump()))
            return box
        except IntegrityError:  # created meanwhile by another process: take that one
            found = await self._mailbox_by_name(tenant_id, name)
            assert found is not None
            return found

    async def get_mailbox(self, tenant_id: str, mailbox_id: str) -> Mailbox | None:
        row = await self._one(
            tenant_id,
            select(mailboxes).where(
                mailboxes.c.tenant_id == tenant_id, mailboxes.c.id == mailbox_id
            ),
        )
        return self._mailbox(row) if row else None

    async def list_mailboxes(self, tenant_id: str) -> list[Mailbox]:
        rows = await self._all(
            tenant_id,
            select(mailboxes).where(mailboxes.c.tenant_id == tenant_id).order_by(mailboxes.c.name),
        )
        return [self._mailbox(r) for r in rows]

    async def get_sync_state(self, tenant_id: str, mailbox_id: str) -> dict[str, object]:
        row = await self._one(
            tenant_id,
            select(sync_state.c.state).where(
                sync_state.c.tenant_id == tenant_id, sync_state.c.mailbox_id == mailbox_id
            ),
        )
        return dict(row.state) if row else {}

    async def set_sync_state(
        self, tenant_id: str, mailbox_id: str, state: dict[str, object]
    ) -> None:
        # One statement: the fetcher's lease (``db_sync``) may create the row meanwhile.
        stmt = self.insert_or(sync_state).values(
            tenant_id=tenant_id, mailbox_id=mailbox_id, state=state
        )
        async with self.tx(tenant_id) as conn:
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["tenant_id", "mailbox_id"], set_={"state": state}
                )
            )

    # ------------------------------------------------------------ refresh tokens

    async def store_refresh_token(
        self, tenant_id: str, user_id: str, token_hash: str, family: str, expires_at: datetime
    ) -> None:
        await self._write(
            tenant_id,
            insert(refresh_tokens).values(
                token_hash=token_hash,
                tenant_id=tenant_id,
                user_id=user_id,
                family=family,
                expires_at=expires_at,
            ),
        )

    async def use_refresh_token(self, token_hash: str) -> tuple[str, str, str] | None:
        now = _now()
        async with self.tx(PLATFORM) as conn:
            row = (
                await conn.execute(
                    select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
                )
            ).first()
            if row is None:
                return None
            # Claim it atomically: only one caller can turn used_at from NULL to now.
            claimed = await conn.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.token_hash == token_hash,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                )
                .values(used_at=now)
            )
            if not claimed.rowcount:  # reuse of a rotated token: revoke the whole family
                await conn.execute(
                    update(refresh_tokens)
                    .where(
                        refresh_tokens.c.family == row.family, refresh_tokens.c.revoked_at.is_(None)
                    )
                    .values(revoked_at=now)
                )
                return None
            if _utc(row.expires_at) <= now:
                return None
            return row.tenant_id, row.user_id, row.family

    async def revoke_refresh_family(self, family: str) -> None:
        await self._write(
            PLATFORM,
            update(refresh_tokens)
            .where(refresh_tokens.c.family == family, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=_now()),
        )

    # ------------------------------------------------------------ audit

    async def list_audit(self, tenant_id: str, limit: int = 100) -> list[dict[str, object]]:
        rows = await self._all(
            tenant_id,
            select(audit_log)
            .where(audit_log.c.tenant_id == tenant_id)
            .order_by(audit_log.c.time.desc())
            .limit(limit),
        )
        return [
            {
                "id": r.event_id,
                "time": _utc(r.time).isoformat(),
                "actor_id": r.actor_id,
                "action": r.action,
                "object_id": r.object_id,
                "detail": r.detail,
            }
            for r in rows
        ]

    # ------------------------------------------------------------ platform secrets

    async def get_secret(self, name: str) -> bytes | None:
        row = await self._one(PLATFORM, select(secrets.c.value).where(secrets.c.name == name))
        return bytes(row.value) if row else None

    async def put_secret(self, name: str, value: bytes) -> None:
        async with self.tx(PLATFORM) as conn:
            done = await conn.execute(
                update(secrets).where(secrets.c.name == name).values(value=value)
            )
            if not done.rowcount:
                await conn.execute(insert(secrets).values(name=name, value=value))

    async def create_secret(self, name: str, value: bytes) -> bytes:
        """Store ``value`` unless the secret exists; returns the stored one (so processes
        starting together all end up with the first writer's value)."""
        with contextlib.suppress(IntegrityError):
            await self._write(PLATFORM, insert(secrets).values(name=name, value=value))
        stored = await self.get_secret(name)
        assert stored is not None
        return stored

    async def ping(self) -> None:
        await self._one(PLATFORM, select(1))

    async def close(self) -> None:
        await self.engine.dispose()
