"""Tenancy: a tenant's domains (verified ones admit just-in-time SSO users) and
invitations (single-use links to an account, the token kept as its sha256).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


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
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("invited_by", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
    )
    op.create_index("invitations_by_tenant", "invitations", ["tenant_id", "created_at"])
    wall("invitations")


def downgrade() -> None:
    op.drop_index("invitations_by_tenant", table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("tenant_domains_verified_once", table_name="tenant_domains")
    op.drop_index("tenant_domains_by_domain", table_name="tenant_domains")
    op.drop_table("tenant_domains")
