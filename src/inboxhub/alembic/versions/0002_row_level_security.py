"""Row-level security by tenant on PostgreSQL: a second wall behind the queries.

Every query of ``SqlDirectory`` already filters on the tenant it was given; on
PostgreSQL each transaction also sets ``inboxhub.tenant_id`` (a tenant's id, or
``*`` for the few platform-wide lookups: login by email, refresh by token hash, the
tenant list), and these policies let a row be seen or written only under its own
tenant. ``FORCE`` applies them to the tables' owner too; only superusers bypass
them, so production connects as an ordinary role. A transaction that sets nothing
sees nothing. SQLite has no such thing: this revision does nothing there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TENANT_COLUMNS = {
    "tenants": "id",
    "users": "tenant_id",
    "mailboxes": "tenant_id",
    "sync_state": "tenant_id",
    "refresh_tokens": "tenant_id",
    "audit_log": "tenant_id",
}
SETTING = "current_setting('inboxhub.tenant_id', true)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in TENANT_COLUMNS.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_wall ON {table} USING ({column} = {SETTING} OR {SETTING} = '*')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_COLUMNS:
        op.execute(f"DROP POLICY tenant_wall ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
