"""The EmailStore contract, on every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.domain.encoded import encode
from inboxhub.domain.models import Flags
from inboxhub.ports import EmailStore, ListCursor
from tests.contract.adapters import EMAIL_STORES, Ctx
from tests.support.documents import BASE, email_doc


@pytest.fixture(params=sorted(EMAIL_STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmailStore]:
    s = EMAIL_STORES[request.param](Ctx(tmp_path, request))
    yield s
    await s.close()


async def every_page(store: EmailStore, tenant: str, boxes: list[str], size: int) -> list[str]:
    ids: list[str] = []
    after = None
    while page := await store.list(tenant, boxes, size, after):
        ids += [s.id for s in page]
        after = ListCursor(page[-1].sort_date, page[-1].id)
    return ids


async def test_upsert_is_idempotent_and_the_newer_content_wins(store: EmailStore) -> None:
    await store.upsert_many([email_doc(1, subject="old")])
    await store.upsert_many([email_doc(1, subject="new"), email_doc(1, subject="new")])
    assert await store.count("t1") == 1
    got = await store.get("t1", "e00001")
    assert got is not None and got.subject == "new"


async def test_round_trip_is_exact_for_unicode_and_large_bodies(store: EmailStore) -> None:
    text = "Grüße 🌍 — \u200b\n" * 50_000
    doc = email_doc(2, text=text, subject="Zürich ✓")
    await store.upsert_many([doc])
    assert await store.get("t1", doc.id) == doc


async def test_encoded_documents_read_back_as_documents(store: EmailStore) -> None:
    docs = [email_doc(n, subject=f"Encoded {n}") for n in range(3)]
    await store.upsert_encoded([encode(d) for d in docs])
    await store.upsert_encoded([encode(docs[0].model_copy(update={"subject": "again"}))])
    assert await store.get_many("t1", [d.id for d in docs]) == [
        docs[0].model_copy(update={"subject": "again"}),
        *docs[1:],
    ]
    listed = await store.list("t1", ["inbox"], 10)
    assert [s.subject for s in listed] == ["Encoded 2", "Encoded 1", "again"]


async def test_get_many_and_summaries_follow_the_requested_order(store: EmailStore) -> None:
    await store.upsert_many([email_doc(n) for n in range(5)])
    wanted = ["e00003", "missing", "e00000"]
    assert [d.id for d in await store.get_many("t1", wanted)] == ["e00003", "e00000"]
    summaries = await store.summaries("t1", wanted)
    assert [s.id for s in summaries] == ["e00003", "e00000"]
    assert summaries[0].subject == "Subject 3"


async def test_list_is_newest_first_and_pages_cover_everything_once(store: EmailStore) -> None:
    docs = [email_doc(n, when=BASE if n % 3 == 0 else None) for n in range(47)]  # shared dates
    await store.upsert_many(docs)
    ids = await every_page(store, "t1", ["inbox"], 5)
    assert sorted(ids) == sorted(d.id for d in docs) and len(ids) == len(set(ids))
    rows = await store.list("t1", ["inbox"], 100)
    keys = [(r.sort_date, r.id) for r in rows]
    assert keys == sorted(keys, reverse=True)


async def test_list_filters_by_mailbox(store: EmailStore) -> None:
    await store.upsert_many([email_doc(n, mailbox="a" if n % 2 else "b") for n in range(10)])
    assert len(await every_page(store, "t1", ["a"], 3)) == 5
    assert len(await every_page(store, "t1", ["a", "b"], 3)) == 10
    assert await store.list("t1", [], 10) == []
    assert await store.count("t1", ["b"]) == 5


async def test_tenants_never_see_each_other(store: EmailStore) -> None:
    await store.upsert_many(
        [email_doc(1, tenant="t1", subject="mine"), email_doc(1, tenant="t2", subject="theirs")]
    )
    mine = await store.get("t1", "e00001")
    assert mine is not None and mine.subject == "mine"
    assert [s.subject for s in await store.list("t2", ["inbox"], 10)] == ["theirs"]
    await store.upsert_many([email_doc(2, tenant="t2")])
    assert await store.get("t1", "e00002") is None
    assert await store.existing_ids("t1", ["e00001", "e00002"]) == {"e00001"}
    assert await store.delete_tenant("t2") == 2
    assert await store.count("t1") == 1


async def test_flags_and_deletes(store: EmailStore) -> None:
    await store.upsert_many([email_doc(n) for n in range(3)])
    assert await store.set_flags("t1", "e00001", Flags(seen=True, flagged=True))
    assert not await store.set_flags("t1", "nope", Flags())
    got = await store.get("t1", "e00001")
    assert got is not None and got.flags == Flags(seen=True, flagged=True)
    assert await store.delete_many("t1", ["e00000", "e00002", "nope"]) == 2
    assert await store.count("t1") == 1


async def test_data_survives_reopening(tmp_path: Path) -> None:
    for name, factory in EMAIL_STORES.items():
        first = factory(tmp_path / name)
        await first.upsert_many([email_doc(9)])
        await first.close()
        again = factory(tmp_path / name)
        assert await again.count("t1") == 1, name
        await again.ping()
        await again.close()
