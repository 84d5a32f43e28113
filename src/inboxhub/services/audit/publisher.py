"""How every service reports a user action: one ``audit.action`` event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inboxhub.domain.events import AUDIT_ACTION, AuditAction
from inboxhub.ports import EventBus


@dataclass
class AuditLog:
    bus: EventBus

    async def record(
        self,
        tenant_id: str,
        actor_id: str | None,
        action: str,
        object_id: str | None = None,
        ip: str | None = None,
        **detail: Any,
    ) -> None:
        event = AuditAction(
            actor_id=actor_id, action=action, object_id=object_id, detail=detail, ip=ip
        )
        await self.bus.publish(AUDIT_ACTION, [event.envelope(tenant_id, f"{tenant_id}:audit")])
