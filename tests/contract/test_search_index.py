"""The SearchIndex contract, on every adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.labels import scope_trash
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import Filter, MatchAll
from inboxhub.ports import SearchIndex
from tests.contract.adapters import SEARCH_INDEXES, Ctx, search_elastic
from tests.support.documents import search_doc


@pytest.fixture(params=sorted(SEARCH_INDEXES))
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchIndex]:
    s = SEARCH_INDEXES[request.param](Ctx(tmp_path, request))
    await s.index_many(
        [
            search_doc(1, subject="Quarterly budget review", body="numbers attached"),
            search_doc(
                2,
                subject="Résumé of Zoë",
                body="see the CV",
                from_text="Zoë Müller <zoe@hr.example.net>",
            ),
            search_doc(
                3,
                subject="Lunch",
                body="<script>alert(1)</script> pizza at noon",
                to_text="Team <team@example.com>",
            ),
            search_doc(
                4,
                subject="Budget approved",
                body="the budget is final",
                attachment_names="budget-2024.xlsx",
            ),
            search_doc(5, mailbox="other", subject="Budget in another mailbox"),
            search_doc(6, tenant="t2", subject="Budget of tenant two secretword"),
        ]
    )
    yield s
    await s.close()


async def ids(
    index: SearchIndex,
    q: str,
    boxes: tuple[str, ...] = ("inbox",),
    tenant: str = "t1",
    order: str = "relevance",
) -> list[str]:
    page = await index.search(tenant, parse_query(q), list(boxes), 50, order=order)
    return [h.id for h in page.hits]


async def test_free_text_finds_subject_body_and_attachment_names(index: SearchIndex) -> None:
    assert set(await ids(index, "budget")) == {"e00001", "e00004"}
    assert await ids(index, "pizza") == ["e00003"]
    assert await ids(index, "xlsx") == ["e00004"]


async def test_case_and_diacritics_fold(index: SearchIndex) -> None:
    assert await ids(index, "resume") == ["e00002"]
    assert await ids(index, "ZOE muller") == ["e00002"]


async def test_addresses_by_whole_local_part_domain_or_name(index: SearchIndex) -> None:
    for q in ("zoe@hr.example.net", "zoe", "hr.example.net", "Müller", "from:zoe"):
        assert await ids(index, q) == ["e00002"], q
    assert await ids(index, "to:team@example.com") == ["e00003"]


async def test_phrases_negation_or_and_fields(index: SearchIndex) -> None:
    assert await ids(index, '"budget review"') == ["e00001"]
    assert await ids(index, '"review budget"') == []
    assert await ids(index, "budget -approved") == ["e00001"]
    assert set(await ids(index, "pizza OR resume")) == {"e00002", "e00003"}
    assert await ids(index, "subject:budget numbers") == ["e00001"]
    assert set(await ids(index, "-budget")) == {"e00002", "e00003"}
    assert await ids(index, "budg*") != []


async def test_tenant_and_mailbox_walls_hold(index: SearchIndex) -> None:
    assert await ids(index, "secretword", ("inbox", "other")) == []
    assert await ids(index, "secretword", tenant="t2") == ["e00006"]
    assert await ids(index, "budget", ("other",)) == ["e00005"]
    assert await ids(index, "budget", ()) == []


async def test_highlights_mark_matches_and_escape_the_rest(index: SearchIndex) -> None:
    page = await index.search("t1", parse_query("pizza"), ["inbox"], 10)
    [body] = page.hits[0].highlights["body"]
    assert "<mark>pizza</mark>" in body and "<script>" not in body
    page = await index.search("t1", parse_query("budget"), ["inbox"], 10)
    assert any("<mark>" in f for h in page.hits for fs in h.highlights.values() for f in fs)


async def test_upsert_replaces_the_old_text(index: SearchIndex) -> None:
    await index.index_many([search_doc(3, subject="Dinner", body="pasta tonight")])
    assert await ids(index, "pizza") == []
    assert await ids(index, "pasta") == ["e00003"]
    assert await index.count("t1") == 5


@pytest.mark.parametrize("order", ["relevance", "date"])
async def test_pages_cover_every_hit_once(index: SearchIndex, order: str) -> None:
    await index.index_many([search_doc(100 + i, subject=f"bulk item {i}") for i in range(23)])
    seen: list[str] = []
    cursor = None
    while True:
        page = await index.search("t1", parse_query("bulk"), ["inbox"], 5, cursor, order)
        assert page.total == 23
        seen += [h.id for h in page.hits]
        if (cursor := page.next_cursor) is None:
            break
    assert sorted(seen) == sorted(f"e{100 + i:05d}" for i in range(23))
    if order == "date":
        assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "q", ["NEAR(a b)", "AND", "a:b", "*", "^x", "'quote'", "a - b", '"" OR x', "{}", "OR x"]
)
async def test_fts_syntax_in_user_input_is_just_text(index: SearchIndex, q: str) -> None:
    try:
        node = parse_query(q)
    except Exception as exc:  # the parser may refuse; the index must never see bad syntax
        assert type(exc).__name__ == "InvalidQuery"
        return
    page = await index.search("t1", node, ["inbox"], 10)
    assert page.total >= 0


async def test_match_all_count_existing_and_deletes(index: SearchIndex) -> None:
    page = await index.search("t1", MatchAll(), ["inbox", "other"], 2)
    assert page.total == 5 and len(page.hits) == 2 and page.next_cursor
    assert await index.existing_ids("t1", ["e00001", "e00006"]) == {"e00001"}
    assert await index.delete_many("t1", ["e00001", "e00002"]) == 2
    assert await ids(index, "resume") == []
    assert await index.delete_tenant("t2") == 1
    assert await index.count("t2") == 0
    await index.ping()


async def test_gmail_filters_narrow_the_results(index: SearchIndex) -> None:
    def day(month: int) -> datetime:
        return datetime(2024, month, 10, tzinfo=UTC)

    await index.index_many(
        [
            search_doc(
                10,
                mailbox="f",
                subject="report alpha",
                has_attachments=True,
                size=6_000_000,
                sort_date=day(1),
            ),
            search_doc(
                11,
                mailbox="f",
                subject="report beta",
                seen=True,
                size=50_000,
                sort_date=day(2),
                message_id="m11@x",
            ),
            search_doc(
                12,
                mailbox="f",
                subject="report gamma",
                seen=True,
                flagged=True,
                size=200_000,
                sort_date=day(3),
            ),
        ]
    )
    f = ("f",)
    assert await ids(index, "has:attachment", f) == ["e00010"]
    assert await ids(index, "report is:unread", f) == ["e00010"]
    assert await ids(index, "is:starred", f) == ["e00012"]
    assert set(await ids(index, "-is:starred", f)) == {"e00010", "e00011"}
    assert set(await ids(index, "after:2024/02/10", f)) == {"e00011", "e00012"}, "inclusive"
    assert await ids(index, "before:2024/02/10", f) == ["e00010"]
    assert await ids(index, "larger:5M", f) == ["e00010"]
    assert await ids(index, "smaller:100K", f) == ["e00011"]
    assert set(await ids(index, "has:attachment OR is:starred", f)) == {"e00010", "e00012"}
    assert await ids(index, "alpha is:read", f) == []
    assert await ids(index, "rfc822msgid:<m11@x>", f) == ["e00011"]
    in_f = await index.search("t1", Filter("mailbox", "f"), ["inbox", "f"], 10)
    assert {h.id for h in in_f.hits} == {"e00010", "e00011", "e00012"}
    page = await index.search("t1", parse_query("report is:read"), ["f"], 10)
    assert {h.id for h in page.hits} == {"e00011", "e00012"} and page.total == 2
    assert all("<mark>" in h.highlights["subject"][0] for h in page.hits), "still ranked"


@pytest.fixture
async def listed(index: SearchIndex) -> SearchIndex:
    """Emails in mailbox ``k`` with labels, List-Id ids and Delivered-To addresses."""
    await index.index_many(
        [
            search_doc(
                30,
                mailbox="k",
                subject="report one",
                labels=["inbox", "my-label"],
                list_ids=["dev.lists.example.org"],
                delivered_to=["alice@example.com"],
            ),
            search_doc(
                31,
                mailbox="k",
                subject="report two",
                labels=["work"],
                list_ids=["announce.lists.example.org"],
                delivered_to=["alice@example.com", "team@example.com"],
            ),
            search_doc(
                32,
                mailbox="k",
                subject="report three",
                labels=["my_label"],  # any spelling: the index keys it
                list_ids=["users.example.net"],
                delivered_to=["bob@example.com"],
            ),
            search_doc(33, mailbox="k", subject="report four"),
        ]
    )
    return index


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("label:my-label", {"e00030", "e00032"}),
        ('label:"MY LABEL"', {"e00030", "e00032"}),
        ("label:my_label", {"e00030", "e00032"}),
        ("label:Work", {"e00031"}),
        ("label:wor", set()),  # the whole name
        ("label:inbox", {"e00030"}),
        ("-label:my-label", {"e00031", "e00033"}),
        ("label:work OR label:inbox", {"e00030", "e00031"}),
        ("list:dev.lists.example.org", {"e00030"}),
        ("list:dev@lists.example.org", {"e00030"}),
        ("list:<DEV.Lists.example.org>", {"e00030"}),
        ("list:lists.example.org", {"e00030", "e00031"}),
        ("list:example.org", {"e00030", "e00031"}),
        ("list:ists.example.org", set()),  # suffixes on a dot boundary only
        ("list:dev", set()),
        ("-list:lists.example.org", {"e00032", "e00033"}),
        ("deliveredto:alice@example.com", {"e00030", "e00031"}),
        ("deliveredto:ALICE@Example.com", {"e00030", "e00031"}),
        ("deliveredto:example.com", set()),  # the whole address
        ("-deliveredto:alice@example.com", {"e00032", "e00033"}),
        ("deliveredto:team@example.com OR list:users.example.net", {"e00031", "e00032"}),
        ("label:my-label -list:lists.example.org", {"e00032"}),
        ("(label:work OR deliveredto:bob@example.com) report", {"e00031", "e00032"}),
        ("three -label:inbox", {"e00032"}),
        ("-(label:inbox OR list:lists.example.org)", {"e00032", "e00033"}),
    ],
)
async def test_label_list_and_deliveredto_find_the_same_emails(
    listed: SearchIndex, q: str, expected: set[str]
) -> None:
    assert set(await ids(listed, q, ("k",))) == expected
    assert set(await ids(listed, q, ("k",), order="date")) == expected


async def test_label_list_and_deliveredto_follow_upserts_and_deletes(listed: SearchIndex) -> None:
    await listed.index_many([search_doc(30, mailbox="k", subject="report one", labels=["work"])])
    assert set(await ids(listed, "label:work", ("k",))) == {"e00030", "e00031"}
    assert await ids(listed, "label:inbox", ("k",)) == []
    assert await ids(listed, "list:dev.lists.example.org", ("k",)) == []
    assert await listed.delete_many("t1", ["e00031"]) == 1
    assert await ids(listed, "deliveredto:team@example.com", ("k",)) == []
    assert await ids(listed, "label:work", ("k",)) == ["e00030"]


async def test_facets_count_every_match_not_just_the_page(index: SearchIndex) -> None:
    def when(year: int) -> datetime:
        return datetime(year, 5, 1, tzinfo=UTC)

    await index.index_many(
        [
            search_doc(
                20,
                mailbox="g",
                subject="offer one",
                sender_domain="a.com",
                sort_date=when(2023),
                has_attachments=True,
            ),
            search_doc(
                21, mailbox="g", subject="offer two", sender_domain="a.com", sort_date=when(2024)
            ),
            search_doc(
                22, mailbox="h", subject="offer three", sender_domain="b.org", sort_date=when(2024)
            ),
            search_doc(
                23, mailbox="h", subject="unrelated", sender_domain="c.net", sort_date=when(2022)
            ),
        ]
    )
    for order in ("relevance", "date"):
        page = await index.search(
            "t1", parse_query("offer"), ["g", "h"], 1, order=order, facets=True
        )
        assert len(page.hits) == 1 and page.total == 3
        assert page.facets == {
            "mailbox": {"g": 2, "h": 1},
            "sender_domain": {"a.com": 2, "b.org": 1},
            "has_attachment": {"false": 2, "true": 1},
            "year": {"2024": 2, "2023": 1},
        }
    everything = await index.search("t1", MatchAll(), ["g", "h"], 1, facets=True)
    assert everything.facets["year"] == {"2024": 2, "2023": 1, "2022": 1}
    assert (await index.search("t1", MatchAll(), ["g"], 1)).facets == {}, "only when asked"


async def test_same_email_id_in_two_tenants_stays_apart(index: SearchIndex) -> None:
    await index.index_many([search_doc(1, tenant="t2", subject="Other tenant's twin")])
    assert await ids(index, "twin") == []
    assert await ids(index, "twin", tenant="t2") == ["e00001"]
    assert await ids(index, "quarterly") == ["e00001"], "t1's e00001 is untouched"
    assert await index.existing_ids("t2", ["e00001", "e00002"]) == {"e00001"}
    assert await index.delete_many("t2", ["e00001"]) == 1
    assert await ids(index, "quarterly") == ["e00001"]
    assert await index.existing_ids("t1", ["e00001"]) == {"e00001"}
    assert await index.count("t2") == 1 and await index.count("t1") == 5
    assert await index.delete_tenant("t2") == 1
    assert await index.count("t1") == 5


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("budget OR -approved", {"e00001", "e00002", "e00003", "e00004"}),
        ("pizza OR -budget", {"e00002", "e00003"}),
        ("-budget -pizza", {"e00002"}),
        ("-(budget OR pizza)", {"e00002"}),
        ("{pizza resume} -cv", {"e00003"}),
        ("subject:(budget review)", {"e00001"}),
        ("subject:(budget -review)", {"e00004"}),
        ("-subject:budget", {"e00002", "e00003"}),
        ("body:budget", {"e00004"}),
        ("filename:xlsx", {"e00004"}),
        ("filename:budget-2024", {"e00004"}),
        ("subject:numbers", set()),
        ("from:example.net", {"e00002"}),
        ("from:zoe@hr.example.net -cv", set()),
        ("to:team", {"e00003"}),
        ("hr.exam*", {"e00002"}),
        ("zo*", {"e00002"}),
        ("to:tea*", {"e00003"}),
        ('"the budget is final"', {"e00004"}),
        ('"budget final"', set()),
        ("script alert", {"e00003"}),
        ("budget AND approved", {"e00004"}),  # Gmail's AND: "from:amy AND to:david"
        ("approved budget OR nothing", {"e00004"}),
        ("- * budget", {"e00001", "e00004"}),
    ],
)
async def test_the_same_queries_find_the_same_emails(
    index: SearchIndex, q: str, expected: set[str]
) -> None:
    assert set(await ids(index, q)) == expected
    assert set(await ids(index, q, order="date")) == expected


async def test_prefix_and_field_matches_are_highlighted(index: SearchIndex) -> None:
    page = await index.search("t1", parse_query("budg*"), ["inbox"], 10)
    assert {h.id for h in page.hits} == {"e00001", "e00004"}
    assert all("<mark>" in h.highlights["subject"][0] for h in page.hits)
    page = await index.search("t1", parse_query("from:zoe"), ["inbox"], 10)
    [hit] = page.hits
    assert set(hit.highlights) == {"from"} and "<mark>" in hit.highlights["from"][0]


async def test_date_order_is_newest_first_and_filters_alone_are_listed(index: SearchIndex) -> None:
    assert await ids(index, "budget", order="date") == ["e00004", "e00001"]
    page = await index.search("t1", parse_query("is:unread"), ["inbox"], 10, order="relevance")
    assert [h.id for h in page.hits] == ["e00004", "e00003", "e00002", "e00001"]
    assert all(h.highlights == {} for h in page.hits)


async def test_a_cursor_from_elsewhere_is_refused(index: SearchIndex) -> None:
    for cursor in ("not-a-cursor", "%%%"):
        with pytest.raises(InvalidInput):
            await index.search("t1", parse_query("budget"), ["inbox"], 1, cursor)


# ---------------------------------------------------------------- Elasticsearch only


async def test_elastic_bulk_resends_only_the_rejected_items(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server takes the first document and rejects the others as overloaded
    (429): the retry carries only those, and all are searchable in the end."""
    s = search_elastic(Ctx(tmp_path, request), backoff=0.01)
    real_bulk = s.client.bulk
    bodies: list[bytes] = []

    async def overloaded_once(*, body: bytes, **params: Any) -> Any:
        bodies.append(body)
        lines = body.splitlines(keepends=True)
        if len(bodies) > 1:
            return await real_bulk(body=body, **params)
        taken = await real_bulk(body=b"".join(lines[:2]), **params)
        rejected = {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception"}}}
        return {"errors": True, "items": [*taken["items"], *[rejected] * (len(lines) // 2 - 1)]}

    monkeypatch.setattr(s.client, "bulk", overloaded_once)
    try:
        await s.index_many([search_doc(n, subject=f"retried {n}") for n in (1, 2, 3)])
        assert len(bodies) == 2 and len(bodies[1].splitlines()) == 4, "two documents resent"
        assert set(await ids(s, "retried")) == {"e00001", "e00002", "e00003"}
    finally:
        await s.close()


async def test_elastic_bulk_gives_up_after_its_attempts(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inboxhub.adapters.search_elastic import BulkFailed

    s = search_elastic(Ctx(tmp_path, request), backoff=0.0, attempts=3)
    calls: list[bytes] = []

    async def always_overloaded(*, body: bytes, **params: Any) -> Any:
        calls.append(body)
        rejected = {"index": {"status": 503, "error": {"type": "unavailable_shards_exception"}}}
        return {"errors": True, "items": [rejected] * (len(body.splitlines()) // 2)}

    monkeypatch.setattr(s.client, "bulk", always_overloaded)
    try:
        with pytest.raises(BulkFailed) as failed:
            await s.index_many([search_doc(1), search_doc(2)])
        assert len(calls) == 3 and len(failed.value.failures) == 2
    finally:
        await s.close()


# ---------------------------------------------------------------- indexes made before


# search.db as it was made before doc_values (label:, list:, deliveredto:).
OLD_FTS_SCHEMA = """
CREATE TABLE docs (
  rowid INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, id TEXT NOT NULL,
  mailbox_id TEXT NOT NULL, sort_key INTEGER NOT NULL,
  has_attachments INTEGER NOT NULL, seen INTEGER NOT NULL, flagged INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0, sender_domain TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  UNIQUE (tenant_id, id)
);
CREATE INDEX docs_by_message_id ON docs (tenant_id, message_id);
CREATE INDEX docs_by_mailbox ON docs (tenant_id, mailbox_id, sort_key DESC, id);
CREATE VIRTUAL TABLE fts USING fts5(
  subject, from_text, to_text, body, attachment_names,
  tokenize = "unicode61 remove_diacritics 2"
);
INSERT INTO docs (rowid, tenant_id, id, mailbox_id, sort_key, has_attachments, seen, flagged)
  VALUES (1, 't1', 'old1', 'inbox', 1700000000000000, 0, 0, 0);
INSERT INTO fts (rowid, subject, from_text, to_text, body, attachment_names)
  VALUES (1, 'indexed long ago', '', '', 'old body', '');
"""


async def test_an_fts_index_made_before_label_list_deliveredto_is_upgraded_on_open(
    tmp_path: Path,
) -> None:
    import sqlite3

    from inboxhub.adapters.search_fts import FtsSearchIndex

    path = tmp_path / "search.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_FTS_SCHEMA)
    s = FtsSearchIndex(path)
    try:
        assert await ids(s, "long ago") == ["old1"]
        assert await ids(s, "label:inbox") == [], "an old row has no values"
        assert await ids(s, "-label:inbox") == ["old1"]
        await s.index_many([search_doc(1, labels=["Inbox"], delivered_to=["a@x.org"])])
        assert await ids(s, "label:inbox") == ["e00001"]
        assert set(await ids(s, "-deliveredto:a@x.org")) == {"old1"}
        assert set(await ids(s, "label:inbox OR ago")) == {"e00001", "old1"}
        assert await s.delete_many("t1", ["old1", "e00001"]) == 2
        assert await s.count("t1") == 0
    finally:
        await s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM doc_values").fetchone() == (0,)


async def test_an_elastic_index_made_before_label_list_deliveredto_gets_the_fields(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from inboxhub.adapters import es_query

    s = search_elastic(Ctx(tmp_path, request))
    template = es_query.index_template(s.index, 1, 0)["template"]
    old_fields = {
        k: v for k, v in es_query.MAPPINGS["properties"].items() if k not in es_query.ADDED_FIELDS
    }
    old_source = {
        k: v
        for k, v in es_query.source(search_doc(0, subject="indexed long ago")).items()
        if k in old_fields
    }
    try:
        await s.client.indices.create(
            index=s.index,
            body={
                "settings": template["settings"],
                "mappings": {**es_query.MAPPINGS, "properties": old_fields},
            },
        )
        await s.client.index(
            index=s.index, id="t1/e00000", routing="t1", body=old_source, refresh="true"
        )
        await s.index_many([search_doc(1, labels=["Inbox"], list_ids=["dev.x.org"])])
        assert await ids(s, "long ago") == ["e00000"]
        assert await ids(s, "label:inbox") == ["e00001"]
        assert await ids(s, "list:x.org") == ["e00001"]
        assert await ids(s, "-label:inbox") == ["e00000"], "an old document has no values"
        mapping = await s.client.indices.get_mapping(index=s.index)
        fields = mapping[s.index]["mappings"]["properties"]
        assert all(
            fields[f]["type"] == es_query.MAPPINGS["properties"][f]["type"]
            for f in es_query.ADDED_FIELDS
        )
    finally:
        await s.close()


async def test_the_trash_left_out_beside_the_words_keeps_them_ranked(index: SearchIndex) -> None:
    """``domain.labels.scope_trash`` puts negated label filters beside a query: the
    words are still ranked and highlighted, and ``in:trash`` finds the trash."""
    await index.index_many([search_doc(7, subject="Budget thrown away", labels=["trash"])])
    page = await index.search("t1", scope_trash(parse_query("budget")), ["inbox"], 50)
    assert {h.id for h in page.hits} == {"e00001", "e00004"} and page.total == 2
    assert all(h.score > 0 and h.highlights for h in page.hits)
    trash = await index.search("t1", scope_trash(parse_query("in:trash budget")), ["inbox"], 50)
    assert [h.id for h in trash.hits] == ["e00007"]
    everything = scope_trash(parse_query("in:anywhere budget"))
    assert everything == parse_query("in:anywhere budget")  # left to resolve_mailboxes
