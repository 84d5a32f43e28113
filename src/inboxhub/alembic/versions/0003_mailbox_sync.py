"""Mailbox connections and their sync: encrypted credentials, leases, status, item maps.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SETTING = "current_setting('inboxhub.tenant_id', true)"


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("mailboxes") as t:
        t.add_column(sa.Column("credentials", sa.LargeBinary()))
        t.add_column(_when("updated_at"))
    with op.batch_alter_table("sync_state") as t:
        t.add_column(sa.Column("lease_owner", sa.String(100)))
        t.add_column(_when("lease_expires_at"))
        t.add_column(sa.Column("sync_status", sa.String(16)))
        t.add_column(_when("last_sync_at"))
        t.add_column(sa.Column("last_error", sa.String(2000)))
        t.add_column(_when("last_error_at"))
        t.add_column(sa.Column("messages_synced", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "provider_items",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("mailbox_id", sa.String(32), primary_key=True),
        sa.Column("folder", sa.String(500), primary_key=True),
        sa.Column("ref", sa.String(200), primary_key=True),
        sa.Column("value", sa.String(1000), nullable=False),
    )
    op.create_table(
        "fetcher_workers",
        sa.Column("worker_id", sa.String(100), primary_key=True),
        _when("heartbeat_at", nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":  # the wall of 0002, on the new table
        op.execute("ALTER TABLE provider_items ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE provider_items FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_wall ON provider_items "
            f"USING (tenant_id = {SETTING} OR {SETTING} = '*')"
        )


def downgrade() -> None:
    op.drop_table("fetcher_workers")
    op.drop_table("provider_items")
    with op.batch_alter_table("sync_state") as t:
        for column in (
            "messages_synced",
            "last_error_at",
            "last_error",
            "last_sync_at",
            "sync_status",
            "lease_expires_at",
            "lease_owner",
        ):
            t.drop_column(column)
    with op.batch_alter_table("mailboxes") as t:
        t.drop_column("updated_at")
        t.drop_column("credentials")
