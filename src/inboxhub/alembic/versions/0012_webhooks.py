"""Webhook subscriptions and their delivery log (issue 7, notifications).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret", sa.LargeBinary()),
        _when("previous_secret_until"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        _when("failing_since"),
        sa.Column("disabled_reason", sa.String(500)),
        _when("disabled_at"),
        sa.Column("created_by", sa.String(32)),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
    )
    op.create_index("ix_webhooks_tenant_id", "webhooks", ["tenant_id"])
    wall("webhooks")
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at"),
        sa.Column("claim_token", sa.String(32)),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("response_excerpt", sa.String(1000)),
        sa.Column("duration_ms", sa.Integer()),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.UniqueConstraint("webhook_id", "event_id", name="webhook_deliveries_once"),
    )
    op.create_index(
        "webhook_deliveries_log", "webhook_deliveries", ["tenant_id", "webhook_id", "id"]
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["state", "next_attempt_at"])
    op.create_index("webhook_deliveries_age", "webhook_deliveries", ["updated_at"])
    wall("webhook_deliveries")


def downgrade() -> None:
    op.drop_table("webhook_deliveries")  # indexes and policies go with the tables
    op.drop_table("webhooks")
