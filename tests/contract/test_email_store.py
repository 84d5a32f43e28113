"""The EmailStore contract, on every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from inboxhub.domain.encoded import encode
from inboxhub.domain.models import Address, Attachment, EmailDocument, Flags
from inboxhub.ports import EmailStore, ListCursor
from tests.contract.adapters import EMAIL_STORES, Ctx
from tests.support.documents import BASE, email_doc


@pytest.fixture(params=sorted(EMAIL_STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], EmailStore]:
    """Opens the test's store; a second call opens the same data again."""
    ctx = Ctx(tmp_path, request)
    return lambda: EMAIL_STORES[request.param](ctx)


@pytest.fixture()
async def store(make_store: Callable[[], EmailStore]) -> AsyncIterator[EmailStore]:
    s = make_store()
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


async def test_unread_counts_per_mailbox_follow_the_seen_flag(store: EmailStore) -> None:
    await store.upsert_many(
        [email_doc(n, mailbox=f"b{n % 3}") for n in range(9)]
        + [email_doc(50, tenant="t2", mailbox="b0")]
    )
    assert await store.count_unread("t1", ["b0", "b1", "b2", "none"]) == {
        "b0": 3,
        "b1": 3,
        "b2": 3,
        "none": 0,
    }
    assert await store.set_flags("t1", "e00000", Flags(seen=True))
    assert await store.set_flags("t1", "e00003", Flags(seen=True, flagged=True))
    assert await store.set_flags("t1", "e00001", Flags(flagged=True))  # starred, unread
    assert await store.count_unread("t1", ["b0", "b1", "b0"]) == {"b0": 1, "b1": 3}
    assert await store.set_flags("t1", "e00000", Flags(seen=False))
    assert await store.count_unread("t1", ["b0"]) == {"b0": 2}
    assert await store.count_unread("t2", ["b0", "b1"]) == {"b0": 1, "b1": 0}
    assert await store.count_unread("t1", []) == {}


async def test_data_survives_reopening(make_store: Callable[[], EmailStore]) -> None:
    first = make_store()
    await first.upsert_many([email_doc(9)])
    await first.close()
    again = make_store()
    try:
        assert await again.count("t1") == 1
        await again.ping()
        await again.upsert_many([email_doc(10)])  # a reopened store writes as well
        assert await again.existing_ids("t1", ["e00009", "e00010"]) == {"e00009", "e00010"}
    finally:
        await again.close()


async def test_the_schema_version_is_kept(store: EmailStore) -> None:
    old, new = email_doc(1), email_doc(2).model_copy(update={"schema_version": 7})
    await store.upsert_many([old])
    await store.upsert_encoded([encode(new)])
    assert [d.schema_version for d in await store.get_many("t1", [old.id, new.id])] == [1, 7]


async def test_the_last_copy_in_one_batch_wins(store: EmailStore) -> None:
    await store.upsert_many([email_doc(1, subject="first"), email_doc(1, subject="last")])
    await store.upsert_encoded(
        [encode(email_doc(2, subject="first")), encode(email_doc(2, subject="last"))]
    )
    assert [d.subject for d in await store.get_many("t1", ["e00001", "e00002"])] == [
        "last",
        "last",
    ]
    assert await store.count("t1") == 2


async def test_pages_over_equal_dates_and_mailboxes_cover_every_email_once(
    store: EmailStore,
) -> None:
    docs = [email_doc(n, mailbox=f"box{n % 3}", when=BASE) for n in range(30)]
    docs += [email_doc(n, mailbox="box0", when=BASE - timedelta(days=1)) for n in range(30, 35)]
    await store.upsert_encoded([encode(d) for d in docs])
    everything = sorted(((d.sort_date, d.id) for d in docs), reverse=True)
    for size in (1, 4, 35, 100):
        ids = await every_page(store, "t1", ["box0", "box1", "box2"], size)
        assert ids == [i for _, i in everything], size
    in_box0 = {d.id for d in docs if d.mailbox_id == "box0"}
    assert await every_page(store, "t1", ["box0"], 3) == [i for _, i in everything if i in in_box0]


async def test_a_cursor_at_a_deleted_email_still_continues_after_it(store: EmailStore) -> None:
    await store.upsert_many([email_doc(n, when=BASE) for n in range(6)])
    first = await store.list("t1", ["inbox"], 3)
    assert [s.id for s in first] == ["e00005", "e00004", "e00003"]
    await store.delete_many("t1", ["e00003"])
    after = ListCursor(first[-1].sort_date, first[-1].id)
    assert [s.id for s in await store.list("t1", ["inbox"], 10, after)] == [
        "e00002",
        "e00001",
        "e00000",
    ]


def odd_doc(n: int, tenant: str = "t1") -> EmailDocument:
    """Every field filled, with non-ASCII, control characters and long values."""
    text = "Grüße aus Zürich — 東京 — مرحبا — 🎉👩🏽‍💻\u0301\u200b\x00\x01\t\r\n" * 20_000
    names = [Address(name=f'Ñame {i} « » "quoted"', email=f"u{i}@exämple.org") for i in range(500)]
    doc = email_doc(n, tenant, subject="Ünïcödé " + "☃" * 20_000, text=text)
    return doc.model_copy(
        update={
            "to": names[:200],
            "cc": names[200:400],
            "bcc": names[400:],
            "reply_to": [Address(name="", email="")],
            "sender": Address(name="Ødegård, Åse", email="åse@例え.jp"),
            "in_reply_to": "<a@b>",
            "references": [f"<r{i}@x>" for i in range(1_000)],
            "headers": [("X-Ünicode", "välue\x00"), ("Subject", "=?utf-8?q?x?=")] * 500,
            "html": "<p>" + "&lt;é&gt; " * 50_000 + "</p>",
            "attachments": [
                Attachment(
                    id="1",
                    filename="résumé 📄.pdf",
                    content_type="application/pdf",
                    size=123,
                    sha256="ab" * 32,
                    content_id="<c@d>",
                    inline=True,
                )
            ],
            "parse_errors": ["header Date: unparseable 'ɯ'"],
            "has_attachments": True,
            "flags": Flags(seen=True),
            "snippet": text[:200],
            "message_id": "<ünïcode@例え.jp>",
        }
    )


async def test_non_ascii_control_characters_and_long_fields_round_trip(
    store: EmailStore,
) -> None:
    one, two = odd_doc(1), odd_doc(2)
    await store.upsert_many([one])
    await store.upsert_encoded([encode(two)])
    assert await store.get_many("t1", [one.id, two.id]) == [one, two]
    assert await store.summaries("t1", [two.id]) == [two.summary()]


async def test_list_and_summaries_carry_the_list_view(store: EmailStore) -> None:
    doc = odd_doc(3).model_copy(update={"to": [Address(name="Bob", email="bob@example.org")]})
    await store.upsert_encoded([encode(doc)])
    assert await store.list("t1", ["inbox"], 10) == [doc.summary()]
    assert await store.summaries("t1", [doc.id]) == [doc.summary()]
    assert await store.set_flags("t1", doc.id, Flags(flagged=True))
    [listed] = await store.list("t1", ["inbox"], 10)
    assert listed.flags == Flags(flagged=True)  # replaced, not merged


async def test_datetimes_come_back_aware_and_equal_to_the_millisecond(store: EmailStore) -> None:
    plus2 = timezone(timedelta(hours=2))
    when = datetime(2024, 5, 6, 7, 8, 9, 123_456, tzinfo=UTC)
    doc = email_doc(1).model_copy(
        update={
            "date": when.astimezone(plus2),
            "sort_date": when,
            "received_at": datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
        }
    )
    await store.upsert_encoded([encode(doc)])
    got = await store.get("t1", doc.id)
    assert got is not None and got.date is not None
    for mine, theirs in [
        (got.date, doc.date),
        (got.sort_date, doc.sort_date),
        (got.received_at, doc.received_at),
    ]:
        assert mine.tzinfo is not None and theirs is not None
        assert abs(mine - theirs) < timedelta(milliseconds=1)
    # a cursor made of what the store returned continues exactly after it
    await store.upsert_many([email_doc(2, when=when), email_doc(3, when=when)])
    page = await store.list("t1", ["inbox"], 2)
    rest = await store.list("t1", ["inbox"], 10, ListCursor(page[-1].sort_date, page[-1].id))
    assert [s.id for s in page + rest] == ["e00003", "e00002", "e00001"]


async def test_every_method_keeps_to_its_tenant(store: EmailStore) -> None:
    await store.upsert_many([email_doc(1, tenant="t1"), email_doc(2, tenant="t2")])
    assert await store.get_many("t1", ["e00002"]) == []
    assert await store.summaries("t1", ["e00002"]) == []
    assert await store.existing_ids("t1", ["e00002"]) == set()
    assert not await store.set_flags("t1", "e00002", Flags(seen=True))
    assert await store.delete_many("t1", ["e00002"]) == 0
    assert await store.count("t1", ["inbox"]) == 1
    theirs = await store.get("t2", "e00002")
    assert theirs is not None and theirs.flags == Flags()
    await store.upsert_many([email_doc(1, tenant="t2", subject="theirs")])  # same id
    assert await store.delete_many("t2", ["e00001"]) == 1
    mine = await store.get("t1", "e00001")
    assert mine is not None and mine.subject == "Subject 1"
    assert await store.delete_tenant("t3") == 0 and await store.count("t2") == 1


async def test_empty_requests_are_answered_empty(store: EmailStore) -> None:
    await store.upsert_many([])
    await store.upsert_encoded([])
    assert await store.get_many("t1", []) == [] and await store.summaries("t1", []) == []
    assert await store.existing_ids("t1", []) == set()
    assert await store.delete_many("t1", []) == 0
    assert await store.count("t1") == 0 and await store.get("t1", "e00001") is None


async def test_batches_bigger_than_one_round_trip(store: EmailStore) -> None:
    docs = [email_doc(n, mailbox=f"b{n % 2}") for n in range(2_345)]
    await store.upsert_encoded([encode(d) for d in docs])
    assert await store.count("t1") == 2_345 and await store.count("t1", ["b1"]) == 1_172
    assert len(await store.existing_ids("t1", [d.id for d in docs])) == 2_345
    assert len(await every_page(store, "t1", ["b0", "b1"], 500)) == 2_345
    assert await store.delete_many("t1", [d.id for d in docs[:1_500]]) == 1_500


async def test_a_document_too_big_for_one_record_is_still_stored(store: EmailStore) -> None:
    """The parser keeps messages up to 64 MiB; MongoDB keeps documents up to 16 MiB. A
    store may shorten the bodies of such a document, saying so in ``parse_errors``."""
    doc = email_doc(1, text="a line of plain text\n" * 1_000_000)  # 21 MB
    doc = doc.model_copy(update={"html": "<p>" + "x" * 3_000_000 + "</p>"})
    await store.upsert_encoded([encode(doc)])
    got = await store.get("t1", doc.id)
    assert got is not None and doc.text.startswith(got.text) and doc.html.startswith(got.html)
    if (got.text, got.html) != (doc.text, doc.html):
        assert got.parse_errors and "shortened" in got.parse_errors[-1]
        assert len(got.text) > 10_000_000
    assert [s.id for s in await store.list("t1", ["inbox"], 10)] == [doc.id]
