"""DKIM signing keys per tenant domain (issue 7, send).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dkim_keys",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("selector", sa.String(63), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("private_key", sa.LargeBinary, nullable=False),
        sa.Column("dns_value", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.Column("created_by", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    wall("dkim_keys")


def downgrade() -> None:
    op.drop_table("dkim_keys")
