"""``audit.action`` → one audit row. Idempotent by event id."""

from __future__ import annotations

from dataclasses import dataclass

from inboxhub.domain.events import AuditAction
from inboxhub.ports import Directory, Record


@dataclass
class AuditRecorder:
    directory: Directory

    async def handle(self, records: list[Record]) -> None:
        for r in records:
            action = AuditAction.of(r.envelope)
            await self.directory.add_audit(
                r.envelope.tenant_id,
                r.envelope.time,
                action.actor_id,
                action.action,
                action.object_id,
                {**action.detail, **({"ip": action.ip} if action.ip else {})},
                r.envelope.id,
            )
