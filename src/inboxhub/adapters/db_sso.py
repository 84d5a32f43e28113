"""Single sign-on tables on SQLAlchemy (``ports.SsoStore``), under the tenant wall
(``SqlDirectory.tx``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import sso_assertions, sso_configs, sso_tickets
from inboxhub.domain.models import SsoConfig


def _config(row: Any) -> SsoConfig:
    return SsoConfig(
        tenant_id=row.tenant_id,
        protocol=row.protocol,
        settings=row.settings,
        secret=row.secret,
        updated_at=_utc(row.updated_at),
    )


def _where(tenant_id: str, protocol: str) -> Any:
    return (sso_configs.c.tenant_id == tenant_id) & (sso_configs.c.protocol == protocol)


class SqlSsoStore:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    async def get_config(self, tenant_id: str, protocol: str) -> SsoConfig | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(select(sso_configs).where(_where(tenant_id, protocol)))
            ).first()
        return _config(row) if row else None

    async def put_config(
        self, tenant_id: str, protocol: str, settings: dict[str, Any], secret: bytes | None
    ) -> SsoConfig:
        values: dict[str, Any] = {"settings": settings, "updated_at": _now()}
        if secret is not None:
            values["secret"] = secret
        stmt = self._db.insert_or(sso_configs).values(
            tenant_id=tenant_id, protocol=protocol, **values
        )
        async with self._db.tx(tenant_id) as conn:
            # One statement, so two admins saving the first config at once both succeed.
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=["tenant_id", "protocol"], set_=values)
            )
            row = (await conn.execute(select(sso_configs).where(_where(tenant_id, protocol)))).one()
        return _config(row)

    async def delete_config(self, tenant_id: str, protocol: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            gone = await conn.execute(delete(sso_configs).where(_where(tenant_id, protocol)))
        return bool(gone.rowcount)

    async def put_ticket(
        self, tenant_id: str, kind: str, handle_hash: str, payload: bytes, expires_at: datetime
    ) -> None:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(  # the tenant's lapsed ones go on the way
                delete(sso_tickets).where(
                    sso_tickets.c.tenant_id == tenant_id, sso_tickets.c.expires_at < _now()
                )
            )
            await conn.execute(
                insert(sso_tickets).values(
                    handle_hash=handle_hash,
                    tenant_id=tenant_id,
                    kind=kind,
                    payload=payload,
                    expires_at=expires_at,
                )
            )

    async def take_ticket(
        self, scope: str, kind: str, handle_hash: str
    ) -> tuple[str, bytes] | None:
        match = (sso_tickets.c.handle_hash == handle_hash) & (sso_tickets.c.kind == kind)
        if scope != PLATFORM:
            match &= sso_tickets.c.tenant_id == scope
        async with self._db.tx(scope) as conn:
            row = (await conn.execute(select(sso_tickets).where(match))).first()
            if row is None:
                return None
            gone = await conn.execute(delete(sso_tickets).where(match))
        if not gone.rowcount or _utc(row.expires_at) <= _now():
            return None  # taken by a concurrent request, or too late
        return row.tenant_id, bytes(row.payload)

    async def remember_assertion(
        self, tenant_id: str, assertion_id: str, expires_at: datetime
    ) -> bool:
        try:
            async with self._db.tx(tenant_id) as conn:
                await conn.execute(
                    delete(sso_assertions).where(
                        sso_assertions.c.tenant_id == tenant_id,
                        sso_assertions.c.expires_at < _now(),
                    )
                )
                await conn.execute(
                    insert(sso_assertions).values(
                        tenant_id=tenant_id, assertion_id=assertion_id, expires_at=expires_at
                    )
                )
        except IntegrityError:
            return False
        return True
