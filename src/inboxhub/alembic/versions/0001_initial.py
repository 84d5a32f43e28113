"""Initial schema: tenants, users, mailboxes, sync state, refresh tokens, audit, secrets.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

from inboxhub.adapters.db_tables import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
TABLES = ("tenants", "users", "mailboxes", "sync_state", "refresh_tokens", "audit_log", "secrets")


def upgrade() -> None:
    bind = op.get_bind()
    # The tables as they stood at revision 0001; later revisions alter them with op.*.
    metadata.create_all(bind, tables=[metadata.tables[t] for t in TABLES])


def downgrade() -> None:
    bind = op.get_bind()
    metadata.drop_all(bind, tables=[metadata.tables[t] for t in TABLES])
