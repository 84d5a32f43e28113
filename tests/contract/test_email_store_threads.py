"""The EmailStore contract for conversations and copies, on every adapter: thread
links, subjects, merges, thread lists and views, and duplicates by dedup key."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from inboxhub.adapters.docs_sqlite import SqliteEmailStore
from inboxhub.domain.encoded import encode
from inboxhub.domain.models import EmailDocument
from inboxhub.ports import EmailStore, ListCursor, SubjectThread, ThreadChanges
from tests.contract.adapters import EMAIL_STORES, Ctx
from tests.contract.test_email_store import odd_doc
from tests.support.documents import BASE, email_doc


@pytest.fixture(params=sorted(EMAIL_STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EmailStore]:
    ctx = Ctx(tmp_path, request)
    return lambda: EMAIL_STORES[request.param](ctx)


@pytest.fixture()
async def store(make_store: Callable[[], EmailStore]) -> AsyncIterator[EmailStore]:
    s = make_store()
    yield s
    await s.close()


def doc(
    n: int,
    thread: str,
    *,
    tenant: str = "t1",
    mailbox: str = "inbox",
    minutes: int | None = None,
    dedup: str = "",
) -> EmailDocument:
    when = BASE + timedelta(minutes=n if minutes is None else minutes)
    return email_doc(n, tenant, mailbox, when=when).model_copy(
        update={"thread_id": thread, "dedup_key": dedup}
    )


async def store_docs(store: EmailStore, docs: list[EmailDocument]) -> None:
    await store.upsert_encoded([encode(d) for d in docs])


async def every_thread(
    store: EmailStore, boxes: list[str], size: int, tenant: str = "t1"
) -> list[str]:
    threads: list[str] = []
    after = None
    while page := await store.list_threads(tenant, boxes, size, after):
        threads += [s.thread_id for s in page]
        after = ListCursor(page[-1].sort_date, page[-1].id)
    return threads


def span(subject: str, thread: str, first: int, last: int) -> SubjectThread:
    return SubjectThread(subject, thread, BASE + timedelta(days=first), BASE + timedelta(days=last))


async def test_links_are_set_read_and_replaced(store: EmailStore) -> None:
    await store.save_threads("t1", ThreadChanges(links={"a@x": "ta", "b@x": "ta"}))
    await store.save_threads("t2", ThreadChanges(links={"a@x": "theirs"}))
    assert await store.thread_links("t1", ["a@x", "b@x", "c@x", "a@x"]) == {
        "a@x": "ta",
        "b@x": "ta",
    }
    await store.save_threads("t1", ThreadChanges(links={"b@x": "tb"}))
    assert await store.thread_links("t1", ["a@x", "b@x"]) == {"a@x": "ta", "b@x": "tb"}
    assert await store.thread_links("t2", ["a@x", "b@x"]) == {"a@x": "theirs"}
    assert await store.thread_links("t1", []) == {}
    await store.save_threads("t1", ThreadChanges())  # nothing to do is fine


async def test_keys_of_any_shape_and_many_at_once(store: EmailStore) -> None:
    odd = ["ünï/cöde@例え.jp", "with space", "a'b\"c@x", "email e1", "<x@y>"]
    many = {f"k{i}@x": f"t{i % 7}" for i in range(1_200)} | {k: "odd" for k in odd}
    await store.save_threads("t1", ThreadChanges(links=many))
    assert await store.thread_links("t1", list(many)) == many


def on_day(n: int, thread: str, subject: str, day: int, tenant: str = "t1") -> EmailDocument:
    when = BASE + timedelta(days=day)
    return email_doc(n, tenant, subject=subject, when=when).model_copy(update={"thread_id": thread})


async def test_threads_are_found_by_normalised_subject_near_a_date(store: EmailStore) -> None:
    await store_docs(
        store,
        [
            on_day(1, "ta", "Re: Plan", 10),
            on_day(2, "ta", "Plan", 12),
            on_day(4, "tb", "[team] PLAN", 40),
            on_day(5, "tb", "AW: plan", 41),
            on_day(6, "tc", "Plan", 10, tenant="t2"),
            on_day(7, "", "Plan", 11),  # stored before threads: in none
            on_day(8, "td", "Other", 11),
        ],
    )
    await store.upsert_many([on_day(3, "ta", "plan", 5)])  # written whole, not encoded
    found = await store.subject_threads(
        "t1", ["plan", "nothing"], BASE + timedelta(days=11), BASE + timedelta(days=30)
    )
    assert found == [span("plan", "ta", 12, 12)]
    both = await store.subject_threads("t1", ["plan", ""], BASE, BASE + timedelta(days=40))
    assert sorted(both, key=lambda s: s.thread_id) == [
        span("plan", "ta", 5, 12),
        span("plan", "tb", 40, 40),
    ]
    between = await store.subject_threads(
        "t1", ["plan"], BASE + timedelta(days=13), BASE + timedelta(days=39)
    )
    assert between == []
    assert await store.subject_threads("t1", [], BASE, BASE) == []
    assert await store.subject_threads("t1", [""], BASE, BASE + timedelta(days=99)) == []


async def test_a_merge_moves_emails_and_links_and_nothing_else(store: EmailStore) -> None:
    rich = odd_doc(1).model_copy(update={"thread_id": "tb"})
    await store_docs(store, [rich, doc(2, "ta"), doc(3, "tb", mailbox="sent"), doc(4, "tc")])
    await store_docs(store, [doc(5, "tb", tenant="t2")])
    await store.save_threads("t1", ThreadChanges(links={"a@x": "ta", "b@x": "tb", "c@x": "tc"}))
    await store.save_threads("t2", ThreadChanges(links={"b@x": "tb"}))
    await store.save_threads("t1", ThreadChanges(merged={"tb": "ta"}, links={"d@x": "ta"}))

    assert await store.get("t1", rich.id) == rich.model_copy(update={"thread_id": "ta"})
    assert [s.id for s in await store.thread_emails("t1", ["ta"])] == [
        "e00001",
        "e00002",
        "e00003",
    ]
    assert [s.thread_id for s in await store.summaries("t1", ["e00001", "e00003"])] == [
        "ta",
        "ta",
    ]
    assert await store.thread_emails("t1", ["tb"]) == []
    assert await store.thread_links("t1", ["a@x", "b@x", "c@x", "d@x"]) == {
        "a@x": "ta",
        "b@x": "ta",
        "c@x": "tc",
        "d@x": "ta",
    }
    subjects = await store.subject_threads(
        "t1", ["subject 2", "subject 3", "subject 4"], BASE, BASE + timedelta(days=1)
    )
    assert {(s.subject, s.thread_id) for s in subjects} == {
        ("subject 2", "ta"),
        ("subject 3", "ta"),
        ("subject 4", "tc"),
    }
    # the other tenant's thread of the same id is untouched
    assert [s.thread_id for s in await store.thread_emails("t2", ["tb"])] == ["tb"]
    assert await store.thread_links("t2", ["b@x"]) == {"b@x": "tb"}
    # merging again changes nothing
    await store.save_threads("t1", ThreadChanges(merged={"tb": "ta"}))
    assert len(await store.thread_emails("t1", ["ta"])) == 3


async def test_merges_of_merged_threads_lead_to_the_last_survivor(store: EmailStore) -> None:
    await store_docs(store, [doc(1, "tc"), doc(2, "tb"), doc(3, "ta")])
    await store.save_threads("t1", ThreadChanges(links={"c@x": "tc", "b@x": "tb", "a@x": "ta"}))
    await store.save_threads("t1", ThreadChanges(merged={"tc": "tb"}))
    await store.save_threads("t1", ThreadChanges(merged={"tb": "ta"}, links={"n@x": "ta"}))
    assert await store.thread_links("t1", ["a@x", "b@x", "c@x", "n@x"]) == dict.fromkeys(
        ["a@x", "b@x", "c@x", "n@x"], "ta"
    )
    assert [s.id for s in await store.thread_emails("t1", ["ta"])] == ["e00001", "e00002", "e00003"]
    # a key linked again after the merges follows its new link
    await store.save_threads("t1", ThreadChanges(links={"c@x": "tz"}))
    assert await store.thread_links("t1", ["c@x", "b@x"]) == {"c@x": "tz", "b@x": "ta"}


async def test_thread_emails_are_oldest_first_across_mailboxes(store: EmailStore) -> None:
    await store_docs(
        store,
        [
            doc(1, "ta", mailbox="sent", minutes=30),
            doc(2, "ta", minutes=10),
            doc(3, "tb", minutes=20),
            doc(4, "ta", mailbox="archive", minutes=10),
            doc(5, "", minutes=5),
            doc(6, "ta", tenant="t2"),
        ],
    )
    assert [s.id for s in await store.thread_emails("t1", ["ta"])] == [
        "e00002",
        "e00004",
        "e00001",
    ]
    assert [s.id for s in await store.thread_emails("t1", ["tb", "ta"])] == [
        "e00002",
        "e00004",
        "e00003",
        "e00001",
    ]
    assert await store.thread_emails("t1", [""]) == [] and await store.thread_emails("t1", []) == []


async def test_threads_are_listed_by_their_newest_email_once_each(store: EmailStore) -> None:
    # thread tN has emails at minutes N, N+100 and (in "sent") N+200 for N odd
    docs = []
    for n in range(1, 21):
        docs += [doc(n, f"t{n:02d}", minutes=n), doc(100 + n, f"t{n:02d}", minutes=100 + n)]
        if n % 2:
            docs.append(doc(200 + n, f"t{n:02d}", mailbox="sent", minutes=200 + n))
    docs += [doc(400, "", minutes=400), doc(401, "t01", tenant="t2", minutes=401)]
    await store_docs(store, docs)

    newest_first = [f"t{n:02d}" for n in range(19, 0, -2)] + [f"t{n:02d}" for n in range(20, 0, -2)]
    heads = await store.list_threads("t1", ["inbox", "sent"], 100)
    assert [h.thread_id for h in heads] == newest_first
    assert [h.id for h in heads[:2]] == ["e00219", "e00217"]
    for size in (1, 3, 7, 20):
        assert await every_thread(store, ["inbox", "sent"], size) == newest_first, size
    # in the inbox alone, each thread stands by its newest email there
    inbox = [f"t{n:02d}" for n in range(20, 0, -1)]
    assert await every_thread(store, ["inbox"], 6) == inbox
    assert (await store.list_threads("t1", ["inbox"], 1))[0].id == "e00120"
    assert await store.list_threads("t1", [], 10) == []
    assert [h.thread_id for h in await store.list_threads("t2", ["inbox"], 10)] == ["t01"]


async def test_a_thread_with_several_emails_on_one_date_is_listed_once(store: EmailStore) -> None:
    docs = [doc(n, f"t{n % 3}", minutes=0) for n in range(30)]
    await store_docs(store, docs)
    for size in (1, 2, 5):
        assert sorted(await every_thread(store, ["inbox"], size)) == ["t0", "t1", "t2"]


async def test_emails_in_the_trash_do_not_stand_for_their_thread(store: EmailStore) -> None:
    trashed = {"labels": ["INBOX", "Trash"]}
    await store_docs(
        store,
        [
            doc(1, "ta", minutes=1),
            doc(2, "ta", minutes=50).model_copy(update=trashed),  # its newest: in the trash
            doc(3, "tb", minutes=10),
            doc(4, "tc", minutes=60).model_copy(update=trashed),  # wholly in the trash
        ],
    )
    heads = await store.list_threads("t1", ["inbox"], 10)
    assert [(h.thread_id, h.id) for h in heads] == [("tb", "e00003"), ("ta", "e00001")]
    for size in (1, 2):
        assert await every_thread(store, ["inbox"], size) == ["tb", "ta"]
    assert len(await store.thread_emails("t1", ["ta", "tc"])) == 3  # a thread holds them all


async def test_duplicates_are_found_by_dedup_key_within_the_tenant(store: EmailStore) -> None:
    await store_docs(
        store,
        [
            doc(1, "ta", dedup="k1"),
            doc(2, "ta", mailbox="work", dedup="k1"),
            doc(3, "tb", dedup="k2"),
            doc(4, "tc"),
            doc(5, "td"),
            doc(6, "ta", tenant="t2", dedup="k1"),
        ],
    )
    found = await store.duplicates("t1", ["k1", "k2", "nope"])
    assert sorted((s.dedup_key, s.id, s.mailbox_id) for s in found) == [
        ("k1", "e00001", "inbox"),
        ("k1", "e00002", "work"),
        ("k2", "e00003", "inbox"),
    ]
    assert await store.duplicates("t1", [""]) == [] and await store.duplicates("t1", []) == []
    assert [s.id for s in await store.duplicates("t2", ["k1"])] == ["e00006"]


async def test_deleting_a_tenant_forgets_its_threads(store: EmailStore) -> None:
    for tenant in ("t1", "t2"):
        await store_docs(store, [on_day(1, "ta", "Plan", 0, tenant=tenant)])
        await store.save_threads(tenant, ThreadChanges(links={"a@x": "ta"}))
    assert await store.delete_tenant("t1") == 1
    assert await store.thread_links("t1", ["a@x"]) == {}
    assert await store.subject_threads("t1", ["plan"], BASE, BASE) == []
    assert await store.thread_links("t2", ["a@x"]) == {"a@x": "ta"}
    assert await store.subject_threads("t2", ["plan"], BASE, BASE) == [span("plan", "ta", 0, 0)]


# ---------------------------------------------------------------- SQLite files of old


OLD_SCHEMA = """
CREATE TABLE emails (
  tenant_id TEXT NOT NULL, id TEXT NOT NULL, mailbox_id TEXT NOT NULL,
  sort_key INTEGER NOT NULL, schema_version INTEGER NOT NULL,
  summary TEXT NOT NULL, document TEXT NOT NULL,
  UNIQUE (tenant_id, id)
);
"""


async def test_a_sqlite_file_from_before_threads_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "emails.db"
    old = email_doc(1)
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    summary = old.model_dump_json(include={"id", "tenant_id", "mailbox_id", "sort_date"})
    conn.execute(
        "INSERT INTO emails VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("t1", old.id, "inbox", 0, 1, summary, old.model_dump_json(by_alias=True)),
    )
    conn.commit()
    conn.close()
    store = SqliteEmailStore(path)
    try:
        got = await store.get("t1", old.id)
        assert got is not None and (got.thread_id, got.dedup_key) == ("", "")
        await store_docs(store, [doc(2, "ta", dedup="k")])
        assert [s.id for s in await store.thread_emails("t1", ["ta"])] == ["e00002"]
        assert [s.id for s in await store.duplicates("t1", ["k"])] == ["e00002"]
        assert await every_thread(store, ["inbox"], 5) == ["ta"]  # the old one: no thread
    finally:
        await store.close()
    again = SqliteEmailStore(path)  # opening an upgraded file again is a no-op
    try:
        assert await again.count("t1") == 2
    finally:
        await again.close()
