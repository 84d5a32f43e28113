"""Webhooks: a tenant's subscriptions to event types, and the log of what was sent.

Pure data; the policy (signing, retries, auto-disable) is in ``services/webhooks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ACTIVE = "active"
DISABLED = "disabled"

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DELIVERY_STATES = (PENDING, DELIVERED, FAILED)

#: the event types a subscription may name (the bus topics a webhook forwards)
EVENT_TYPES = ("email.processed", "email.updated", "email.sent", "mailbox.status")
#: sent by ``POST /api/v1/webhooks/{id}/test`` whatever the subscription's types
TEST_EVENT = "webhook.test"


@dataclass(frozen=True)
class Webhook:
    """A subscription. Its signing secrets are not here: ``WebhookStore.secrets``."""

    id: str
    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    description: str
    status: str
    consecutive_failures: int
    failing_since: datetime | None
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_until: datetime | None  # the old secret also signs until then
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True)
class NewDelivery:
    """A delivery to make: ``body`` is the exact JSON sent on every attempt."""

    tenant_id: str
    webhook_id: str
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class Delivery:
    id: str
    tenant_id: str
    webhook_id: str
    event_id: str
    event_type: str
    body: bytes
    state: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    response_excerpt: str | None
    duration_ms: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds until ``token``'s lease runs out."""

    delivery: Delivery
    token: str
    url: str  # the subscription's, when claimed


@dataclass(frozen=True)
class AttemptResult:
    """What one attempt got: a status code (None when no answer came) and why not."""

    status_code: int | None
    error: str | None
    response_excerpt: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class DisablePolicy:
    """A subscription is disabled when ``after_failures`` deliveries in a row failed
    for good, or when the latest one fails for good and none succeeded for
    ``after_seconds``."""

    after_failures: int
    after_seconds: float
