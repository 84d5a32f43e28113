"""The audit store's hash chain (``ports.AuditStore``) on SQLite and PostgreSQL: the
store edited behind its back (SQL on ``audit_log``) fails verification at the first
broken record; a GDPR erasure, a purge and records of before the chain do not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_audit import SqlAuditStore
from inboxhub.adapters.db_erasure import SqlErasureStore
from inboxhub.adapters.db_tables import audit_log
from inboxhub.crypto import SecretBox
from inboxhub.domain.audit import AuditEntry, AuditFilter, AuditPolicy
from tests.contract.adapters import DIRECTORIES, Ctx

T, OTHER = "tenant1", "tenant2"
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Trail:
    db: SqlDirectory
    store: SqlAuditStore

    async def sql(self, statement: str, tenant_id: str = T) -> None:
        async with self.db.tx(tenant_id) as conn:
            await conn.execute(text(statement))

    async def broken_at(self, tenant_id: str = T) -> int | None:
        return (await self.store.verify(tenant_id)).broken_seq


@pytest.fixture(params=sorted(DIRECTORIES))
async def trail(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Trail]:
    db = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    yield Trail(db, SqlAuditStore(db, SecretBox("k" * 40)))
    await db.close()


def entry(n: int, actor: str = "u1", **detail: object) -> AuditEntry:
    return AuditEntry(
        event_id=f"ev{n}",
        time=START + timedelta(hours=n),
        action="email.read",
        actor_id=actor,
        object_id=f"e{n}",
        detail={"ip": "192.0.2.7", "user_agent": "pytest", **detail},
        request_id=f"req{n}",
    )


async def filled(trail: Trail, count: int = 5) -> Trail:
    for n in range(1, count + 1):
        assert await trail.store.append(T, entry(n))
    return trail


async def test_appends_chain_and_verify_per_tenant(trail: Trail) -> None:
    await filled(trail)
    assert not await trail.store.append(T, entry(3)), "a redelivered event adds nothing"
    await trail.store.append(OTHER, entry(99, actor="v"))
    result = await trail.store.verify(T)
    assert result.ok and result.verified == 5
    assert (await trail.store.verify(OTHER)).verified == 1
    items = await trail.store.query(T, AuditFilter(), None, 10)
    assert [i["seq"] for i in items] == [5, 4, 3, 2, 1]
    assert items[0]["ip"] == "192.0.2.7" and items[0]["request_id"] == "req5"


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [
        ("UPDATE audit_log SET action = 'auth.login' WHERE seq = 3", 3),
        ("UPDATE audit_log SET actor_id = 'someone' WHERE seq = 2", 2),
        ("UPDATE audit_log SET object_id = 'e9' WHERE seq = 4", 4),
        ("DELETE FROM audit_log WHERE seq = 3", 3),
        ("DELETE FROM audit_log WHERE seq = 5", 5),
        ("DELETE FROM audit_log WHERE seq = 1", 1),
        # reordered: two records swap places
        ("UPDATE audit_log SET seq = 8 - seq WHERE seq IN (3, 5)", 3),
    ],
)
async def test_an_edited_store_fails_at_the_first_broken_record(
    trail: Trail, tamper: str, broken: int
) -> None:
    await filled(trail)
    if "8 - seq" in tamper:  # the unique index wants the swap in steps
        await trail.sql("UPDATE audit_log SET seq = 100 WHERE seq = 3")
        await trail.sql("UPDATE audit_log SET seq = 3 WHERE seq = 5")
        await trail.sql("UPDATE audit_log SET seq = 5 WHERE seq = 100")
    else:
        await trail.sql(tamper)
    assert await trail.broken_at() == broken
    assert await trail.broken_at(OTHER) is None, "other tenants are not affected"


async def test_an_inserted_record_is_found(trail: Trail) -> None:
    await filled(trail)
    forged = {"event_id": "forged", "tenant_id": T, "action": "auth.login", "detail": {}}
    async with trail.db.tx(T) as conn:  # outside the chain, between records 2 and 3
        when = START + timedelta(hours=2.5)
        await conn.execute(insert(audit_log).values({**forged, "time": when}))
    assert await trail.broken_at() == 3
    async with trail.db.tx(T) as conn:  # in it, as seq 3, the later ones moved up
        await conn.execute(text("UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3"))
        await conn.execute(text("UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000"))
        await conn.execute(
            text(
                "UPDATE audit_log SET seq = 3, hash = (SELECT hash FROM audit_log"
                " WHERE seq = 4), prev_hash = (SELECT hash FROM audit_log WHERE seq = 2)"
                " WHERE event_id = 'forged'"
            )
        )
    assert await trail.broken_at() == 3


async def test_a_user_erasure_keeps_the_chain(trail: Trail) -> None:
    await filled(trail, 3)
    await trail.store.append(T, entry(4, actor="u2", email="u1@t.test"))
    erasure = SqlErasureStore(trail.db)
    done = await erasure.erase_user_rows(T, "u1", ["u1@t.test"], "erased:abc")
    assert done["audit_log"] == 3 and done["audit_log.detail"] >= 1
    items = await trail.store.query(T, AuditFilter(), None, 10)
    assert {i["actor_id"] for i in items} == {"erased:abc", "u2"}
    assert all(i["ip"] is None for i in items if i["actor_id"] == "erased:abc")
    assert "u1@t.test" not in str(items)
    assert (await trail.store.verify(T)).verified == 4
    await trail.sql("UPDATE audit_log SET action = 'x' WHERE seq = 2")
    assert await trail.broken_at() == 2, "an erased record keeps its place in the chain"


async def test_purge_keeps_the_rest_verifiable_and_legal_hold_stops_it(trail: Trail) -> None:
    await filled(trail, 6)  # hours 1..6 of START
    now = START + timedelta(days=10, hours=3, minutes=30)
    assert await trail.store.purge(T, now) == 0, "no retention: kept for ever"
    await trail.store.set_policy(T, AuditPolicy(retention_days=10, legal_hold=True))
    assert await trail.store.purge(T, now) == 0, "legal hold"
    await trail.store.set_policy(T, AuditPolicy(retention_days=10))
    assert await trail.store.policy(T) == AuditPolicy(10, False)
    assert await trail.store.purge(T, now) == 3
    assert await trail.store.purge(T, now) == 0
    kept = await trail.store.query(T, AuditFilter(), None, 10)
    assert [i["seq"] for i in kept] == [6, 5, 4]
    assert (await trail.store.verify(T)).verified == 3
    await trail.store.append(T, entry(7))
    assert (await trail.store.verify(T)).verified == 4
    await trail.sql("DELETE FROM audit_log WHERE seq = 4")
    assert await trail.broken_at() == 4, "the first kept record is checked against the anchor"


async def test_a_tenant_erasure_takes_the_trail_and_a_late_record_starts_anew(
    trail: Trail,
) -> None:
    await filled(trail, 2)
    done = await SqlErasureStore(trail.db).erase_tenant_rows(T)
    assert done["audit_log"] == 2 and done["audit_chains"] == 1
    assert await trail.store.append(T, entry(3))
    assert [i["seq"] for i in await trail.store.query(T, AuditFilter(), None, 9)] == [1]
    assert (await trail.store.verify(T)).verified == 1


async def test_filters_and_pages(trail: Trail) -> None:
    await filled(trail, 4)
    await trail.store.append(T, entry(5, actor="u2"))
    store = trail.store
    assert [i["seq"] for i in await store.query(T, AuditFilter(actor_id="u2"), None, 9)] == [5]
    window = AuditFilter(since=START + timedelta(hours=2), until=START + timedelta(hours=4))
    assert [i["seq"] for i in await store.query(T, window, None, 9)] == [3, 2]
    assert [i["seq"] for i in await store.query(T, AuditFilter(), 3, 9)] == [2, 1]
    assert await store.query(T, AuditFilter(action="auth.login"), None, 9) == []
    pages = [[i["seq"] for i in page] async for page in store.pages(T, AuditFilter(), 2)]
    assert pages == [[5, 4], [3, 2], [1]]


async def test_records_of_before_the_chain_are_chained_on_first_use(trail: Trail) -> None:
    async with trail.db.tx(T) as conn:  # as revision 0008 wrote them
        for n in (2, 1):
            await conn.execute(
                insert(audit_log).values(
                    event_id=f"old{n}",
                    tenant_id=T,
                    time=START + timedelta(minutes=n),
                    actor_id="u1",
                    action="auth.login",
                    detail={},
                )
            )
    await trail.store.append(T, entry(1))
    items = await trail.store.query(T, AuditFilter(), None, 9)
    assert [(i["seq"], i["id"]) for i in items] == [(3, "ev1"), (2, "old2"), (1, "old1")]
    assert (await trail.store.verify(T)).verified == 3


async def test_concurrent_writers_do_not_fork_the_chain(trail: Trail) -> None:
    other = SqlAuditStore(trail.db, SecretBox("k" * 40))  # a second audit consumer
    await trail.store.append(T, entry(0))
    await asyncio.gather(
        *(s.append(T, entry(n)) for n in range(1, 21) for s in (trail.store, other))
    )
    result = await trail.store.verify(T)
    assert result.ok and result.verified == 21
