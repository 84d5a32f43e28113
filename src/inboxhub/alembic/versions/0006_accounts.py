"""Local accounts: sign-in failures (lockout), TOTP, password resets, revoked tokens.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = (
    "login_failures",
    "password_resets",
    "totp_credentials",
    "totp_recovery_codes",
    "revoked_access_tokens",
    "user_token_cutoffs",
)


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_index("refresh_tokens_by_user", "refresh_tokens", ["tenant_id", "user_id"])
    op.create_table(
        "login_failures",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(400), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        _when("last_failure_at"),
        _when("locked_until", nullable=True),
    )
    op.create_index("login_failures_by_time", "login_failures", ["last_failure_at"])
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        _when("expires_at"),
        _when("used_at", nullable=True),
    )
    op.create_index("password_resets_by_user", "password_resets", ["tenant_id", "user_id"])
    op.create_table(
        "totp_credentials",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        _when("confirmed_at", nullable=True),
        sa.Column("last_step", sa.BigInteger),
        _when("created_at"),
    )
    op.create_table(
        "totp_recovery_codes",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("code_hash", sa.String(64), primary_key=True),
        _when("used_at", nullable=True),
    )
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        _when("expires_at"),
    )
    op.create_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens", ["expires_at"])
    op.create_table(
        "user_token_cutoffs",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        _when("not_before"),
        _when("expires_at"),
    )
    op.create_index("ix_user_token_cutoffs_expires_at", "user_token_cutoffs", ["expires_at"])
    for table in TABLES:
        wall(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.drop_index("refresh_tokens_by_user", table_name="refresh_tokens")
