"""Local accounts: sign-in failures (lockout), TOTP, password resets, revoked tokens.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind()  # tables to come


def downgrade() -> None:
    op.get_bind()
