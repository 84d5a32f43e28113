"""Initial schema: tenants, users, mailboxes, sync state, refresh tokens, audit, secrets.

Written out operation by operation, so it stays what it was when later revisions
change ``adapters/db_tables.py`` (a test checks the two agree at head).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("tenant_id", "email", name="users_tenant_email"),
    )
    op.create_index("users_by_email", "users", ["email"])
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        _when("created_at"),
        sa.UniqueConstraint("tenant_id", "name", name="mailboxes_tenant_name"),
    )
    op.create_table(
        "sync_state",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("mailbox_id", sa.String(32), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        _when("expires_at"),
        _when("used_at", nullable=True),
        _when("revoked_at", nullable=True),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"])
    op.create_table(
        "audit_log",
        sa.Column("event_id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        _when("time"),
        sa.Column("actor_id", sa.String(32)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("audit_by_tenant_time", "audit_log", ["tenant_id", "time"])
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "secrets",
        "audit_log",
        "refresh_tokens",
        "sync_state",
        "mailboxes",
        "users",
        "tenants",
    ):
        op.drop_table(table)
