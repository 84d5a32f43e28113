"""The relational schema (SQLAlchemy Core tables). Alembic migrations create it;
every row but platform secrets carries ``tenant_id``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
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
    UniqueConstraint("tenant_id", "name", name="mailboxes_tenant_name"),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("mailbox_id", String(32), primary_key=True),
    Column("state", JSON, nullable=False),
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
