"""Single sign-on per tenant: OIDC and SAML configurations, replay protection.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("sso_configs", "sso_tickets", "sso_assertions")


def upgrade() -> None:
    op.create_table(
        "sso_configs",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("protocol", sa.String(8), primary_key=True),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("secret", sa.LargeBinary),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sso_tickets",
        sa.Column("handle_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("sso_tickets_by_expiry", "sso_tickets", ["tenant_id", "expires_at"])
    op.create_table(
        "sso_assertions",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("assertion_id", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    for table in TABLES:
        wall(table)


def downgrade() -> None:
    op.drop_index("sso_tickets_by_expiry", table_name="sso_tickets")
    for table in reversed(TABLES):
        op.drop_table(table)
