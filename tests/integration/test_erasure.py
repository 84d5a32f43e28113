"""GDPR erasure end to end: two tenants' mail through the whole pipeline, one tenant
erased, and then each store asked directly (not through the code that erased) for
anything of it: documents, search index, blobs, every relational table. The other
tenant keeps everything. On the embedded defaults and on the production servers
(PostgreSQL, SeaweedFS S3, a MongoDB-wire server, Kafka + Elasticsearch)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from sqlalchemy import func, select

from inboxhub.adapters.db import PLATFORM, SqlDirectory
from inboxhub.adapters.db_tables import metadata, tenants
from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.domain.ids import attachment_blob_key
from inboxhub.domain.models import MailChange
from inboxhub.domain.query_parser import parse_query
from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container, open_container, start_consumers
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.consumer import wait_until_consumed
from inboxhub.services.tenants.erasure import Erasure
from inboxhub.settings import Settings
from tests.contract.adapters import Ctx, search_elastic_url
from tests.integration.conftest import settle
from tests.support.messages import make_message, write_maildir


def production_urls(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    ctx = Ctx(tmp_path, request)
    return {
        "bus_url": f"kafka://{ctx.server('noida').bootstrap}?topic_prefix={ctx.name}.",
        "blob_url": ctx.server("seaweedfs").url(ctx.name),
        "documents_url": ctx.server("secantus").url(ctx.name),
        "search_url": search_elastic_url(ctx),
        "database_url": ctx.server("postgres").create_database(ctx.name),
    }


@pytest.fixture(params=["embedded", "production"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Container]:
    urls = production_urls(request, tmp_path) if request.param == "production" else {}
    settings = Settings(
        data_dir=tmp_path / "data",
        processor_workers=1,
        consumer_backoff_seconds=0.01,
        consumer_max_attempts=2,
        **urls,  # type: ignore[arg-type]
    )
    c = await open_container(settings)
    stop = asyncio.Event()
    tasks = start_consumers(c, ("processor", "indexer", "audit"), stop)
    yield c
    stop.set()
    await asyncio.gather(*tasks)
    await c.close()


async def audited(c: Container) -> None:
    await wait_until_consumed(
        c.bus, "audit", AUDIT_ACTION, await c.bus.end_offsets(AUDIT_ACTION), 120
    )


async def a_tenant_with_mail(c: Container, slug: str, tmp_path: Path) -> dict[str, Any]:
    """A tenant with users, a domain, a mailbox of three messages (two attachments
    each), sync state, provider items, an outbox entry, assignments, refresh tokens
    and audit entries: a row in most of the tables, and everything in every store."""
    tenant = await c.directory.create_tenant(slug, slug.capitalize())
    admin = await c.directory.create_user(tenant.id, f"boss@{slug}.test", "hash", ["admin"])
    member = await c.directory.create_user(tenant.id, f"clerk@{slug}.test", "hash", ["member"])
    box = await c.directory.get_or_create_mailbox(tenant.id, "Inbox", "local")
    messages = [
        make_message(
            f"{slug} report {n}",
            text=f"The {slug} body {n} mentions wombats.",
            attachments=[
                (f"{slug}-{n}.txt", "text/plain", f"{slug} attachment {n}".encode()),
                ("shared.txt", "text/plain", b"the same bytes in both tenants"),
            ],
        )
        for n in range(3)
    ]
    maildir = write_maildir(tmp_path / slug, messages)
    await c.ingest().run(tenant.id, box.id, iter_local(maildir))
    await c.tenancy.add_domain(tenant.id, f"{slug}.test")
    await c.directory.set_sync_state(tenant.id, box.id, {"uidvalidity": 1})
    await c.sync.items_put(tenant.id, box.id, "INBOX", {"1": "<m1@example.com>"})
    change = MailChange(email_id="e", provider_message_id="<m1@example.com>", delete=True)
    await c.sync.outbox_put(tenant.id, box.id, [change])
    await c.access.set_members(tenant.id, box.id, [member.id])
    expires = tenant.created_at.replace(year=tenant.created_at.year + 1)
    await c.directory.store_refresh_token(tenant.id, member.id, f"{slug}-hash", "fam", expires)
    audit = AuditLog(c.bus)
    await audit.record(tenant.id, member.id, "auth.login", None, "192.0.2.7")
    await audit.record(tenant.id, admin.id, "user.create", member.id, email=member.email)
    return {"tenant": tenant, "admin": admin, "member": member, "box": box}


async def relational_rows(c: Container, tenant_id: str) -> dict[str, int]:
    """Rows naming the tenant in every table of the schema, asked table by table."""
    assert isinstance(c.directory, SqlDirectory)
    counts = {}
    async with c.directory.tx(PLATFORM) as conn:
        for table in metadata.sorted_tables:
            column = table.c.id if table is tenants else table.c.get("tenant_id")
            if column is not None:
                found = await conn.execute(
                    select(func.count()).select_from(table).where(column == tenant_id)
                )
                counts[table.name] = int(found.scalar_one())
    return counts


def sqlite_rows_naming(db: Path, tenant_id: str) -> dict[str, int]:
    """Rows of any table of a SQLite file with a text column that is the tenant's id,
    starts with it (``<tenant>:…``) or is one of its blob keys (``t/<tenant>/…``)."""
    found = {}
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                (count,) = conn.execute(
                    f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) = ? '
                    f'OR CAST("{column}" AS TEXT) LIKE ? OR CAST("{column}" AS TEXT) LIKE ?',
                    (tenant_id, f"{tenant_id}:%", f"t/{tenant_id}/%"),
                ).fetchone()
                if count:
                    found[f"{table}.{column}"] = count
    finally:
        conn.close()
    return found


async def raw_documents(c: Container, tenant_id: str) -> int:
    """The tenant's records in the document store, in every collection or table."""
    s = c.settings
    if s.documents_url.startswith("sqlite"):
        return sum(sqlite_rows_naming(Path(s.documents_url.split("///", 1)[1]), tenant_id).values())
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(s.documents_url)
    try:
        db = client.get_default_database()
        return sum(
            [
                await db[name].count_documents({"tenant_id": tenant_id})
                for name in await db.list_collection_names()
            ]
        )
    finally:
        await client.close()


async def raw_search_hits(c: Container, tenant_id: str) -> int:
    s = c.settings
    if s.search_url.startswith("sqlite"):
        return sum(sqlite_rows_naming(Path(s.search_url.split("///", 1)[1]), tenant_id).values())
    endpoint, _, query = s.search_url.removeprefix("elasticsearch://").partition("?")
    index = f"{query.removeprefix('index_prefix=')}-emails"
    async with httpx.AsyncClient(base_url=f"http://{endpoint}") as http:
        (await http.post(f"/{index}/_refresh")).raise_for_status()
        body = {"query": {"term": {"tenant_id": tenant_id}}}
        answer = await http.post(f"/{index}/_count", json=body)
        answer.raise_for_status()
        return int(answer.json()["count"])


async def raw_blob_keys(c: Container, tenant_id: str) -> list[str]:
    """The blob store's own listing under the tenant's prefix (``t/<tenant>/``)."""
    s = c.settings
    if s.blob_url.startswith("file"):
        root = Path(s.blob_url.removeprefix("file://"))
        files = [str(p) for p in root.rglob("*") if tenant_id in str(p.relative_to(root))]
        rows = [k for db in root.glob("*.db") for k in sqlite_rows_naming(db, tenant_id)]
        return files + rows
    from aiobotocore.session import get_session

    from tests.support.servers.seaweedfs import ACCESS_KEY, SECRET_KEY

    bucket, _, query = s.blob_url.removeprefix("s3://").partition("?")
    options = dict(p.split("=", 1) for p in query.split("&"))
    async with get_session().create_client(
        "s3",
        endpoint_url=options["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as s3:
        listed = await s3.list_objects_v2(Bucket=bucket, Prefix=f"t/{tenant_id}/")
        return [o["Key"] for o in listed.get("Contents", [])]


async def everything_of(c: Container, tenant_id: str) -> dict[str, Any]:
    rows = await relational_rows(c, tenant_id)
    return {
        "documents": await raw_documents(c, tenant_id),
        "search": await raw_search_hits(c, tenant_id),
        "blobs": len(await raw_blob_keys(c, tenant_id)),
        "rows": {name: count for name, count in rows.items() if count},
    }


async def test_erasing_a_tenant_leaves_nothing_of_it_and_the_other_intact(
    stack: Container, tmp_path: Path
) -> None:
    c = stack
    operator_tenant = await c.directory.create_tenant("platform", "Platform")
    operator = await c.directory.create_user(
        operator_tenant.id, "op@platform.test", "h", ["platform_admin"]
    )
    gone = await a_tenant_with_mail(c, "acme", tmp_path)
    kept = await a_tenant_with_mail(c, "globex", tmp_path)
    await settle(c)
    await audited(c)
    gone_id, kept_id = gone["tenant"].id, kept["tenant"].id

    before = await everything_of(c, gone_id)
    assert before["documents"] >= 3 and before["search"] == 3
    assert before["blobs"] >= 3, "raw messages and attachments"
    for table in ("tenants", "users", "mailboxes", "sync_state", "provider_items"):
        assert before["rows"].get(table), table
    for table in ("mail_outbox", "mailbox_members", "refresh_tokens", "audit_log"):
        assert before["rows"].get(table), table
    assert before["rows"].get("tenant_domains")
    kept_before = await everything_of(c, kept_id)

    erasure = Erasure(c)
    await erasure.erase_tenant(gone_id, operator.id)
    await erasure.erase_tenant(gone_id, operator.id)  # a second run (after a crash) is harmless
    await settle(c)
    await audited(c)

    assert await everything_of(c, gone_id) == {"documents": 0, "search": 0, "blobs": 0, "rows": {}}
    assert await c.directory.get_tenant(gone_id) is None
    assert await c.directory.find_users_by_email("boss@acme.test") == []
    assert await everything_of(c, kept_id) == kept_before
    hits = await c.search.search(kept_id, parse_query("wombats"), [kept["box"].id], 10)
    assert hits.total == 3
    summary = (await c.emails.list(kept_id, [kept["box"].id], 1))[0]
    doc = await c.emails.get(kept_id, summary.id)
    assert doc is not None and b"wombats" in await c.blobs.get(doc.blob_key)
    for att in doc.attachments:
        assert await c.blobs.exists(attachment_blob_key(kept_id, att.sha256)), att.filename
    log = await c.directory.list_audit(operator_tenant.id)
    assert [e["object_id"] for e in log if e["action"] == "tenant.erased"] == [gone_id, gone_id]


async def test_erasing_a_user_keeps_the_mail_and_anonymises_their_trail(
    stack: Container, tmp_path: Path
) -> None:
    c = stack
    acme = await a_tenant_with_mail(c, "acme", tmp_path)
    await settle(c)
    await audited(c)
    tenant_id, member, admin = acme["tenant"].id, acme["member"], acme["admin"]
    invited = await c.tenancy.add_invitation(
        tenant_id, member.email, ["member"], "invite-hash", admin.id, acme["tenant"].created_at
    )
    mail_before = await everything_of(c, tenant_id)

    erasure = Erasure(c)
    await erasure.erase_user(tenant_id, member.id, admin.id)
    await erasure.erase_user(tenant_id, member.id, admin.id)  # idempotent
    await audited(c)

    assert await c.directory.get_user(tenant_id, member.id) is None
    assert await c.access.assigned(tenant_id, member.id) == set()
    assert invited.id not in [i.id for i in await c.tenancy.list_invitations(tenant_id)]
    pseudonym = await erasure.pseudonym(tenant_id, member.id)
    assert pseudonym.startswith("erased:") and len(pseudonym) <= 32
    entries = await c.directory.list_audit(tenant_id, 1000)
    text = repr(entries)
    assert member.id not in text and member.email not in text and "192.0.2.7" not in text
    login = next(e for e in entries if e["action"] == "auth.login")
    assert login["actor_id"] == pseudonym
    created = next(e for e in entries if e["action"] == "user.create")
    assert created["actor_id"] == admin.id and created["object_id"] == pseudonym
    assert [e["object_id"] for e in entries if e["action"] == "user.erased"] == [pseudonym] * 2
    rows = await relational_rows(c, tenant_id)
    assert rows["users"] == 1 and rows["refresh_tokens"] == 0 and rows["mailbox_members"] == 0
    after = await everything_of(c, tenant_id)
    for store in ("documents", "search", "blobs"):
        assert after[store] == mail_before[store], f"the tenant's mail stays ({store})"
