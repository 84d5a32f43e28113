"""The tenant wall of revision 0002, for the migrations that add tables after it.

On PostgreSQL a table with a ``tenant_id`` column gets row-level security: a
transaction sees the rows of the tenant it declared (``inboxhub.tenant_id``, set by
``SqlDirectory.tx``) or, declaring ``*``, every tenant's. SQLite has no such thing;
there the filters of the queries are the wall.

Kept apart from the migrations so that each of them uses the one policy text; a
change here would change only migrations not yet applied, so it must not change.
"""

from __future__ import annotations

from alembic import op

SETTING = "current_setting('inboxhub.tenant_id', true)"


def wall(table: str) -> None:
    """Row-level security on ``table`` (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_wall ON {table} USING (tenant_id = {SETTING} OR {SETTING} = '*')"
    )
