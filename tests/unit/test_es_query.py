"""The query AST → Elasticsearch request bodies (es_query), and the pure helpers of the
Elasticsearch adapter (bulk retry, URL settings, cursors). No server."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from inboxhub.adapters import es_query
from inboxhub.adapters.es_query import compile_query, filter_clause, search_body
from inboxhub.adapters.search_elastic import (
    BulkFailed,
    ElasticSearchIndex,
    _decode_cursor,
    _encode_cursor,
    bulk_with_retry,
    doc_key,
    parse_url,
)
from inboxhub.domain.errors import InvalidInput, InvalidQuery
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import And, Filter, MatchAll, Not, Or, Phrase, Term
from tests.support.documents import search_doc


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a query body."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def phrase(field: str, text: str) -> dict[str, Any]:
    """A word (a term query) or, if the index splits it, a phrase of its words."""
    boost = es_query.WEIGHTS[field]
    if len(es_query.words(text)) == 1:
        return {"match": {field: {"query": text, "operator": "and", "boost": boost}}}
    return {"match_phrase": {field: {"query": text, "boost": boost}}}


# ---------------------------------------------------------------- words


def test_a_word_may_match_any_text_field_with_its_weight() -> None:
    assert compile_query(Term("budget")) == {
        "bool": {"should": [phrase(f, "budget") for f in es_query.TEXT_FIELDS]}
    }


def test_a_field_restricts_the_word_to_that_field() -> None:
    assert compile_query(Term("zoe", "from")) == {
        "match": {"from": {"query": "zoe", "operator": "and", "boost": 5.0}}
    }
    assert compile_query(Term("zoe@hr", "subject")) == {
        "match_phrase": {"subject": {"query": "zoe@hr", "boost": 10.0}}
    }
    assert compile_query(Phrase("budget review", "subject")) == phrase("subject", "budget review")


def test_an_address_also_matches_its_exact_keyword() -> None:
    assert compile_query(Term("Zoe@HR.example.net", "from")) == {
        "bool": {
            "should": [
                phrase("from", "Zoe@HR.example.net"),
                {"term": {"from_address": {"value": "zoe@hr.example.net", "boost": 5.0}}},
            ]
        }
    }
    anywhere = compile_query(Term("zoe@hr.example.net"))
    keywords = [k for k, v in walk(anywhere) if k in ("from_address", "to_address")]
    assert keywords == ["from_address", "to_address"]


def test_a_prefix_is_unlimited_alone_and_a_phrase_prefix_after_other_words() -> None:
    assert compile_query(Term("budg", "subject", prefix=True)) == {
        "match_bool_prefix": {"subject": {"query": "budg", "operator": "and", "boost": 10.0}}
    }
    assert compile_query(Term("hr.exam", "from", prefix=True)) == {
        "match_phrase_prefix": {
            "from": {
                "query": "hr.exam",
                "max_expansions": es_query.PHRASE_PREFIX_EXPANSIONS,
                "boost": 5.0,
            }
        }
    }


def test_punctuation_alone_constrains_nothing() -> None:
    assert compile_query(Term("*")) == es_query.MATCH_ALL
    assert compile_query(Not(Term("-"))) == {"bool": {"must_not": [es_query.MATCH_ALL]}}
    assert compile_query(And((Term("-"), Term("a", "body")))) == {
        "bool": {"must": [phrase("body", "a")]}
    }


def test_words_split_as_the_index_tokenizer_does() -> None:
    assert es_query.words("Zoë <zoe@hr.example.net>") == ["Zoë", "zoe", "hr", "example", "net"]
    assert es_query.words("budget-2024.xlsx 5€ it's") == ["budget", "2024", "xlsx", "5", "it", "s"]
    assert es_query.words("日本語 テキスト") == ["日本語", "テキスト"]


@pytest.mark.parametrize(
    "q",
    [
        "title:foo AND bar",
        "a* OR b~2",
        '"x" || y',
        "\\",
        '{"match_all":{}}',
        "NOT x",
        "+a -b",
        "/re.*gex/",
        "size:[1 TO 5]",
        "a^10",
        "_exists_:body",
        "<script>",
        "*:*",
    ],
)
def test_user_input_with_elasticsearch_syntax_stays_text(q: str) -> None:
    try:
        node = parse_query(q)
    except InvalidQuery:
        return
    body = search_body("t1", node, ["inbox"], 10)
    keys = {k for k, _ in walk(body)}
    assert not keys & {"query_string", "simple_query_string", "wildcard", "regexp", "script"}
    assert not keys & {"fuzzy", "intervals", "exists"}
    # every user string reaches the server only as the text of a match_* query
    for key, value in walk(body):
        if key.startswith("match_") and key != "match_all":
            (spec,) = value.values()
            assert set(spec) <= {"query", "boost", "operator", "max_expansions"}


def test_syntax_characters_reach_the_server_verbatim_as_text() -> None:
    body = compile_query(Term('a:b OR c^2~ "x" \\', "subject"))
    assert body == phrase("subject", 'a:b OR c^2~ "x" \\')


# ---------------------------------------------------------------- structure


def test_and_ranks_words_filters_without_score_and_negations_apart() -> None:
    node = And((Term("a", "body"), Filter("seen", True), Not(Term("b", "body"))))
    assert compile_query(node) == {
        "bool": {
            "must": [phrase("body", "a")],
            "filter": [{"term": {"seen": True}}],
            "must_not": [phrase("body", "b")],
        }
    }


def test_or_needs_one_match_even_beside_filters() -> None:
    node = Or((Term("a", "body"), Filter("flagged", True)))
    assert compile_query(node) == {
        "bool": {
            "should": [phrase("body", "a"), {"bool": {"filter": [{"term": {"flagged": True}}]}}],
            "minimum_should_match": 1,
        }
    }


def test_negation_alone_excludes_and_match_all_matches_everything() -> None:
    assert compile_query(Not(Term("a", "to"))) == {"bool": {"must_not": [phrase("to", "a")]}}
    assert compile_query(MatchAll()) == {"match_all": {}}


def test_gmail_filters_compile_to_keyword_range_and_term_conditions() -> None:
    day = datetime(2024, 2, 10, tzinfo=UTC)
    assert filter_clause(Filter("has_attachment", True)) == {"term": {"has_attachment": True}}
    assert filter_clause(Filter("seen", False)) == {"term": {"seen": False}}
    assert filter_clause(Filter("before", day)) == {
        "range": {"sort_date": {"lt": "2024-02-10T00:00:00+00:00"}}
    }
    later = datetime(2024, 2, 10, 1, tzinfo=timezone(timedelta(hours=1)))
    assert filter_clause(Filter("after", later)) == {
        "range": {"sort_date": {"gte": "2024-02-10T00:00:00+00:00"}}
    }
    assert filter_clause(Filter("larger", 5)) == {"range": {"size": {"gt": 5}}}
    assert filter_clause(Filter("smaller", 5)) == {"range": {"size": {"lt": 5}}}
    assert filter_clause(Filter("mailbox", "m1")) == {"term": {"mailbox_id": "m1"}}
    assert filter_clause(Filter("message_id", "a@b")) == {"term": {"message_id": "a@b"}}


def test_label_list_and_delivered_to_are_terms_on_their_keyword_fields() -> None:
    assert compile_query(parse_query('label:"My Label"')) == {
        "bool": {"filter": [{"term": {"labels": "my-label"}}]}
    }
    assert filter_clause(Filter("list", "dev.lists.example.org")) == {
        "term": {"list_ids": "dev.lists.example.org"}
    }
    assert filter_clause(Filter("delivered_to", "a@x.org")) == {"term": {"delivered_to": "a@x.org"}}
    assert compile_query(parse_query("report -label:spam list:dev@lists.example.org")) == {
        "bool": {
            "must": [compile_query(Term("report"))],
            "filter": [{"term": {"list_ids": "dev.lists.example.org"}}],
            "must_not": [{"bool": {"filter": [{"term": {"labels": "spam"}}]}}],
        }
    }
    assert compile_query(parse_query("label:a OR deliveredto:b@x.org")) == {
        "bool": {
            "should": [
                {"bool": {"filter": [{"term": {"labels": "a"}}]}},
                {"bool": {"filter": [{"term": {"delivered_to": "b@x.org"}}]}},
            ],
            "minimum_should_match": 1,
        }
    }


def test_a_document_holds_the_keys_its_filters_match() -> None:
    src = es_query.source(
        search_doc(
            1,
            labels=["My Label", "inbox", "my_label"],
            list_ids=["dev.lists.example.org"],
            delivered_to=["Alice@Example.com", "<alice@example.com>"],
        )
    )
    assert src["labels"] == ["inbox", "my-label"]
    assert src["list_ids"] == ["dev.lists.example.org", "example.org", "lists.example.org", "org"]
    assert src["delivered_to"] == ["alice@example.com"]
    bare = es_query.source(search_doc(2))
    assert bare["labels"] == bare["list_ids"] == bare["delivered_to"] == []


def test_an_older_index_gets_the_added_fields() -> None:
    update = es_query.mapping_update()
    assert set(update["properties"]) == {
        "labels",
        "list_ids",
        "delivered_to",
        "cc",
        "bcc",
        "cc_address",
        "bcc_address",
    }
    assert update["properties"]["labels"] == {"type": "keyword"}
    assert update["properties"]["cc"]["type"] == "text"
    assert update["properties"].items() <= es_query.MAPPINGS["properties"].items()


@pytest.mark.parametrize(
    "node",
    [Filter("in", "Inbox"), Filter("before", "yesterday"), Filter("larger", True), Filter("x", 1)],
)
def test_filters_that_cannot_be_compiled_are_refused(node: Filter) -> None:
    with pytest.raises(InvalidInput):
        compile_query(node)


def test_only_words_are_ranked_and_highlighted() -> None:
    assert es_query.effective_order(parse_query("budget is:unread"), "relevance") == "relevance"
    assert es_query.effective_order(parse_query("is:unread -budget"), "relevance") == "date"
    assert es_query.effective_order(parse_query("budget"), "date") == "date"
    with pytest.raises(InvalidInput):
        es_query.effective_order(MatchAll(), "random")
    assert "highlight" in search_body("t", parse_query("a"), ["m"], 5)
    assert "highlight" not in search_body("t", parse_query("has:attachment -a"), ["m"], 5)


# ---------------------------------------------------------------- the request


def test_every_search_is_walled_to_the_tenant_and_its_mailboxes() -> None:
    body = search_body("t1", parse_query("-budget OR x"), ["a", "b"], 11)
    assert body["query"]["bool"]["filter"] == [
        {"term": {"tenant_id": "t1"}},
        {"terms": {"mailbox_id": ["a", "b"]}},
    ]
    assert body["size"] == 11 and body["track_total_hits"] is True and body["_source"] is False


def test_pages_sort_by_relevance_or_date_with_an_id_tie_break() -> None:
    body = search_body("t", parse_query("a"), ["m"], 5, offset=20)
    assert body["sort"] == es_query.RELEVANCE_SORT and body["from"] == 20
    assert "search_after" not in body
    body = search_body("t", parse_query("a"), ["m"], 5, "date", [1700000000000, "e1"])
    assert body["sort"] == [{"sort_date": "desc"}, {"id": "desc"}]
    assert body["search_after"] == [1700000000000, "e1"] and "from" not in body


def test_highlights_mark_matches_and_let_the_server_escape_html() -> None:
    h = search_body("t", parse_query("a"), ["m"], 5)["highlight"]
    assert h["encoder"] == "html" and h["pre_tags"] == ["<mark>"] and h["post_tags"] == ["</mark>"]
    assert set(h["fields"]) == set(es_query.TEXT_FIELDS)


def test_facets_are_asked_for_only_when_wanted() -> None:
    assert "aggs" not in search_body("t", MatchAll(), ["m"], 5)
    aggs = search_body("t", MatchAll(), ["a", "b", "c"], 5, facets=True)["aggs"]
    assert aggs["mailbox"]["terms"] == {"field": "mailbox_id", "size": 3}
    assert set(aggs) == {"mailbox", "sender_domain", "has_attachment", "year"}


def test_facets_read_from_either_server_dialect() -> None:
    elastic = {
        "mailbox": {"buckets": [{"key": "g", "doc_count": 2}, {"key": "h", "doc_count": 1}]},
        "sender_domain": {
            "buckets": [{"key": "", "doc_count": 9}]
            + [{"key": f"d{i:02}.com", "doc_count": 30 - i} for i in range(21)]
        },
        "has_attachment": {
            "buckets": [
                {"key": 0, "key_as_string": "false", "doc_count": 2},
                {"key": 1, "key_as_string": "true", "doc_count": 1},
            ]
        },
        "year": {
            "buckets": [
                {"key": 1672531200000, "key_as_string": "2023", "doc_count": 1},
                {"key": 1704067200000, "key_as_string": "2024", "doc_count": 2},
            ]
        },
    }
    facets = es_query.read_facets(elastic)
    assert facets["mailbox"] == {"g": 2, "h": 1}
    assert list(facets["sender_domain"]) == [f"d{i:02}.com" for i in range(20)]
    assert facets["has_attachment"] == {"false": 2, "true": 1}
    assert list(facets["year"].items()) == [("2024", 2), ("2023", 1)]
    noida = {
        "has_attachment": {"buckets": [{"key": True, "doc_count": 4}]},
        "year": {"buckets": [{"key": 1704067200000, "doc_count": 2}]},
    }
    facets = es_query.read_facets(noida)
    assert facets["has_attachment"] == {"true": 4} and facets["year"] == {"2024": 2}


# ---------------------------------------------------------------- the index


def test_the_template_makes_a_strict_routed_index_with_mail_analysis() -> None:
    t = es_query.index_template("p-emails", shards=3, replicas=1)
    assert t["index_patterns"] == ["p-emails"]
    settings, mappings = t["template"]["settings"]["index"], t["template"]["mappings"]
    assert settings["number_of_shards"] == 3 and settings["number_of_replicas"] == 1
    folding = settings["analysis"]["analyzer"]["folding"]
    assert folding["filter"] == ["asciifolding", "lowercase"], "İ folds before lowering"
    assert folding["char_filter"] == ["fold"]
    rules = settings["analysis"]["char_filter"]["fold"]["mappings"]
    assert "ς => σ" in rules and "ø => o" not in rules, "what asciifolding lacks"
    assert mappings["dynamic"] == "strict" and mappings["_routing"] == {"required": True}
    fields = mappings["properties"]
    texts = {f for f in fields if fields[f]["type"] == "text"}
    assert texts == {*es_query.TEXT_FIELDS, "cc", "bcc"}
    assert fields["id"]["type"] == fields["tenant_id"]["type"] == "keyword"


def test_a_document_carries_filters_and_exact_addresses() -> None:
    doc = search_doc(
        1,
        from_text="Zoë <Zoe@HR.example.net>",
        to_text="a@x.org, Bob <b@y.org>",
        body="x" * 2_000_000,
        sort_date=datetime(2024, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))),
    )
    doc.cc_text = "Bob <b@y.org>"
    src = es_query.source(doc)
    assert src["from_address"] == ["zoe@hr.example.net"]
    assert src["to_address"] == ["a@x.org", "b@y.org"]
    assert src["cc_address"] == ["b@y.org"] and src["bcc_address"] == []
    assert src["sort_date"] == "2023-12-31T23:00:00+00:00"
    assert len(src["body"]) == 1_000_000
    assert set(src) == set(es_query.MAPPINGS["properties"])


# ---------------------------------------------------------------- bulk retry


def item(status: int, error: bool = True, result: str = "created") -> dict[str, Any]:
    inner: dict[str, Any] = {"status": status}
    if error:
        inner["error"] = {"type": "x"}
    else:
        inner["result"] = result
    return {"index": inner}


class FakeBulk:
    def __init__(self, *answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.bodies: list[bytes] = []
        self.slept: list[float] = []

    async def send(self, body: bytes) -> dict[str, Any]:
        self.bodies.append(body)
        return {"errors": True, "items": self.answers.pop(0)}

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def ops(n: int) -> list[tuple[bytes, bytes | None]]:
    return [(b'{"index":{"_id":"%d"}}\n' % i, b'{"n":%d}\n' % i) for i in range(n)]


async def test_bulk_resends_only_transient_failures_with_backoff() -> None:
    fake = FakeBulk(
        [item(201, False), item(429), item(503)],
        [item(201, False), item(429)],
        [item(200, False, "updated")],
    )
    results = await bulk_with_retry(fake.send, ops(3), backoff=0.5, sleep=fake.sleep)
    assert [r["status"] for r in results] == [201, 201, 200]
    assert fake.bodies[1] == b'{"index":{"_id":"1"}}\n{"n":1}\n{"index":{"_id":"2"}}\n{"n":2}\n'
    assert fake.bodies[2] == b'{"index":{"_id":"2"}}\n{"n":2}\n'
    assert fake.slept == [0.5, 1.0]


async def test_bulk_raises_at_once_on_a_refused_document() -> None:
    fake = FakeBulk([item(201, False), item(400), item(429)])
    with pytest.raises(BulkFailed) as failed:
        await bulk_with_retry(fake.send, ops(3), sleep=fake.sleep)
    assert [f["status"] for f in failed.value.failures] == [400, 429]
    assert len(fake.bodies) == 1


async def test_bulk_gives_up_after_its_attempts() -> None:
    fake = FakeBulk(*[[item(429)] for _ in range(3)])
    with pytest.raises(BulkFailed):
        await bulk_with_retry(fake.send, ops(1), attempts=3, sleep=fake.sleep)
    assert len(fake.bodies) == 3 and fake.slept == [0.5, 1.0]


async def test_a_delete_of_a_missing_document_is_no_failure() -> None:
    missing = {"delete": {"status": 404, "result": "not_found"}}
    fake = FakeBulk([missing])
    results = await bulk_with_retry(fake.send, [(b'{"delete":{}}\n', None)], sleep=fake.sleep)
    assert results == [missing["delete"]]


# ---------------------------------------------------------------- URL and cursors


def test_urls_name_hosts_credentials_and_settings() -> None:
    scheme, hosts, settings = parse_url(
        "elasticsearchs://u%40x:p%2Bw@es1:9243,es2?index_prefix=mail&shards=3&refresh=false",
        {"replicas": 0, "index_prefix": None},
    )
    assert scheme == "elasticsearchs" and hosts == ["https://es1:9243", "https://es2:9200"]
    assert settings == {
        "username": "u@x",
        "password": "p+w",
        "index_prefix": "mail",
        "shards": 3,
        "refresh": "false",
        "replicas": 0,
    }
    _, hosts, settings = parse_url("http://localhost:9200?api_key=a+b%3D", {})
    assert hosts == ["http://localhost:9200"] and settings == {"api_key": "a+b="}


@pytest.mark.parametrize(
    "url", ["kafka://x:1", "elasticsearch://", "elasticsearch://h/path", "elasticsearch://h?x=1"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url, {})


def test_the_adapter_is_built_from_a_url() -> None:
    index = ElasticSearchIndex.from_url("elasticsearch://h:1?index_prefix=abc&refresh=true")
    assert index.index == "abc-emails" and index.refresh == "true"
    assert "user" not in repr(index)
    with pytest.raises(ValueError):
        ElasticSearchIndex.from_url("elasticsearch://h:1", refresh="sometimes")


@pytest.mark.skipif(
    importlib.util.find_spec("opensearchpy") is not None, reason="opensearch-py is installed"
)
def test_opensearch_without_its_client_says_what_to_install() -> None:
    with pytest.raises(ValueError, match="install opensearch-py"):
        ElasticSearchIndex.from_url("opensearch://h:9200")


def test_cursors_round_trip_and_refuse_the_other_order() -> None:
    assert _decode_cursor(_encode_cursor("relevance", 40), "relevance") == 40
    token = _encode_cursor("date", [1700000000000, "e1"])
    assert _decode_cursor(token, "date") == [1700000000000, "e1"]
    for bad, order in [(token, "relevance"), ("!!", "date"), (_encode_cursor("date", [1]), "date")]:
        with pytest.raises(InvalidInput):
            _decode_cursor(bad, order)


def test_document_keys_keep_tenants_apart() -> None:
    assert doc_key("t1", "e/1") == "t1/e/1"
    with pytest.raises(InvalidInput):
        doc_key("t/1", "e1")
