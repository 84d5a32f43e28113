"""The relational schema (SQLAlchemy Core tables). Alembic migrations create it;
every row but platform secrets carries ``tenant_id``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

# ``Column(..., info=ENCRYPTED)``: its values are sealed by ``crypto.SecretBox``, so
# ``inboxhub secrets rotate`` re-seals them under the newest key (adapters/db_rotation.py).
ENCRYPTED = {"encrypted": True}

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("password_hash", String(200)),
    Column("roles", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "email", name="users_tenant_email"),
    Index("users_by_email", "email"),
)

# A tenant's email domains. A verified one (DNS TXT, or an operator's word) admits
# just-in-time users from the tenant's single sign-on; one tenant per verified domain.
tenant_domains = Table(
    "tenant_domains",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("verification_token", String(64), nullable=False),
    Column("verified_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("tenant_domains_by_domain", "domain"),
    Index(
        "tenant_domains_verified_once",
        "domain",
        unique=True,
        postgresql_where=text("verified_at IS NOT NULL"),
        sqlite_where=text("verified_at IS NOT NULL"),
    ),
)

# Offers of an account, mailed as a single-use link; only the token's sha256 is kept.
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("invited_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("accepted_at", DateTime(timezone=True)),
    Index("invitations_by_tenant", "tenant_id", "created_at"),
)

# Single sign-on per tenant and protocol ("oidc", "saml"): the admin's settings and a
# sealed secret (the OIDC client secret).
sso_configs = Table(
    "sso_configs",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("protocol", String(8), primary_key=True),
    Column("settings", JSON, nullable=False),
    Column("secret", LargeBinary, info=ENCRYPTED),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Logins in flight: OIDC state, SAML request ids, codes handing tokens to the browser;
# each taken once, by the sha256 of its handle.
sso_tickets = Table(
    "sso_tickets",
    metadata,
    Column("handle_hash", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("sso_tickets_by_expiry", "tenant_id", "expires_at"),
)

# SAML assertion ids seen, kept until the assertion expires (replay protection).
sso_assertions = Table(
    "sso_assertions",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("assertion_id", String(256), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("provider", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("credentials", LargeBinary, info=ENCRYPTED),  # the provider's secrets
    Column("updated_at", DateTime(timezone=True)),  # settings changed: restart its sync
    UniqueConstraint("tenant_id", "name", name="mailboxes_tenant_name"),
)

# ``state`` is the connector's cursor; the rest is the engine's: who syncs the mailbox
# (a lease that expires) and what the last pass did, for the status API.
sync_state = Table(
    "sync_state",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("mailbox_id", String(32), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("sync_status", String(16)),
    Column("last_sync_at", DateTime(timezone=True)),
    Column("last_error", String(2000)),
    Column("last_error_at", DateTime(timezone=True)),
    Column("messages_synced", Integer, nullable=False, server_default="0"),
)

# Per mailbox and folder: a provider's short-lived item reference (an IMAP UID) →
# the stable provider message id (providers/base.ItemMap).
provider_items = Table(
    "provider_items",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("mailbox_id", String(32), primary_key=True),
    Column("folder", String(500), primary_key=True),
    Column("ref", String(200), primary_key=True),
    Column("value", String(1000), nullable=False),
)

# Per mailbox: the user's changes waiting for the provider (``ports.SyncStore.outbox_*``),
# applied in ``id`` order by the fetcher holding the mailbox's lease.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("mailbox_id", String(32), nullable=False),
    Column("change", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(2000)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("mail_outbox_by_mailbox", "tenant_id", "mailbox_id", "id"),
    sqlite_autoincrement=True,  # ids never reused: the order of changes is theirs
)

# Live fetcher processes (platform-wide): mailboxes are spread over these.
fetcher_workers = Table(
    "fetcher_workers",
    metadata,
    Column("worker_id", String(100), primary_key=True),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("family", String(32), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Index("refresh_tokens_by_user", "tenant_id", "user_id"),  # 0006: revoke a user's all
)

# Local accounts (migration 0006, adapters/db_accounts.py). Failed sign-ins per
# subject ("email:<address>" in the account's tenant, "ip:<address>" in "*").
login_failures = Table(
    "login_failures",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("subject", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    Column("locked_until", DateTime(timezone=True)),
    Index("login_failures_by_time", "last_failure_at"),
)

# Password reset links (single use); only the token's sha256 is kept.
password_resets = Table(
    "password_resets",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
    Index("password_resets_by_user", "tenant_id", "user_id"),
)

# TOTP second factor; ``last_step`` is the newest time step used (no replay).
totp_credentials = Table(
    "totp_credentials",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("secret", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("last_step", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

totp_recovery_codes = Table(
    "totp_recovery_codes",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("code_hash", String(64), primary_key=True),
    Column("used_at", DateTime(timezone=True)),
)

# Access tokens refused before their expiry: one (logout), or all of a user's issued
# before ``not_before`` (deleted, suspended, password reset). Rows go when expired.
revoked_access_tokens = Table(
    "revoked_access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    info={"erase_with_user": False},  # a revocation outlives the user (db_erasure.py)
)

user_token_cutoffs = Table(
    "user_token_cutoffs",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    info={"erase_with_user": False},
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("event_id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(32)),
    Column("action", String(64), nullable=False),
    Column("object_id", String(64)),
    Column("detail", JSON, nullable=False),
    # the tenant's hash chain (adapters/db_audit.py, services/audit/chain.py)
    Column("seq", BigInteger),
    Column("outcome", String(16), nullable=False, server_default="success"),
    Column("request_id", String(128)),
    Column("commitment", String(64)),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
    Column("erased", Boolean, nullable=False, server_default=false()),
    Index("audit_by_tenant_time", "tenant_id", "time"),
    Index("audit_by_tenant_seq", "tenant_id", "seq", unique=True),
)

# Per tenant: the head of its audit chain (locked by each append), the anchor the
# chain starts from after a purge, the sealed key of its commitments, its policy.
audit_chains = Table(
    "audit_chains",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("head_seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("anchor_seq", BigInteger, nullable=False),
    Column("anchor_hash", String(64), nullable=False),
    Column("key", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("retention_days", Integer),
    Column("legal_hold", Boolean, nullable=False, server_default=false()),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False, info=ENCRYPTED),
)

# Which members see which mailboxes (owners, admins and auditors see them all).
mailbox_members = Table(
    "mailbox_members",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("mailbox_id", String(32), primary_key=True),
    Column("user_id", String(32), primary_key=True),
    Index("mailbox_members_by_user", "tenant_id", "user_id"),
)

# DKIM signing keys of a tenant's domains (adapters/db_dkim.py); the active one of a
# domain signs its outgoing mail. ``dns_value`` is the public TXT record.
dkim_keys = Table(
    "dkim_keys",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("selector", String(63), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_key", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("dns_value", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=false()),
    Column("activated_at", DateTime(timezone=True)),
    Column("created_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Users' outgoing messages: drafts and the send outbox (adapters/db_outgoing.py). A
# worker's lease (``lease_owner`` until ``lease_expires_at``) holds a message it sends.
outgoing_messages = Table(
    "outgoing_messages",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("mailbox_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("original_email_id", String(64)),
    Column("sender", String(998), nullable=False),
    Column("to", JSON, nullable=False),
    Column("cc", JSON, nullable=False),
    Column("bcc", JSON, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("quoted_text", Text, nullable=False),
    Column("quoted_html", Text, nullable=False),
    Column("in_reply_to", String(998)),
    Column("references", JSON, nullable=False),
    Column("attachments", JSON, nullable=False),
    Column("internet_message_id", String(998), nullable=False),
    Column("idempotency_key", String(255)),
    Column("request_hash", String(64)),
    Column("send_at", DateTime(timezone=True)),
    Column("queued_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", String(2000)),
    Column("rejected", JSON, nullable=False),
    Column("eml_key", String(200)),
    Column("provider_message_id", String(1000)),
    Column("email_id", String(64)),
    Column("filed_at", DateTime(timezone=True)),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    UniqueConstraint("tenant_id", "user_id", "idempotency_key", name="outgoing_idempotency"),
    Index("outgoing_by_user", "tenant_id", "user_id", "created_at"),
    Index("outgoing_due", "state", "next_attempt_at"),
    Index("outgoing_by_submission", "tenant_id", "queued_at"),
)

# Files uploaded to attach to outgoing messages; the bytes are blobs
# (``t/<tenant>/upload/<sha256>``), kept until ``expires_at``.
uploads = Table(
    "uploads",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("uploads_by_user", "tenant_id", "user_id"),
    Index("uploads_by_expiry", "expires_at"),
)

# Webhooks (services/webhooks): a tenant's subscriptions, their sealed signing
# secrets (the previous one signs too until ``previous_secret_until``), and the log of
# deliveries, one per (subscription, event), held by a worker's claim while sent.
webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("description", String(500), nullable=False, server_default=""),
    Column("secret", LargeBinary, nullable=False, info=ENCRYPTED),
    Column("previous_secret", LargeBinary, info=ENCRYPTED),
    Column("previous_secret_until", DateTime(timezone=True)),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("failing_since", DateTime(timezone=True)),
    Column("disabled_reason", String(500)),
    Column("disabled_at", DateTime(timezone=True)),
    Column("created_by", String(32)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),  # time-ordered: the log's order
    Column("tenant_id", String(32), nullable=False),
    Column("webhook_id", String(32), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the exact bytes sent
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("claim_token", String(32)),
    Column("last_status_code", Integer),
    Column("last_error", String(1000)),
    Column("response_excerpt", String(1000)),
    Column("duration_ms", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_once"),
    Index("webhook_deliveries_log", "tenant_id", "webhook_id", "id"),
    Index("webhook_deliveries_due", "state", "next_attempt_at"),
    Index("webhook_deliveries_age", "updated_at"),
)
