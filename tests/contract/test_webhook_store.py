"""The WebhookStore contract on SQLite and PostgreSQL: sealed secrets, one delivery
per (subscription, event), exclusive claims with leases, retries and auto-disable,
replay, pruning, and the tenant wall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.db_tables import webhooks as webhooks_table
from inboxhub.adapters.db_webhooks import SqlWebhookStore
from inboxhub.crypto import SecretBox
from inboxhub.domain.webhooks import (
    DELIVERED,
    FAILED,
    PENDING,
    AttemptResult,
    DisablePolicy,
    NewDelivery,
)
from tests.contract.adapters import DIRECTORIES, Ctx

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
OK = AttemptResult(200, None, "ok", 5)
BROKEN = AttemptResult(500, "HTTP 500", "oops", 5)
LENIENT = DisablePolicy(after_failures=100, after_seconds=10**9)


@dataclass
class Env:
    db: SqlDirectory
    store: SqlWebhookStore
    a: str
    b: str


@pytest.fixture(params=sorted(DIRECTORIES))
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    d = await DIRECTORIES[request.param](Ctx(tmp_path, request))
    a = await d.create_tenant("a", "A")
    b = await d.create_tenant("b", "B")
    yield Env(d, SqlWebhookStore(d, SecretBox("contract-key")), a.id, b.id)
    await d.close()


async def _hook(
    env: Env, tenant: str | None = None, types: tuple[str, ...] = ("email.processed",)
) -> str:
    made = await env.store.create(
        tenant or env.a,
        url="https://hooks.example.com/x",
        event_types=types,
        description="d",
        secret="whsec_first",
        created_by="u1",
    )
    return made.id


def _new(env: Env, hook: str, event: str, tenant: str | None = None) -> NewDelivery:
    return NewDelivery(
        tenant or env.a, hook, event, "email.processed", b'{"id":"%s"}' % event.encode()
    )


async def test_the_secret_is_sealed_at_rest_and_read_back(env: Env) -> None:
    hook = await _hook(env)
    async with env.db.tx(env.a) as conn:
        raw = (await conn.execute(select(webhooks_table.c.secret))).scalar_one()
    assert b"whsec_first" not in bytes(raw)
    assert await env.store.secrets(env.a, hook, NOW) == ["whsec_first"]


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends(env: Env) -> None:
    hook = await _hook(env)
    until = NOW + timedelta(hours=1)
    rotated = await env.store.rotate_secret(env.a, hook, "whsec_second", until)
    assert rotated is not None and rotated.previous_secret_until == until
    assert await env.store.secrets(env.a, hook, NOW) == ["whsec_second", "whsec_first"]
    assert await env.store.secrets(env.a, hook, until) == ["whsec_second"]


async def test_one_delivery_per_subscription_and_event(env: Env) -> None:
    hook = await _hook(env)
    first = await env.store.enqueue([_new(env, hook, "e1")], 3, NOW)
    again = await env.store.enqueue([_new(env, hook, "e1"), _new(env, hook, "e2")], 3, NOW)
    assert again[0] == first[0] and again[1] != first[0]
    log = await env.store.deliveries(env.a, hook, None, None, 10)
    assert sorted(d.event_id for d in log) == ["e1", "e2"]
    assert all(d.state == PENDING and d.attempts == 0 for d in log)


async def test_two_claimers_never_take_the_same_delivery(env: Env) -> None:
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, f"e{i}") for i in range(20)], 3, NOW)
    other = SqlWebhookStore(env.db, SecretBox("contract-key"))
    rounds = await asyncio.gather(
        *(s.claim(NOW, 60, 20) for s in (env.store, other, env.store, other))
    )
    taken = [c.delivery.id for claimed in rounds for c in claimed]
    assert len(taken) == 20 and len(set(taken)) == 20
    assert await env.store.claim(NOW, 60, 20) == [], "leased: not due again yet"
    later = await env.store.claim(NOW + timedelta(seconds=61), 60, 20)
    assert len(later) == 20, "a lease that ran out makes the delivery due again"


async def test_a_result_counts_only_under_the_claim_that_holds_it(env: Env) -> None:
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, "e1")], 3, NOW)
    [stale] = await env.store.claim(NOW, 10, 5)
    [fresh] = await env.store.claim(NOW + timedelta(seconds=11), 10, 5)
    assert await env.store.record_attempt(stale, OK, NOW, None, LENIENT) is None
    done = await env.store.record_attempt(fresh, OK, NOW, None, LENIENT)
    assert done is not None and done.state == DELIVERED and done.attempts == 1
    assert done.last_status_code == 200 and done.response_excerpt == "ok"


async def test_a_failed_attempt_retries_then_fails_for_good(env: Env) -> None:
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, "e1")], 2, NOW)
    [c] = await env.store.claim(NOW, 10, 5)
    retry = NOW + timedelta(seconds=30)
    d = await env.store.record_attempt(c, BROKEN, NOW, retry, LENIENT)
    assert d is not None and d.state == PENDING and d.next_attempt_at == retry
    assert await env.store.claim(NOW + timedelta(seconds=29), 10, 5) == []
    [c] = await env.store.claim(retry, 10, 5)
    d = await env.store.record_attempt(c, BROKEN, retry, None, LENIENT)
    assert d is not None and d.state == FAILED and d.attempts == 2
    assert d.last_error == "HTTP 500"
    sub = await env.store.get(env.a, hook)
    assert sub is not None and sub.consecutive_failures == 1 and sub.active


async def test_failures_in_a_row_disable_and_enabling_clears_them(env: Env) -> None:
    hook = await _hook(env)
    policy = DisablePolicy(after_failures=2, after_seconds=10**9)
    await env.store.enqueue([_new(env, hook, f"e{i}") for i in range(3)], 1, NOW)
    for c in (await env.store.claim(NOW, 10, 2))[:2]:
        await env.store.record_attempt(c, BROKEN, NOW, None, policy)
    sub = await env.store.get(env.a, hook)
    assert sub is not None and not sub.active and sub.disabled_at == NOW
    assert sub.disabled_reason and "2 deliveries" in sub.disabled_reason
    assert await env.store.claim(NOW, 10, 5) == [], "a disabled subscription sends nothing"
    enabled = await env.store.update(env.a, hook, enabled=True)
    assert enabled is not None and enabled.active and enabled.consecutive_failures == 0
    assert enabled.disabled_reason is None
    assert len(await env.store.claim(NOW, 10, 5)) == 1, "what waited goes now"


async def test_a_success_ends_the_failure_streak(env: Env) -> None:
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, "e1"), _new(env, hook, "e2")], 1, NOW)
    first, second = await env.store.claim(NOW, 10, 5)
    await env.store.record_attempt(first, BROKEN, NOW, None, LENIENT)
    await env.store.record_attempt(second, OK, NOW, None, LENIENT)
    sub = await env.store.get(env.a, hook)
    assert sub is not None and sub.consecutive_failures == 0 and sub.failing_since is None


async def test_replay_gives_a_finished_delivery_one_more_attempt(env: Env) -> None:
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, "e1")], 1, NOW)
    [c] = await env.store.claim(NOW, 10, 5)
    done = await env.store.record_attempt(c, BROKEN, NOW, None, LENIENT)
    assert done is not None and done.state == FAILED
    later = NOW + timedelta(minutes=5)
    again = await env.store.replay(env.a, hook, done.id, later)
    assert again is not None and again.state == PENDING and again.max_attempts == 2
    [c] = await env.store.claim(later, 10, 5)
    assert c.delivery.body == done.body
    final = await env.store.record_attempt(c, OK, later, None, LENIENT)
    assert final is not None and final.state == DELIVERED and final.attempts == 2


async def test_prune_deletes_only_finished_old_deliveries(env: Env) -> None:
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, "old"), _new(env, hook, "waiting")], 1, NOW)
    [c, _] = await env.store.claim(NOW, 3600, 5)
    await env.store.record_attempt(c, OK, NOW, None, LENIENT)
    assert await env.store.prune(NOW + timedelta(days=1)) == 1
    left = await env.store.deliveries(env.a, hook, None, None, 10)
    assert [d.state for d in left] == [PENDING]


async def test_the_log_pages_newest_first_and_filters_by_state(env: Env) -> None:
    hook = await _hook(env)
    for i in range(5):
        await env.store.enqueue([_new(env, hook, f"e{i}")], 1, NOW)
    page = await env.store.deliveries(env.a, hook, None, None, 3)
    rest = await env.store.deliveries(env.a, hook, None, page[-1].id, 3)
    assert [d.event_id for d in page + rest] == ["e4", "e3", "e2", "e1", "e0"]
    assert await env.store.deliveries(env.a, hook, DELIVERED, None, 10) == []


async def test_another_tenant_reaches_nothing(env: Env) -> None:
    hook = await _hook(env)
    [did] = await env.store.enqueue([_new(env, hook, "e1")], 1, NOW)
    store, b = env.store, env.b
    assert await store.get(b, hook) is None
    assert await store.list(b) == []
    assert await store.update(b, hook, url="https://evil.example/") is None
    assert await store.rotate_secret(b, hook, "whsec_evil", NOW) is None
    assert await store.secrets(b, hook, NOW) == []
    assert await store.active_for(b, "email.processed") == []
    assert await store.deliveries(b, hook, None, None, 10) == []
    assert await store.delivery(b, hook, did) is None
    assert await store.replay(b, hook, did, NOW) is None
    assert await store.delete(b, hook) is False
    assert await store.get(env.a, hook) is not None
    assert await store.secrets(env.a, hook, NOW) == ["whsec_first"]


async def test_active_for_matches_tenant_type_and_status(env: Env) -> None:
    mine = await _hook(env, types=("email.processed", "email.sent"))
    await _hook(env, types=("mailbox.status",))
    off = await _hook(env, types=("email.sent",))
    await env.store.update(env.a, off, enabled=False)
    await _hook(env, tenant=env.b, types=("email.sent",))
    assert [w.id for w in await env.store.active_for(env.a, "email.sent")] == [mine]


async def test_rows_of_another_tenant_are_walled_off_in_postgres(env: Env) -> None:
    if env.db.engine.dialect.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's; SQLite relies on the filters")
    hook = await _hook(env)
    await env.store.enqueue([_new(env, hook, "e1")], 1, NOW)
    async with env.db.tx(env.b) as conn:
        for table in ("webhooks", "webhook_deliveries"):
            assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0


async def test_secrets_survive_a_key_rotation(env: Env) -> None:
    """``inboxhub secrets rotate`` finds both sealed columns (``info=ENCRYPTED``)."""
    from inboxhub.adapters.db_rotation import SqlSealedColumns

    hook = await _hook(env)
    await env.store.rotate_secret(env.a, hook, "whsec_second", NOW + timedelta(hours=1))
    done = await SqlSealedColumns(env.db).reseal(SecretBox(["new-key", "contract-key"]).rotate)
    assert done["webhooks.secret"] == 1 and done["webhooks.previous_secret"] == 1
    rekeyed = SqlWebhookStore(env.db, SecretBox("new-key"))
    assert await rekeyed.secrets(env.a, hook, NOW) == ["whsec_second", "whsec_first"]
