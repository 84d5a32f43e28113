"""DKIM keys on SQLAlchemy (``ports.DkimKeyStore``), under the tenant wall. Private
keys are sealed with ``crypto.SecretBox`` here, so no caller but ``signing_key``
ever holds one in the clear."""

from __future__ import annotations

import builtins  # ``list`` is a method below
from typing import Any

from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError

from inboxhub.adapters.db import SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import dkim_keys, tenant_domains
from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import Conflict
from inboxhub.domain.models import DkimKey, DkimKeyInfo

_PUBLIC = [c for c in dkim_keys.c if c.name != "private_key"]


def _info(row: Any) -> DkimKeyInfo:
    return DkimKeyInfo(
        tenant_id=row.tenant_id,
        domain=row.domain,
        selector=row.selector,
        algorithm=row.algorithm,
        dns_value=row.dns_value,
        active=bool(row.active),
        activated_at=_utc(row.activated_at) if row.activated_at else None,
        created_by=row.created_by,
        created_at=_utc(row.created_at),
    )


def _of(tenant_id: str, domain: str) -> Any:
    return and_(dkim_keys.c.tenant_id == tenant_id, dkim_keys.c.domain == domain)


def _key(tenant_id: str, domain: str, selector: str) -> Any:
    return and_(_of(tenant_id, domain), dkim_keys.c.selector == selector)


class SqlDkimKeyStore:
    def __init__(self, directory: SqlDirectory, box: SecretBox) -> None:
        self._db = directory
        self._box = box

    async def add(
        self,
        tenant_id: str,
        domain: str,
        selector: str,
        *,
        algorithm: str,
        private_key_pem: bytes,
        dns_value: str,
        created_by: str | None,
    ) -> DkimKeyInfo:
        info = DkimKeyInfo(
            tenant_id=tenant_id,
            domain=domain,
            selector=selector,
            algorithm=algorithm,
            dns_value=dns_value,
            created_by=created_by,
            created_at=_now(),
        )
        row = {**info.model_dump(), "private_key": self._box.encrypt(private_key_pem)}
        try:
            async with self._db.tx(tenant_id) as conn:
                await conn.execute(insert(dkim_keys).values(**row))
        except IntegrityError as exc:
            raise Conflict(f"{domain} has a DKIM key with the selector {selector!r}") from exc
        return info

    async def list(self, tenant_id: str, domain: str) -> builtins.list[DkimKeyInfo]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(*_PUBLIC).where(_of(tenant_id, domain)).order_by(dkim_keys.c.selector)
            )
            return [_info(r) for r in rows]

    async def get(self, tenant_id: str, domain: str, selector: str) -> DkimKeyInfo | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(select(*_PUBLIC).where(_key(tenant_id, domain, selector)))
            ).first()
        return _info(row) if row else None

    async def activate(self, tenant_id: str, domain: str, selector: str) -> DkimKeyInfo | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(select(*_PUBLIC).where(_key(tenant_id, domain, selector)))
            ).first()
            if row is None:
                return None
            if row.active:
                return _info(row)
            await conn.execute(
                update(dkim_keys)
                .where(_of(tenant_id, domain), dkim_keys.c.selector != selector)
                .values(active=False)
            )
            await conn.execute(
                update(dkim_keys)
                .where(_key(tenant_id, domain, selector))
                .values(active=True, activated_at=_now())
            )
            row = (
                await conn.execute(select(*_PUBLIC).where(_key(tenant_id, domain, selector)))
            ).one()
        return _info(row)

    async def delete(self, tenant_id: str, domain: str, selector: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            gone = await conn.execute(delete(dkim_keys).where(_key(tenant_id, domain, selector)))
        return bool(gone.rowcount)

    async def signing_key(self, tenant_id: str, domain: str) -> DkimKey | None:
        still_theirs = exists().where(
            tenant_domains.c.tenant_id == tenant_id, tenant_domains.c.domain == domain
        )
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(dkim_keys.c.selector, dkim_keys.c.private_key)
                    .where(_of(tenant_id, domain), dkim_keys.c.active, still_theirs)
                    .order_by(dkim_keys.c.activated_at.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        pem = self._box.decrypt(bytes(row.private_key))
        return DkimKey(domain=domain, selector=row.selector, private_key_pem=pem)
