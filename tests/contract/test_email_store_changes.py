"""The EmailStore contract for labels, the trash, label counts and the changes feed,
on every adapter (MongoDB on SecantusDB)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inboxhub.adapters.docs_sqlite import SqliteEmailStore, sort_key
from inboxhub.domain.encoded import encode
from inboxhub.domain.errors import CannotCalculateChanges
from inboxhub.domain.models import EmailDocument, Flags
from inboxhub.ports import (
    ChangeState,
    EmailChanges,
    EmailStore,
    LabelCount,
    ListCursor,
    ThreadChanges,
)
from tests.contract.adapters import EMAIL_STORES, Ctx, emails_mongo
from tests.contract.test_email_store import every_page, odd_doc
from tests.support.documents import email_doc

Opener = Callable[..., EmailStore]


@pytest.fixture(params=sorted(EMAIL_STORES))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens the test's store with these options. MongoDB's states lag its clock by
    nothing here (``changes_lag``, tested on its own below), so that what one test
    writes in one process is in the next ``changes`` at once, as in SQLite."""
    ctx = Ctx(tmp_path, request)

    def open_(**options: Any) -> EmailStore:
        if request.param == "sqlite":
            return SqliteEmailStore(ctx.tmp / "emails.db", **options)
        store: EmailStore = emails_mongo(ctx, **{"changes_lag": 0.0, **options})
        return store

    return open_


@pytest.fixture()
async def store(open_store: Opener) -> AsyncIterator[EmailStore]:
    s = open_store()
    yield s
    await s.close()


def labelled(n: int, *labels: str, mailbox: str = "inbox", seen: bool = False) -> EmailDocument:
    return email_doc(n, mailbox=mailbox).model_copy(
        update={"labels": list(labels), "flags": Flags(seen=seen)}
    )


async def all_changes(store: EmailStore, since: ChangeState, limit: int = 100) -> EmailChanges:
    found = await store.changes("t1", since, limit)
    assert not found.has_more
    return found


# ---------------------------------------------------------------- the trash


async def test_the_trash_follows_the_labels_and_lists_leave_it_out_or_show_only_it(
    store: EmailStore,
) -> None:
    await store.upsert_many([labelled(n, "INBOX") for n in range(6)])
    await store.upsert_encoded([encode(labelled(6, "TRASH"))])  # Gmail's own trash
    await store.upsert_many([labelled(7, "Deleted Items", mailbox="other")])  # Graph's
    assert await store.set_flags("t1", "e00001", Flags(), ["INBOX", "Trash"])
    assert await store.set_flags("t1", "e00003", Flags(), ["INBOX", "trash"])
    assert await store.set_flags("t1", "e00003", Flags(seen=True))  # labels kept: still in

    boxes = ["inbox", "other"]
    outside = [s.id for s in await store.list("t1", boxes, 10, trash=False)]
    assert outside == ["e00005", "e00004", "e00002", "e00000"]
    inside = [s.id for s in await store.list("t1", boxes, 10, trash=True)]
    assert inside == ["e00007", "e00006", "e00003", "e00001"]
    assert len(await store.list("t1", boxes, 10)) == 8  # None: everything
    assert await every_page(store, "t1", ["inbox"], 1) == [f"e0000{n}" for n in range(6, -1, -1)]
    # unread counts leave the trash out
    assert await store.count_unread("t1", boxes) == {"inbox": 4, "other": 0}

    assert await store.set_flags("t1", "e00001", Flags(), ["INBOX"])  # out again
    assert [s.id for s in await store.list("t1", ["inbox"], 10, trash=True)] == [
        "e00006",
        "e00003",
    ]
    assert await store.count_unread("t1", ["inbox"]) == {"inbox": 5}


async def test_keyset_pages_within_the_trash_and_outside_it(store: EmailStore) -> None:
    docs = [labelled(n, *(["Trash"] if n % 3 == 0 else ["INBOX"])) for n in range(20)]
    await store.upsert_many(docs)
    for trash in (True, False):
        ids: list[str] = []
        page = await store.list("t1", ["inbox"], 4, trash=trash)
        while page:
            ids += [s.id for s in page]
            last = page[-1]
            page = await store.list("t1", ["inbox"], 4, ListCursor(last.sort_date, last.id), trash)
        wanted = [d.id for d in reversed(docs) if (int(d.id[1:]) % 3 == 0) == trash]
        assert ids == wanted


async def test_changing_flags_and_labels_keeps_the_rest_of_the_document_exact(
    store: EmailStore,
) -> None:
    doc = odd_doc(1)
    await store.upsert_encoded([encode(doc)])
    labels = ['Ünïcode "quoted" \\ label', "INBOX", "Trash"]
    assert await store.set_flags("t1", doc.id, Flags(flagged=True), labels)
    wanted = doc.model_copy(update={"flags": Flags(flagged=True), "labels": labels})
    assert await store.get("t1", doc.id) == wanted
    assert await store.summaries("t1", [doc.id]) == [wanted.summary()]
    assert [s.id for s in await store.list("t1", ["inbox"], 5, trash=True)] == [doc.id]


# ---------------------------------------------------------------- label counts


async def test_label_counts_per_name_with_unread_and_the_trash_apart(store: EmailStore) -> None:
    await store.upsert_many(
        [
            labelled(1, "INBOX", "Work"),
            labelled(2, "INBOX", "Work", seen=True),
            labelled(3, "INBOX"),
            labelled(4, "Work", "Trash"),  # counts under Trash only
            labelled(5, "INBOX", mailbox="other"),
            labelled(6),  # no label
            email_doc(7, tenant="t2").model_copy(update={"labels": ["INBOX", "Theirs"]}),
        ]
    )
    assert await store.label_counts("t1", ["inbox"]) == [
        LabelCount("INBOX", 3, 2),
        LabelCount("Trash", 1, 1),
        LabelCount("Work", 2, 1),
    ]
    assert await store.label_counts("t1", ["inbox", "other", "none"]) == [
        LabelCount("INBOX", 4, 3),
        LabelCount("Trash", 1, 1),
        LabelCount("Work", 2, 1),
    ]
    assert await store.label_counts("t1", ["other"]) == [LabelCount("INBOX", 1, 1)]
    assert await store.label_counts("t1", []) == []
    assert await store.label_counts("t2", ["inbox"]) == [
        LabelCount("INBOX", 1, 1),
        LabelCount("Theirs", 1, 1),
    ]
    assert await store.set_flags("t1", "e00001", Flags(seen=True), ["Work", "Trash"])
    assert await store.label_counts("t1", ["inbox"]) == [
        LabelCount("INBOX", 2, 1),
        LabelCount("Trash", 2, 1),
        LabelCount("Work", 1, 0),
    ]


# ---------------------------------------------------------------- changes


async def test_changes_report_what_was_created_updated_and_destroyed(store: EmailStore) -> None:
    start = await store.change_state("t1")
    await store.upsert_many([email_doc(n) for n in range(3)])
    first = await all_changes(store, start)
    assert (sorted(first.created), first.updated, first.destroyed) == (
        ["e00000", "e00001", "e00002"],
        [],
        [],
    )
    assert first.new_state.modseq >= start.modseq

    assert await store.set_flags("t1", "e00000", Flags(seen=True))
    assert await store.set_flags("t1", "e00001", Flags(), ["Work"])
    assert await store.delete_many("t1", ["e00002"]) == 1
    await store.upsert_many([email_doc(5)])
    await store.upsert_many([email_doc(5, subject="again")])  # created, and changed since
    second = await all_changes(store, first.new_state)
    assert (second.created, sorted(second.updated), second.destroyed) == (
        ["e00005"],
        ["e00000", "e00001"],
        ["e00002"],
    )
    # from the first state the same again, each once: e00002 was created after it
    # and is gone, so it is not reported at all
    everything = await all_changes(store, start)
    assert (sorted(everything.created), everything.updated, everything.destroyed) == (
        ["e00000", "e00001", "e00005"],
        [],
        [],
    )
    nothing = await all_changes(store, second.new_state)
    assert (nothing.created, nothing.updated, nothing.destroyed) == ([], [], [])
    assert nothing.new_state.modseq >= second.new_state.modseq


async def test_an_email_deleted_and_stored_again_is_not_reported_destroyed(
    store: EmailStore,
) -> None:
    await store.upsert_many([email_doc(1)])
    before = await store.change_state("t1")
    assert await store.delete_many("t1", ["e00001"]) == 1
    middle = await store.change_state("t1")
    await store.upsert_many([email_doc(1, subject="back")])
    found = await all_changes(store, before)
    assert found.destroyed == [] and "e00001" in found.created + found.updated
    after_delete = await all_changes(store, middle)
    assert after_delete.created == ["e00001"] and after_delete.destroyed == []


async def test_changes_page_through_ties_each_change_once(store: EmailStore) -> None:
    """A client applying the pages one after the other ends with exactly the emails
    there are, each reported created once. (An email created and deleted after the
    first state may show as destroyed on a later page, as JMAP allows: a client
    ignores ids it does not have.)"""
    start = await store.change_state("t1")
    await store.upsert_many([email_doc(n) for n in range(5)])  # one write: one modseq
    await store.upsert_many([email_doc(n) for n in range(5, 8)])
    assert await store.delete_many("t1", ["e00001", "e00006"]) == 2
    there = {"e00000", "e00002", "e00003", "e00004", "e00005", "e00007"}
    for limit in (1, 2, 3, 7, 100):
        state, pages = start, 0
        created: list[str] = []
        view: set[str] = set()
        while True:
            page = await store.changes("t1", state, limit)
            pages += 1
            assert len(page.created + page.updated + page.destroyed) <= limit
            assert set(page.destroyed) <= {"e00001", "e00006"}
            created += page.created
            view = (view | set(page.created) | set(page.updated)) - set(page.destroyed)
            state = page.new_state
            if not page.has_more:
                break
        assert view == there and sorted(created) == sorted(there), limit
        assert pages == -(-8 // limit)  # 8 emails written and 2 of them deleted


async def test_changes_of_a_thread_merge_and_of_deletions(store: EmailStore) -> None:
    docs = [email_doc(n).model_copy(update={"thread_id": f"{n % 2:040x}"}) for n in range(4)]
    await store.upsert_many(docs)
    state = await store.change_state("t1")
    await store.save_threads("t1", ThreadChanges(merged={f"{1:040x}": f"{0:040x}"}))
    merged = await all_changes(store, state)
    assert sorted(merged.updated) == ["e00001", "e00003"] and merged.created == []
    assert await store.delete_many("t1", ["e00000", "e00003", "nope"]) == 2
    gone = await all_changes(store, merged.new_state)
    assert sorted(gone.destroyed) == ["e00000", "e00003"]


async def test_changes_keep_to_their_tenant(store: EmailStore) -> None:
    start = await store.change_state("t1")
    theirs = await store.change_state("t2")
    await store.upsert_many([email_doc(1, tenant="t2"), email_doc(2)])
    assert await store.delete_many("t2", ["e00001"]) == 1
    assert await store.delete_many("t1", ["e00001"]) == 0
    mine = await all_changes(store, start)
    assert (mine.created, mine.destroyed) == (["e00002"], [])
    found = await store.changes("t2", theirs, 10)
    assert (found.created, found.destroyed) == ([], [])  # created and gone: nothing
    await store.delete_tenant("t1")
    assert (await all_changes(store, start)).created == []


async def test_a_state_from_before_forgotten_deletions_cannot_be_answered(
    open_store: Opener,
) -> None:
    store = open_store(tombstone_retention=timedelta(0))  # a deletion is forgotten at once
    try:
        await store.upsert_many([email_doc(n) for n in range(3)])
        start = await store.change_state("t1")
        assert await store.delete_many("t1", ["e00000"]) == 1
        after_first = (await all_changes(store, start)).new_state
        assert await store.delete_many("t1", ["e00001"]) == 1  # forgets e00000's tombstone
        with pytest.raises(CannotCalculateChanges):
            await store.changes("t1", start, 10)
        assert (await all_changes(store, after_first)).destroyed == ["e00001"]
        # another tenant's states are not affected
        assert (await store.changes("t2", start, 10)).destroyed == []
    finally:
        await store.close()


async def test_a_state_stays_valid_while_nothing_is_forgotten(store: EmailStore) -> None:
    """A state from long ago (no deletion forgotten since) is still answered."""
    await store.upsert_many([email_doc(1)])
    found = await all_changes(store, ChangeState(0))
    assert found.created == ["e00001"]
    assert await store.delete_many("t1", ["e00001"]) == 1
    assert (await all_changes(store, ChangeState(0))).destroyed == []  # created after 0


async def test_mongodb_states_lag_its_clock_and_catch_up(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Writes of several processes are not ordered: the state is the clock less a
    margin, so a write stamped within the margin is not reported yet, and is by the
    next call from the state returned (here a store with an hour's margin sees none of
    its own writes, and one without a margin sees them from that state)."""
    ctx = Ctx(tmp_path, request)
    slow, quick = emails_mongo(ctx, changes_lag=3600.0), emails_mongo(ctx, changes_lag=0.0)
    try:
        start = await quick.change_state("t1")
        lagging = await slow.change_state("t1")
        assert lagging.modseq < start.modseq
        await slow.upsert_many([email_doc(1)])
        found = await slow.changes("t1", lagging, 10)
        assert found.created == [] and found.new_state.modseq < start.modseq
        assert (await quick.changes("t1", found.new_state, 10)).created == ["e00001"]
    finally:
        await slow.close()
        await quick.close()


OLD_SCHEMA = """
CREATE TABLE emails (
  tenant_id TEXT NOT NULL, id TEXT NOT NULL, mailbox_id TEXT NOT NULL,
  sort_key INTEGER NOT NULL, schema_version INTEGER NOT NULL,
  summary TEXT NOT NULL, document TEXT NOT NULL,
  UNIQUE (tenant_id, id)
);
CREATE INDEX emails_by_mailbox ON emails (tenant_id, mailbox_id, sort_key DESC, id DESC);
"""


async def test_a_sqlite_file_from_before_the_trash_is_upgraded_on_open(tmp_path: Path) -> None:
    """Rows written by the first version: those with a trash label are in the trash,
    their summaries get the provider's message id, and they are no change since any
    state."""
    path = tmp_path / "emails.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
        for doc in (labelled(1, "INBOX"), labelled(2, "TRASH")):
            summary = json.loads(encode(doc).summary_json)
            del summary["provider_message_id"]
            conn.execute(
                "INSERT INTO emails VALUES (?, ?, ?, ?, 1, ?, ?)",
                (
                    doc.tenant_id,
                    doc.id,
                    doc.mailbox_id,
                    sort_key(doc.sort_date),
                    json.dumps(summary),
                    encode(doc).document_json,
                ),
            )
    conn.close()
    store = SqliteEmailStore(path)
    try:
        assert [s.id for s in await store.list("t1", ["inbox"], 5, trash=True)] == ["e00002"]
        assert [s.id for s in await store.list("t1", ["inbox"], 5, trash=False)] == ["e00001"]
        summaries = await store.summaries("t1", ["e00001", "e00002"])
        assert [s.provider_message_id for s in summaries] == ["p1", "p2"]
        assert (await all_changes(store, ChangeState(0))).created == []
        assert await store.set_flags("t1", "e00001", Flags(seen=True))
        assert (await all_changes(store, ChangeState(0))).updated == ["e00001"]
    finally:
        await store.close()
