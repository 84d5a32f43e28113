"""Audit: a hash chain per tenant, retention and legal hold.

Rows written before this revision are left unchained here (chaining needs the
tenant's commitment key, sealed by the application's SecretBox, which a migration
does not hold): the tenant's first append or ``inboxhub audit verify`` after the
upgrade chains them, oldest first (``adapters/db_audit.py``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from inboxhub.alembic.tenant_wall import wall

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("seq", "outcome", "request_id", "commitment", "prev_hash", "hash", "erased")


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger()))
        batch.add_column(
            sa.Column("outcome", sa.String(16), nullable=False, server_default="success")
        )
        batch.add_column(sa.Column("request_id", sa.String(128)))
        batch.add_column(sa.Column("commitment", sa.String(64)))
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
        batch.add_column(
            sa.Column("erased", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("audit_by_tenant_seq", "audit_log", ["tenant_id", "seq"], unique=True)
    op.create_table(
        "audit_chains",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("head_seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(64), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("retention_days", sa.Integer()),
        sa.Column("legal_hold", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    wall("audit_chains")


def downgrade() -> None:
    op.drop_table("audit_chains")
    op.drop_index("audit_by_tenant_seq", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
