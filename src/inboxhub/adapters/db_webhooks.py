"""Webhook subscriptions on SQLAlchemy (``ports.WebhookStore``), their signing
secrets sealed by ``SecretBox``; the delivery log is ``db_webhook_log.py``."""

from __future__ import annotations

import builtins  # ``list`` is a method below
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from inboxhub.adapters.db import SqlDirectory, _now, _utc
from inboxhub.adapters.db_tables import webhook_deliveries as wd
from inboxhub.adapters.db_tables import webhooks as wh
from inboxhub.adapters.db_webhook_log import SqlWebhookLog, _at, _mine
from inboxhub.crypto import SecretBox
from inboxhub.domain.ids import new_id
from inboxhub.domain.webhooks import ACTIVE, DISABLED, Webhook


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        tenant_id=row.tenant_id,
        url=row.url,
        event_types=tuple(row.event_types),
        description=row.description,
        status=row.status,
        consecutive_failures=row.consecutive_failures,
        failing_since=_at(row.failing_since),
        disabled_reason=row.disabled_reason,
        disabled_at=_at(row.disabled_at),
        previous_secret_until=_at(row.previous_secret_until),
        created_by=row.created_by,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


def _columns() -> builtins.list[Any]:
    """Every column of a subscription but its sealed secrets."""
    return [c for c in wh.c if c.name not in ("secret", "previous_secret")]


class SqlWebhookStore(SqlWebhookLog):
    def __init__(self, directory: SqlDirectory, box: SecretBox) -> None:
        super().__init__(directory)
        self._box = box

    # ------------------------------------------------------------ subscriptions

    async def create(
        self,
        tenant_id: str,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        secret: str,
        created_by: str | None,
    ) -> Webhook:
        now = _now()
        webhook_id = new_id()
        values = {
            "id": webhook_id,
            "tenant_id": tenant_id,
            "url": url,
            "event_types": list(event_types),
            "description": description,
            "secret": self._box.encrypt(secret.encode()),
            "status": ACTIVE,
            "consecutive_failures": 0,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        }
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(insert(wh).values(values))
        made = await self.get(tenant_id, webhook_id)
        assert made is not None
        return made

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(select(*_columns()).where(_mine(tenant_id, webhook_id)))
            ).first()
        return _webhook(row) if row else None

    async def list(self, tenant_id: str) -> builtins.list[Webhook]:
        async with self._db.tx(tenant_id) as conn:
            rows = await conn.execute(
                select(*_columns())
                .where(wh.c.tenant_id == tenant_id)
                .order_by(wh.c.created_at, wh.c.id)
            )
            return [_webhook(r) for r in rows]

    async def update(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Webhook | None:
        values: dict[str, Any] = {"updated_at": _now()}
        if url is not None:
            values["url"] = url
        if event_types is not None:
            values["event_types"] = list(event_types)
        if description is not None:
            values["description"] = description
        if enabled is True:
            values.update(
                status=ACTIVE,
                consecutive_failures=0,
                failing_since=None,
                disabled_reason=None,
                disabled_at=None,
            )
        elif enabled is False:
            values.update(
                status=DISABLED,
                disabled_reason="disabled by an admin",
                disabled_at=values["updated_at"],
            )
        async with self._db.tx(tenant_id) as conn:
            done = await conn.execute(update(wh).where(_mine(tenant_id, webhook_id)).values(values))
            if not done.rowcount:
                return None
        return await self.get(tenant_id, webhook_id)

    async def delete(self, tenant_id: str, webhook_id: str) -> bool:
        async with self._db.tx(tenant_id) as conn:
            await conn.execute(
                delete(wd).where(wd.c.tenant_id == tenant_id, wd.c.webhook_id == webhook_id)
            )
            done = await conn.execute(delete(wh).where(_mine(tenant_id, webhook_id)))
            return bool(done.rowcount)

    async def rotate_secret(
        self, tenant_id: str, webhook_id: str, secret: str, previous_until: datetime
    ) -> Webhook | None:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(select(wh.c.secret).where(_mine(tenant_id, webhook_id)))
            ).first()
            if row is None:
                return None
            await conn.execute(
                update(wh)
                .where(_mine(tenant_id, webhook_id))
                .values(
                    secret=self._box.encrypt(secret.encode()),
                    previous_secret=row.secret,
                    previous_secret_until=previous_until,
                    updated_at=_now(),
                )
            )
        return await self.get(tenant_id, webhook_id)

    async def secrets(self, tenant_id: str, webhook_id: str, now: datetime) -> builtins.list[str]:
        async with self._db.tx(tenant_id) as conn:
            row = (
                await conn.execute(
                    select(wh.c.secret, wh.c.previous_secret, wh.c.previous_secret_until).where(
                        _mine(tenant_id, webhook_id)
                    )
                )
            ).first()
        if row is None:
            return []
        found = [self._box.decrypt(row.secret).decode()]
        until = _at(row.previous_secret_until)
        if row.previous_secret is not None and until is not None and until > now:
            found.append(self._box.decrypt(row.previous_secret).decode())
        return found

    async def active_for(self, tenant_id: str, event_type: str) -> builtins.list[Webhook]:
        return [w for w in await self.list(tenant_id) if w.active and event_type in w.event_types]
