"""The tenant service's own tables on SQLAlchemy (``ports.TenancyStore``), beside the
directory's and under the same tenant wall (``SqlDirectory.tx``): domains and the
operators' view of tenants here, users and invitations in ``db_users``."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inboxhub.adapters.db import PLATFORM, SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import tenant_domains, tenants
from inboxhub.adapters.db_users import SqlUserStore
from inboxhub.domain.errors import Conflict, NotFound
from inboxhub.domain.models import Tenant, TenantDomain


def _domain(row: Any) -> TenantDomain:
    return TenantDomain(
        tenant_id=row.tenant_id,
        domain=row.domain,
        verification_token=row.verification_token,
        verified_at=_utc(row.verified_at) if row.verified_at else None,
        created_at=_utc(row.created_at),
    )


def _where(tenant_id: str, domain: str) -> Any:
    return (tenant_domains.c.tenant_id == tenant_id) & (
        tenant_domains.c.domain == domain.strip().lower()
    )


class SqlTenancyStore(SqlUserStore):
    async def add_domain(self, tenant_id: str, domain: str) -> TenantDomain:
        entry = TenantDomain(
            tenant_id=tenant_id,
            domain=domain.strip().lower(),
            verification_token=secrets.token_urlsafe(24),
            created_at=_now(),
        )
        try:
            async with self._db.tx(tenant_id) as conn:
                await conn.execute(insert(tenant_domains).values(**entry.model_dump()))
        except IntegrityError as exc:
            raise Conflict(f"the tenant has the domain {entry.domain} already") from exc
        return entry

    async def list_domains(self, tenant_id: str) -> list[TenantDomain]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(tenant_domains)
                .where(tenant_domains.c.tenant_id == tenant_id)
                .order_by(tenant_domains.c.domain)
            )
            return [_domain(r) for r in rows]

    async def get_domain(self, tenant_id: str, domain: str) -> TenantDomain | None:
        async with self._db.tx(tenant_id) as conn:
            found = await conn.execute(select(tenant_domains).where(_where(tenant_id, domain)))
            row = found.first()
        return _domain(row) if row else None

    async def mark_domain_verified(self, tenant_id: str, domain: str) -> TenantDomain:
        name = domain.strip().lower()
        try:
            async with self._db.tx(PLATFORM) as conn:  # who else has it: a platform question
                taken = await conn.execute(
                    select(tenant_domains.c.tenant_id).where(
                        tenant_domains.c.domain == name,
                        tenant_domains.c.tenant_id != tenant_id,
                        tenant_domains.c.verified_at.is_not(None),
                    )
                )
                if taken.first() is not None:
                    raise Conflict(f"{name} is verified by another tenant")
                await conn.execute(
                    update(tenant_domains)
                    .where(_where(tenant_id, name), tenant_domains.c.verified_at.is_(None))
                    .values(verified_at=_now())
                )
                found = await conn.execute(select(tenant_domains).where(_where(tenant_id, name)))
                row = found.first()
        except IntegrityError as exc:  # the unique index: another tenant won a race
            raise Conflict(f"{name} is verified by another tenant") from exc
        if row is None:
            raise NotFound(f"the tenant has no domain {name}")
        return _domain(row)

    async def delete_domain(self, tenant_id: str, domain: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            gone = await conn.execute(delete(tenant_domains).where(_where(tenant_id, domain)))
        return bool(gone.rowcount)

    # ------------------------------------------------------------ tenants

    async def list_tenants(self, limit: int, after: str | None = None) -> list[Tenant]:
        query = select(tenants).order_by(tenants.c.slug).limit(limit)
        if after is not None:
            query = query.where(tenants.c.slug > after)
        async with self._db.tx(PLATFORM) as conn:
            return [SqlDirectory._tenant(r) for r in await conn.execute(query)]

    async def update_tenant(
        self, tenant_id: str, *, name: str | None = None, status: str | None = None
    ) -> Tenant | None:
        values = {k: v for k, v in (("name", name), ("status", status)) if v is not None}
        async with self._db.tx(tenant_id) as conn:
            if values:
                await conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(values))
            row = (await conn.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
        return SqlDirectory._tenant(row) if row else None

    async def suspended_tenant_ids(self) -> set[str]:
        async with self._db.tx(PLATFORM) as conn:
            rows = await conn.execute(select(tenants.c.id).where(tenants.c.status != "active"))
            return {r.id for r in rows}
