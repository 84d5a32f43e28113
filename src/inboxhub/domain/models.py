"""The email as the system stores and serves it.

``ParsedEmail`` is what the pure MIME parser returns from raw bytes (attachments
still carry their decoded bytes); ``EmailDocument`` is what the processor stores:
the parsed email placed in a tenant and mailbox, attachments replaced by blob keys.
``EmailSummary`` is the slice a list view needs, so lists never load bodies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EMAIL_SCHEMA_VERSION = 1


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = ""
    email: str = ""


class Flags(BaseModel):
    seen: bool = False
    flagged: bool = False


class ParsedAttachment(BaseModel):
    """One attachment or inline part, decoded; ``data`` never leaves the processor."""

    filename: str = ""
    content_type: str = "application/octet-stream"
    content_id: str | None = None
    inline: bool = False
    data: bytes = b""


class ParsedEmail(BaseModel):
    """Everything the parser could recover from one message, plus what went wrong.

    A parser never raises on bad input: what it cannot read is reported in
    ``parse_errors`` and the rest is still filled in.
    """

    message_id: str | None = None
    subject: str = ""
    from_: Address | None = Field(default=None, alias="from")
    sender: Address | None = None
    to: list[Address] = []
    cc: list[Address] = []
    bcc: list[Address] = []
    reply_to: list[Address] = []
    date: datetime | None = None  # always timezone-aware UTC when set
    in_reply_to: str | None = None
    references: list[str] = []
    headers: list[tuple[str, str]] = []
    text: str = ""
    html: str = ""  # as found in the message: NOT sanitised
    attachments: list[ParsedAttachment] = []
    parse_errors: list[str] = []

    model_config = ConfigDict(populate_by_name=True)


class Attachment(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    content_id: str | None = None
    inline: bool = False


class EmailSummary(BaseModel):
    """The list-view shape of an email (API item)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    tenant_id: str
    mailbox_id: str
    message_id: str | None = None
    subject: str = ""
    from_: Address | None = Field(default=None, alias="from")
    to: list[Address] = []
    date: datetime | None = None
    sort_date: datetime  # date, else the time the message reached us: list order key
    snippet: str = ""
    has_attachments: bool = False
    flags: Flags = Flags()
    labels: list[str] = []  # the provider's folders (IMAP, Graph, EWS) or labels (Gmail)
    in_reply_to: str | None = None
    thread_id: str = ""  # its conversation (domain.threading); "" if stored before threads
    dedup_key: str = ""  # the same for copies of one message (domain.dedup); "" = unique
    # what a change made here is sent to the provider by (MailChange), without the body
    provider_message_id: str = ""


class EmailDocument(EmailSummary):
    """The stored email, upserted by ``id`` (DESIGN §5)."""

    schema_version: int = EMAIL_SCHEMA_VERSION
    provider_message_id: str
    blob_key: str
    size: int
    sha256: str
    cc: list[Address] = []
    bcc: list[Address] = []
    reply_to: list[Address] = []
    sender: Address | None = None
    references: list[str] = []
    headers: list[tuple[str, str]] = []
    text: str = ""
    html: str = ""  # sanitised with nh3 before it is stored
    attachments: list[Attachment] = []
    attachment_text: str = ""  # the attachments' text, for search (inboxhub.extract)
    parse_errors: list[str] = []
    received_at: datetime

    def summary(self) -> EmailSummary:
        return EmailSummary.model_validate(
            self.model_dump(include=set(EmailSummary.model_fields), by_alias=False)
        )


class SearchDocument(BaseModel):
    """What the search index holds for one email: text fields plus filters."""

    id: str
    tenant_id: str
    mailbox_id: str
    sort_date: datetime
    subject: str = ""
    from_text: str = ""  # "Name <local@domain>" of the sender
    to_text: str = ""  # to + cc + bcc, same form
    cc_text: str = ""  # cc alone (cc:), same form
    bcc_text: str = ""  # bcc alone (bcc:), same form
    body: str = ""
    attachment_names: str = ""
    has_attachments: bool = False
    seen: bool = False
    flagged: bool = False
    size: int = 0  # bytes of the raw message (larger:, smaller:)
    sender_domain: str = ""  # lower case, for facets
    message_id: str = ""  # Message-ID without angle brackets (rfc822msgid:)
    # Lower case; the index stores search_query.index_values() of each (label:, list:,
    # deliveredto:).
    labels: list[str] = []  # the provider's folders or labels, as label_key() makes them
    list_ids: list[str] = []  # List-Id ids (without <>)
    delivered_to: list[str] = []  # Delivered-To and X-Original-To addresses


class SearchHit(BaseModel):
    id: str
    score: float = 0.0
    highlights: dict[str, list[str]] = {}


class SearchPage(BaseModel):
    hits: list[SearchHit]
    total: int
    total_exact: bool = True  # False: more than ``total`` (search_query.TOTAL_CAP) match
    next_cursor: str | None = None
    facets: dict[str, dict[str, int]] = {}


class Tenant(BaseModel):
    id: str
    slug: str
    name: str
    status: str = "active"
    created_at: datetime


class User(BaseModel):
    id: str
    tenant_id: str
    email: str
    roles: list[str] = []
    status: str = "active"
    created_at: datetime


class TenantDomain(BaseModel):
    """An email domain of a tenant; ``verified_at`` set once its ownership is shown."""

    tenant_id: str
    domain: str
    verification_token: str
    verified_at: datetime | None = None
    created_at: datetime

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


class DkimKeyInfo(BaseModel):
    """A DKIM key of a tenant's domain as admins see it: never the private key.
    ``dns_value`` is the TXT record to publish at ``<selector>._domainkey.<domain>``;
    the active key (at most one per domain) signs the domain's outgoing mail."""

    tenant_id: str
    domain: str
    selector: str
    algorithm: str  # "rsa" | "ed25519"
    dns_value: str
    active: bool = False
    activated_at: datetime | None = None
    created_by: str | None = None
    created_at: datetime


class DkimKey(BaseModel):
    """What signing needs (``mime.dkim_sign``): the decrypted private key, PEM."""

    domain: str
    selector: str
    private_key_pem: bytes


class SsoConfig(BaseModel):
    """A tenant's single sign-on with one protocol ("oidc" or "saml"): ``settings`` as
    the tenant admin gave them, ``secret`` sealed with the platform key (crypto.py)."""

    tenant_id: str
    protocol: str
    settings: dict[str, Any] = {}
    secret: bytes | None = None
    updated_at: datetime


class Invitation(BaseModel):
    """A pending offer of an account: accepted once, with the token mailed to ``email``
    (only its hash is stored)."""

    id: str
    tenant_id: str
    email: str
    roles: list[str] = []
    invited_by: str | None = None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None


class Mailbox(BaseModel):
    id: str
    tenant_id: str
    name: str
    provider: str  # "local", "imap", "gmail", "graph", "ews"
    status: str = "active"  # or "paused"
    created_at: datetime
    config: dict[str, Any] = {}  # the provider's settings without its secrets
    updated_at: datetime | None = None  # settings last changed (restarts the sync)


class MailChange(BaseModel):
    """A user's change to an email that its provider is asked to make too (the
    fetcher owning the mailbox applies it: IMAP STORE/COPY/MOVE/EXPUNGE, Gmail
    messages.modify/trash/delete, Graph PATCH/move/DELETE, EWS update/move/delete).
    Only what changed is set."""

    email_id: str
    provider_message_id: str
    labels: list[str] = []  # the email's folders or labels before the change
    flags: Flags | None = None  # the new flags, when they changed
    add_labels: list[str] = []
    remove_labels: list[str] = []
    trash: bool = False  # move to the provider's trash
    untrash: bool = False  # back from the trash (to ``labels`` as they were)
    delete: bool = False  # permanently


class OutboxEntry(BaseModel):
    """A ``MailChange`` waiting in a mailbox's outbox, with its position."""

    id: int
    mailbox_id: str
    change: MailChange
    attempts: int = 0


class SyncStatus(BaseModel):
    """What the fetcher last did with a mailbox (``GET /api/v1/mailboxes/{id}``)."""

    state: str = "pending"  # pending, syncing, idle, retrying, error, paused
    last_sync_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    messages_synced: int = 0
    worker: str | None = None  # the fetcher process holding the mailbox's lease
