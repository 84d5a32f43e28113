"""Single sign-on per tenant: OIDC and SAML configurations, replay protection.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind()  # tables to come


def downgrade() -> None:
    op.get_bind()
