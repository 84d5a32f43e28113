"""The event envelope and one payload class per topic (DESIGN §4).

The envelope is validated on both sides of the bus; ``key`` is
``tenant_id:mailbox_id`` wherever a mailbox is involved so one mailbox's events stay
in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from inboxhub.domain.ids import new_event_id
from inboxhub.domain.models import Flags

USER_CREATED = "user.created"
USER_DELETED = "user.deleted"
TENANT_CREATED = "tenant.created"
TENANT_CONFIG_UPDATED = "tenant.config.updated"
EML_UPLOADED = "email.eml.uploaded"
INDEX_REQUESTED = "email.index.requested"
EMAIL_PROCESSED = "email.processed"
EMAIL_SENT = "email.sent"
EMAIL_UPDATED = "email.updated"
MAILBOX_STATUS = "mailbox.status"
AUDIT_ACTION = "audit.action"

TOPICS = (
    USER_CREATED,
    USER_DELETED,
    TENANT_CREATED,
    TENANT_CONFIG_UPDATED,
    EML_UPLOADED,
    INDEX_REQUESTED,
    EMAIL_PROCESSED,
    EMAIL_SENT,
    EMAIL_UPDATED,
    MAILBOX_STATUS,
    AUDIT_ACTION,
)


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


def message_key(tenant_id: str, mailbox_id: str, email_id: str) -> str:
    """The key of a message's pipeline events (uploaded, index requested, processed).

    Events of one message stay in order on one partition, and one mailbox's messages
    spread over all partitions: a 100,000-message import of one mailbox keeps every
    processor and indexer of the group busy, not just the one owning its partition.
    (DESIGN §4 keys by mailbox; messages are independent, so per-message order is
    the order that matters.)
    """
    return f"{tenant_id}:{mailbox_id}:{email_id}"


class Envelope(BaseModel):
    id: str = Field(default_factory=new_event_id)
    type: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant_id: str
    key: str
    schema_version: int = 1
    data: dict[str, Any]


class Payload(BaseModel):
    """Base of every topic's payload; ``topic`` names where it is published."""

    topic: ClassVar[str]

    def envelope(self, tenant_id: str, key: str) -> Envelope:
        return Envelope(
            type=self.topic, tenant_id=tenant_id, key=key, data=self.model_dump(mode="json")
        )

    @classmethod
    def of(cls, env: Envelope) -> Any:
        return cls.model_validate(env.data)


class EmlUploaded(Payload):
    topic: ClassVar[str] = EML_UPLOADED
    mailbox_id: str
    provider_message_id: str
    blob_key: str
    sha256: str
    size: int
    flags: Flags = Flags()
    labels: list[str] = []  # folders or labels holding it at the provider
    received_at: datetime  # when the provider got it, else when we fetched it


class IndexRequested(Payload):
    topic: ClassVar[str] = INDEX_REQUESTED
    mailbox_id: str
    email_id: str


def index_requests(tenant_id: str, emails: Iterable[tuple[str, str]]) -> list[Envelope]:
    """``email.index.requested`` for each (mailbox_id, email_id): the processor's
    follow-up, and the refresh after a flag change (fetcher, API)."""
    return [
        IndexRequested(mailbox_id=mailbox_id, email_id=email_id).envelope(
            tenant_id, message_key(tenant_id, mailbox_id, email_id)
        )
        for mailbox_id, email_id in emails
    ]


class EmailProcessed(Payload):
    topic: ClassVar[str] = EMAIL_PROCESSED
    mailbox_id: str
    email_id: str
    subject: str = ""
    from_email: str = ""
    has_parse_errors: bool = False


class TenantCreated(Payload):
    topic: ClassVar[str] = TENANT_CREATED
    slug: str
    name: str


class UserCreated(Payload):
    topic: ClassVar[str] = USER_CREATED
    user_id: str
    email: str
    roles: list[str] = []


class UserDeleted(Payload):
    topic: ClassVar[str] = USER_DELETED
    user_id: str


class TenantConfigUpdated(Payload):
    topic: ClassVar[str] = TENANT_CONFIG_UPDATED
    what: str  # e.g. "mailbox.created"
    object_id: str


class EmailSent(Payload):
    """A user's message went out through its mailbox's provider (services/sender);
    ``email_id`` is its copy in the mailbox's Sent view."""

    topic: ClassVar[str] = EMAIL_SENT
    mailbox_id: str
    email_id: str
    outgoing_id: str = ""  # /api/v1/messages/{outgoing_id}
    user_id: str = ""  # who sent it
    internet_message_id: str = ""  # its Message-ID header
    provider_message_id: str = ""
    recipients: int = 0
    rejected: dict[str, str] = {}  # recipients the provider refused: reason


def mailbox_key(tenant_id: str, mailbox_id: str) -> str:
    """The key of a mailbox's own events (updates, status): one mailbox's stay in order."""
    return f"{tenant_id}:{mailbox_id}"


# What an ``email.updated`` says changed (several at once when one edit did more).
EMAIL_CHANGES = ("flags", "labels", "trash", "untrash", "delete")


class EmailUpdated(Payload):
    """Emails of one mailbox changed (published after the change is stored): by a
    user through the API (``source="api"``) or at the provider, seen by the fetcher
    (``source="provider"``). Clients re-read the emails (or ``/api/v1/changes``)."""

    topic: ClassVar[str] = EMAIL_UPDATED
    mailbox_id: str
    email_ids: list[str]
    changed: list[str]  # of EMAIL_CHANGES
    source: str = "api"


class MailboxStatus(Payload):
    """A mailbox's sync state changed (not every poll): into ``retrying`` or
    ``error`` (with the error shown to the tenant), or back to working (``syncing``
    or ``idle``)."""

    topic: ClassVar[str] = MAILBOX_STATUS
    mailbox_id: str
    state: str  # pending, syncing, idle, retrying, error, paused
    error: str | None = None
    last_sync_at: datetime | None = None
    messages_synced: int = 0


class AuditAction(Payload):
    topic: ClassVar[str] = AUDIT_ACTION
    actor_id: str | None = None
    action: str  # e.g. "auth.login", "email.read", "email.search"
    object_id: str | None = None
    detail: dict[str, Any] = {}
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    outcome: str = "success"  # or "failure" (a failed login, a refused action)
