"""The relational schema (SQLAlchemy Core tables). Alembic migrations create it;
every row but platform secrets carries ``tenant_id``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

metadata = MetaData()

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
    Column("credentials", LargeBinary),  # the provider's secrets, encrypted (crypto.py)
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
    Index("audit_by_tenant_time", "tenant_id", "time"),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
