"""Access: which members see which mailboxes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mailbox_members",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("mailbox_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
    )
    op.create_index("mailbox_members_by_user", "mailbox_members", ["tenant_id", "user_id"])
    wall("mailbox_members")


def downgrade() -> None:
    op.drop_index("mailbox_members_by_user", table_name="mailbox_members")
    op.drop_table("mailbox_members")
