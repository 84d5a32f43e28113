"""Row-level security on PostgreSQL: the second wall holds even for a query that
forgets its tenant filter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from inboxhub.adapters.db import SqlDirectory
from tests.support.servers.postgres import Postgres


@pytest.fixture()
async def directory(
    postgres: Postgres, request: pytest.FixtureRequest
) -> AsyncIterator[SqlDirectory]:
    d = await SqlDirectory.open(postgres.create_database(f"rls_{request.node.name[-20:]}".lower()))
    yield d
    await d.close()


async def _names(d: SqlDirectory, scope: str | None) -> list[str]:
    async with d.engine.begin() as conn:
        if scope is not None:
            await conn.execute(
                text("SELECT set_config('inboxhub.tenant_id', :s, true)"), {"s": scope}
            )
        rows = await conn.execute(text("SELECT name FROM mailboxes ORDER BY name"))
        return [r.name for r in rows]


async def test_unfiltered_queries_see_only_their_tenant(directory: SqlDirectory) -> None:
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    await directory.get_or_create_mailbox(a.id, "a-inbox", "local")
    await directory.get_or_create_mailbox(b.id, "b-inbox", "local")
    assert await _names(directory, a.id) == ["a-inbox"]
    assert await _names(directory, b.id) == ["b-inbox"]
    assert await _names(directory, None) == [], "no declared tenant: nothing"
    assert await _names(directory, "*") == ["a-inbox", "b-inbox"]


async def test_writing_a_row_for_another_tenant_is_refused(directory: SqlDirectory) -> None:
    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    with pytest.raises(DBAPIError, match="row-level security"):
        async with directory.engine.begin() as conn:
            await conn.execute(
                text("SELECT set_config('inboxhub.tenant_id', :s, true)"), {"s": a.id}
            )
            await conn.execute(
                text(
                    "INSERT INTO mailboxes (id, tenant_id, name, provider, status, config, "
                    "created_at) VALUES ('x', :t, 'sneaky', 'local', 'active', '{}', now())"
                ),
                {"t": b.id},
            )


async def test_the_outbox_is_walled_off_too(directory: SqlDirectory) -> None:
    from inboxhub.adapters.db_sync import SqlSyncStore
    from inboxhub.domain.models import MailChange

    a = await directory.create_tenant("a", "A")
    b = await directory.create_tenant("b", "B")
    sync = SqlSyncStore(directory)
    for tenant in (a.id, b.id):
        change = MailChange(email_id=f"e-{tenant}", provider_message_id="m", trash=True)
        await sync.outbox_put(tenant, "box", [change])
    async with directory.engine.begin() as conn:
        await conn.execute(text("SELECT set_config('inboxhub.tenant_id', :s, true)"), {"s": a.id})
        rows = await conn.execute(text("SELECT tenant_id FROM mail_outbox"))
        assert [r.tenant_id for r in rows] == [a.id]


async def test_every_table_with_a_tenant_column_is_walled(directory: SqlDirectory) -> None:
    """A migration that adds a tenant's table and forgets ``tenant_wall.wall`` fails here."""
    from inboxhub.adapters.db_tables import metadata

    tenant_tables = {t.name for t in metadata.sorted_tables if "tenant_id" in t.c}
    assert {"users", "mailboxes", "invitations", "sso_configs", "mailbox_members"} <= tenant_tables
    async with directory.engine.begin() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_policies p ON p.tablename = c.relname "
                "WHERE c.relrowsecurity AND c.relforcerowsecurity AND p.policyname = 'tenant_wall'"
            )
        )
        walled = {r.relname for r in rows}
    assert tenant_tables - walled == set()
