"""``audit.action`` → one record chained onto the tenant's audit trail. Idempotent
by event id. Once a day per tenant the recorder also purges what is older than the
tenant's retention (``AuditStore.purge``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from inboxhub.domain.audit import AuditEntry
from inboxhub.domain.events import AuditAction
from inboxhub.ports import AuditStore, Record


@dataclass
class AuditRecorder:
    store: AuditStore
    purged_on: dict[str, date] = field(default_factory=dict)

    async def handle(self, records: list[Record]) -> None:
        for r in records:
            action = AuditAction.of(r.envelope)
            caller = {"ip": action.ip, "user_agent": action.user_agent}
            await self.store.append(
                r.envelope.tenant_id,
                AuditEntry(
                    event_id=r.envelope.id,
                    time=r.envelope.time,
                    action=action.action,
                    actor_id=action.actor_id,
                    object_id=action.object_id,
                    detail={**action.detail, **{k: v for k, v in caller.items() if v}},
                    outcome=action.outcome,
                    request_id=action.request_id,
                ),
            )
        await self._purge_daily({r.envelope.tenant_id for r in records})

    async def _purge_daily(self, tenant_ids: set[str]) -> None:
        now = datetime.now(UTC)
        for tenant_id in tenant_ids:
            if self.purged_on.get(tenant_id) != now.date():
                await self.store.purge(tenant_id, now)
                self.purged_on[tenant_id] = now.date()
