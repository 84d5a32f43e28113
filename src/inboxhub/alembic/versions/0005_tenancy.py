"""Tenancy: a tenant's domains (verified ones admit just-in-time SSO users).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SETTING = "current_setting('inboxhub.tenant_id', true)"


def wall(table: str) -> None:
    """The tenant wall of 0002 on a new table (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_wall ON {table} USING (tenant_id = {SETTING} OR {SETTING} = '*')"
    )


def upgrade() -> None:
    op.create_table(
        "tenant_domains",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("verification_token", sa.String(64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("tenant_domains_by_domain", "tenant_domains", ["domain"])
    verified = sa.text("verified_at IS NOT NULL")
    op.create_index(  # two tenants verifying one domain at once: one wins
        "tenant_domains_verified_once",
        "tenant_domains",
        ["domain"],
        unique=True,
        postgresql_where=verified,
        sqlite_where=verified,
    )
    wall("tenant_domains")


def downgrade() -> None:
    op.drop_index("tenant_domains_verified_once", table_name="tenant_domains")
    op.drop_index("tenant_domains_by_domain", table_name="tenant_domains")
    op.drop_table("tenant_domains")
