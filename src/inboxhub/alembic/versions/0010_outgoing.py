"""Outgoing mail: drafts, the send outbox, uploads (issue 7, send).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "outgoing_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("mailbox_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("original_email_id", sa.String(64)),
        sa.Column("sender", sa.String(998), nullable=False),
        sa.Column("to", sa.JSON(), nullable=False),
        sa.Column("cc", sa.JSON(), nullable=False),
        sa.Column("bcc", sa.JSON(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("quoted_text", sa.Text(), nullable=False),
        sa.Column("quoted_html", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.String(998)),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("internet_message_id", sa.String(998), nullable=False),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("request_hash", sa.String(64)),
        _when("send_at"),
        _when("queued_at"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        _when("next_attempt_at"),
        sa.Column("last_error", sa.String(2000)),
        sa.Column("rejected", sa.JSON(), nullable=False),
        sa.Column("eml_key", sa.String(200)),
        sa.Column("provider_message_id", sa.String(1000)),
        sa.Column("email_id", sa.String(64)),
        _when("filed_at"),
        sa.Column("lease_owner", sa.String(100)),
        _when("lease_expires_at"),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        _when("sent_at"),
        sa.UniqueConstraint("tenant_id", "user_id", "idempotency_key", name="outgoing_idempotency"),
    )
    op.create_index("outgoing_by_user", "outgoing_messages", ["tenant_id", "user_id", "created_at"])
    op.create_index("outgoing_due", "outgoing_messages", ["state", "next_attempt_at"])
    op.create_index("outgoing_by_submission", "outgoing_messages", ["tenant_id", "queued_at"])
    wall("outgoing_messages")

    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
    )
    op.create_index("uploads_by_user", "uploads", ["tenant_id", "user_id"])
    op.create_index("uploads_by_expiry", "uploads", ["expires_at"])
    wall("uploads")


def downgrade() -> None:
    op.drop_table("uploads")
    op.drop_table("outgoing_messages")
