"""The audit trail's records, queries, policy and verification (``ports.AuditStore``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SUCCESS = "success"
FAILURE = "failure"


@dataclass(frozen=True)
class AuditEntry:
    """One user action as the audit service stores it. ``detail`` holds the source
    ``ip`` and ``user_agent`` too: personal data, rewritten by a GDPR erasure."""

    event_id: str
    time: datetime
    action: str
    actor_id: str | None = None
    object_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    outcome: str = SUCCESS
    request_id: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True)
class AuditPolicy:
    retention_days: int | None = None  # None: kept for ever
    legal_hold: bool = False  # True: nothing is purged, whatever the retention


@dataclass(frozen=True)
class AuditVerification:
    tenant_id: str
    verified: int  # records checked (from the anchor to the head)
    broken_seq: int | None = None  # the first record that does not verify
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None
