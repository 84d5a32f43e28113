"""The outbox: users' changes to emails waiting to be made at the provider too.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SETTING = "current_setting('inboxhub.tenant_id', true)"


def upgrade() -> None:
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("mailbox_id", sa.String(32), nullable=False),
        sa.Column("change", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(2000)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("mail_outbox_by_mailbox", "mail_outbox", ["tenant_id", "mailbox_id", "id"])
    if op.get_bind().dialect.name == "postgresql":  # the wall of 0002, on the new table
        op.execute("ALTER TABLE mail_outbox ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE mail_outbox FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_wall ON mail_outbox "
            f"USING (tenant_id = {SETTING} OR {SETTING} = '*')"
        )


def downgrade() -> None:
    op.drop_index("mail_outbox_by_mailbox", table_name="mail_outbox")
    op.drop_table("mail_outbox")  # its policy goes with it
