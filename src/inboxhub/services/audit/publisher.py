"""How every service reports a user action: one ``audit.action`` event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inboxhub.domain.audit import SUCCESS
from inboxhub.domain.events import AUDIT_ACTION, AuditAction
from inboxhub.ports import EventBus
from inboxhub.services.audit.context import current_caller
from inboxhub.services.gateway import request_ids


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
        *,
        user_agent: Any = None,
        request_id: Any = None,
        outcome: Any = SUCCESS,
        **detail: Any,
    ) -> None:
        """Record the action. Serving a request, the user agent and request id not
        given are the request's (``context.py``). (The three are typed ``Any`` for
        the callers passing ``**detail`` of their own; ``AuditAction`` checks them.)"""
        event = AuditAction(
            actor_id=actor_id,
            action=action,
            object_id=object_id,
            detail=detail,
            ip=ip,
            user_agent=user_agent or current_caller().user_agent,
            request_id=request_id or request_ids.current(),
            outcome=outcome,
        )
        await self.bus.publish(AUDIT_ACTION, [event.envelope(tenant_id, f"{tenant_id}:audit")])
