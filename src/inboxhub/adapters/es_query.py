"""Everything the adapter tells Elasticsearch, as plain request bodies (used by
``search_elastic.py``): the index template, each email's document, and the query AST
compiled to the query DSL with its sort, highlight, pages and facets.

Pure: no client, no I/O, so it is tested on its own and shared by any client that
speaks the Elasticsearch API (elasticsearch-py, opensearch-py).

The meaning is that of the embedded adapter (``fts_query.py``), leaf by leaf:

* Every user word or phrase is the *text* of a ``match`` / ``match_phrase`` (or, for
  ``word*``, ``match_bool_prefix``) query, which the server analyses; nothing typed
  in the search box is ever query syntax (no ``query_string``). Text, stored and
  searched, is in NFC (a decomposed ``é`` is the precomposed one), and the analyzer
  folds letters as the FTS5 adapter does (``domain/folding.py``: ``asciifolding``,
  with a ``mapping`` char filter for the little it lacks) and lowers them. A word that the
  index splits into several tokens (``zoe@hr.example.net``, ``budget-2024``) is a
  phrase of them, exactly as an FTS5 string literal is.
* A word with no letter or digit constrains nothing (FTS5's tokenizer would see no
  word either), so it compiles to ``match_all``.
* Without a field, a word may match any text field: one clause per field, summed
  (``bool.should``) with the embedded adapter's column weights.
* Negation is ``must_not``; a query of nothing but negations matches everything
  else, as ``compile_where`` does. Filters are non-scoring ``filter`` clauses (or
  ``bool.filter`` wrapped where they sit under OR / NOT), so the words beside them
  are still ranked.

Every request is scoped by a ``term`` on ``tenant_id`` and a ``terms`` on the
caller's mailboxes, whatever the query says (routing alone is never trusted).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from inboxhub.adapters.search_fts import MAX_BODY
from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.folding import FOLD_VERSION, char_filter_mappings, normalise
from inboxhub.domain.models import SearchDocument
from inboxhub.domain.search_query import (
    ADDRESS_FILTERS,
    And,
    Filter,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    exact_address_key,
    index_values,
    is_address,
)

Query = dict[str, Any]

# ---------------------------------------------------------------- the index

TEXT = {"type": "text", "analyzer": "folding"}
# Offsets in the postings let the highlighter skip re-analysing long bodies.
LONG_TEXT = {**TEXT, "index_options": "offsets"}
KEYWORD = {"type": "keyword"}
ADDRESS = {"type": "keyword", "normalizer": "folded"}
MAPPINGS: Query = {
    "dynamic": "strict",
    "_routing": {"required": True},  # a write without the tenant's routing is refused
    "properties": {
        "id": KEYWORD,  # the email id, for sort tie-breaks (sorting on _id is refused)
        "tenant_id": KEYWORD,
        "mailbox_id": KEYWORD,
        "sort_date": {"type": "date"},
        "subject": TEXT,
        "from": TEXT,
        "to": LONG_TEXT,  # every recipient
        "cc": TEXT,
        "bcc": TEXT,
        "body": LONG_TEXT,
        "attachment": TEXT,
        # search_query.addresses_in of from, to, cc, bcc: exact addresses
        "from_address": ADDRESS,
        "to_address": ADDRESS,
        "cc_address": ADDRESS,
        "bcc_address": ADDRESS,
        "has_attachment": {"type": "boolean"},
        "seen": {"type": "boolean"},
        "flagged": {"type": "boolean"},
        "size": {"type": "long"},
        "sender_domain": KEYWORD,
        "message_id": KEYWORD,
        # search_query.index_values of the document's labels, list ids, addresses
        "labels": KEYWORD,
        "list_ids": KEYWORD,
        "delivered_to": KEYWORD,
    },
}
# Fields added after indices were first made: ``put_mapping`` adds them to an index
# made before (adding a field is allowed; the template only shapes new indices).
ADDED_FIELDS = ("labels", "list_ids", "delivered_to", "cc", "bcc", "cc_address", "bcc_address")
# Filter name → the keyword field holding its keys.
KEYED_FILTERS = {"label": "labels", "list": "list_ids", "delivered_to": "delivered_to"}
# Words as FTS5's unicode61 tokenizer makes them (split on white space, punctuation,
# symbols and the invisible format characters), folded as the FTS5 adapter folds them
# (domain/folding.py): the char filter for what asciifolding lacks (final sigma, µ…),
# asciifolding (before lowercase, so that "İ" is "i" and not "i" + a combining dot),
# lowercase (analysis-icu's icu_folding would fold more scripts, but that plugin is
# not on every cluster). The normalizer folds the exact addresses the same way.
# Format characters (Unicode's Cf) mail carries: soft hyphen, zero-width space and
# joiners, direction marks and embeddings, word joiner, byte order mark.
INVISIBLE_SEPARATORS = [
    "\u00ad",
    *(chr(c) for c in range(0x200B, 0x2010)),
    *(chr(c) for c in range(0x202A, 0x202F)),
    "\u2060",
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\ufeff",
]
FOLDING_FILTERS = ["asciifolding", "lowercase"]
ANALYSIS: Query = {
    "char_filter": {"fold": {"type": "mapping", "mappings": char_filter_mappings()}},
    "tokenizer": {
        "words": {
            "type": "char_group",
            "tokenize_on_chars": ["whitespace", "punctuation", "symbol", *INVISIBLE_SEPARATORS],
        }
    },
    "normalizer": {
        "folded": {"type": "custom", "char_filter": ["fold"], "filter": FOLDING_FILTERS}
    },
    "analyzer": {
        "folding": {
            "type": "custom",
            "char_filter": ["fold"],
            "tokenizer": "words",
            "filter": FOLDING_FILTERS,
        }
    },
}
TEMPLATE_PRIORITY = 200  # above the stack's built-in templates, which match *


def index_template(index: str, shards: int, replicas: int) -> Query:
    """The index template's body (``PUT _index_template/<index>``)."""
    settings = {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        # bodies are cut to MAX_BODY characters; highlighting may read them all
        "highlight.max_analyzed_offset": MAX_BODY + 1,
        "analysis": ANALYSIS,
    }
    return {
        "index_patterns": [index],
        "priority": TEMPLATE_PRIORITY,
        "template": {"settings": {"index": settings}, "mappings": MAPPINGS},
        "_meta": {"managed_by": "inboxhub", "fold": FOLD_VERSION},
    }


def mapping_update() -> Query:
    """The ``PUT <index>/_mapping`` body that brings an older index up to ``MAPPINGS``."""
    return {"properties": {f: MAPPINGS["properties"][f] for f in ADDED_FIELDS}}


def source(doc: SearchDocument) -> Query:
    """What the index stores for one email."""
    return {
        "id": doc.id,
        "tenant_id": doc.tenant_id,
        "mailbox_id": doc.mailbox_id,
        "sort_date": doc.sort_date.astimezone(UTC).isoformat(),
        "subject": normalise(doc.subject),
        "from": normalise(doc.from_text),
        "to": normalise(doc.to_text),
        "cc": normalise(doc.cc_text),
        "bcc": normalise(doc.bcc_text),
        "body": normalise(doc.body[:MAX_BODY]),
        "attachment": normalise(doc.attachment_names),
        "from_address": index_values("from_address", [doc.from_text]),
        "to_address": index_values("to_address", [doc.to_text]),
        "cc_address": index_values("cc_address", [doc.cc_text]),
        "bcc_address": index_values("bcc_address", [doc.bcc_text]),
        "has_attachment": doc.has_attachments,
        "seen": doc.seen,
        "flagged": doc.flagged,
        "size": doc.size,
        "sender_domain": doc.sender_domain,
        "message_id": doc.message_id,
        "labels": index_values("label", doc.labels),
        "list_ids": index_values("list", doc.list_ids),
        "delivered_to": index_values("delivered_to", doc.delivered_to),
    }


# ---------------------------------------------------------------- queries

# The AST's text fields are the index's field names; a word without a field may be
# in any of these (cc and bcc are in "to" as well).
TEXT_FIELDS = ("subject", "from", "to", "body", "attachment")
# Relevance weights per field, as ``search_fts.WEIGHTS`` gives FTS5's bm25.
WEIGHTS = {
    "subject": 10.0,
    "from": 5.0,
    "to": 3.0,
    "cc": 3.0,
    "bcc": 3.0,
    "body": 1.0,
    "attachment": 4.0,
}
# Keyword fields holding each exact address (lower case) of the address fields.
ADDRESS_KEYWORDS = {"from": "from_address", "to": "to_address"}
# ``hr.exam*`` (a prefix after other words) is a match_phrase_prefix, whose last word
# expands to at most this many terms per shard; a lone ``budg*`` has no such limit.
PHRASE_PREFIX_EXPANSIONS = 200
MATCH_ALL: Query = {"match_all": {}}

# Relevance pages go by offset (``from``), which the server allows up to
# index.max_result_window (10,000 by default); date pages use ``search_after`` and have
# no such limit. ``search_after`` on ``_score`` would be the usual keyset, but
# noida-db 0.2.3 (the test server) compares the given score with one of slightly
# different precision and skips whole pages, and relevance beyond the
# 10,000th hit means little: the embedded adapter pages by offset too.
MAX_WINDOW = 10_000
RELEVANCE_SORT = [{"_score": "desc"}, {"sort_date": "desc"}, {"id": "asc"}]
DATE_SORT = [{"sort_date": "desc"}, {"id": "desc"}]
SORTS = {"relevance": RELEVANCE_SORT, "date": DATE_SORT}

HIGHLIGHT: Query = {
    # The server HTML-escapes the text and inserts the tags as they are.
    "encoder": "html",
    "pre_tags": ["<mark>"],
    "post_tags": ["</mark>"],
    "require_field_match": True,
    "fields": {
        "subject": {"number_of_fragments": 0},
        "from": {"number_of_fragments": 0},
        "to": {"fragment_size": 150, "number_of_fragments": 1},
        "body": {"fragment_size": 150, "number_of_fragments": 1},
        "attachment": {"number_of_fragments": 0},
    },
}
SENDER_DOMAINS = 20

_SEPARATORS = ("Z", "P", "S")  # Unicode categories the index tokenizer splits on
_INVISIBLE = frozenset(INVISIBLE_SEPARATORS)


def words(text: str) -> list[str]:
    """The words the index's tokenizer makes of ``text`` (before folding): runs of
    characters that are not white space, punctuation, symbols or invisible."""
    out: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isspace() or unicodedata.category(ch)[0] in _SEPARATORS or ch in _INVISIBLE:
            if current:
                out.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current))
    return out


def _field_clause(node: Term | Phrase, field: str) -> Query:
    boost = WEIGHTS[field]
    text = normalise(node.text)
    if isinstance(node, Term) and node.prefix:
        if len(words(node.text)) <= 1:
            # The analysed word as a prefix query: every term it begins, no limit.
            spec = {"query": text, "operator": "and", "boost": boost}
            return {"match_bool_prefix": {field: spec}}
        spec = {"query": text, "max_expansions": PHRASE_PREFIX_EXPANSIONS, "boost": boost}
        return {"match_phrase_prefix": {field: spec}}
    if len(words(text)) == 1:
        # One word: a term query, as match_phrase would become (and cheaper to plan).
        return {"match": {field: {"query": text, "operator": "and", "boost": boost}}}
    return {"match_phrase": {field: {"query": text, "boost": boost}}}


def _leaf(node: Term | Phrase) -> Query:
    if not any(ch.isalnum() for ch in node.text):
        return MATCH_ALL  # punctuation only: the tokenizer would see no word
    fields = (node.field,) if node.field else TEXT_FIELDS
    if any(f not in WEIGHTS for f in fields):
        raise InvalidInput(f"search field {node.field!r} cannot be compiled here")
    clauses = [_field_clause(node, f) for f in fields]
    if isinstance(node, Term) and not node.prefix and is_address(node.text):
        # The exact address ranks above the same words elsewhere; it never widens
        # the match (its words form the phrase above), so results stay the same.
        key = exact_address_key(node.text)
        clauses += [
            {"term": {ADDRESS_KEYWORDS[f]: {"value": key, "boost": WEIGHTS[f]}}}
            for f in fields
            if f in ADDRESS_KEYWORDS
        ]
    return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses}}


def _utc(value: object) -> str:
    if not isinstance(value, datetime):
        raise InvalidInput(f"date filter needs a datetime, not {value!r}")
    when = value if value.tzinfo else value.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"size filter needs a number of bytes, not {value!r}")
    return value


def filter_clause(node: Filter) -> Query:
    """The condition a ``Filter`` stands for, on the index's keyword/date/number fields."""
    name, value = node.name, node.value
    if name in ("has_attachment", "seen", "flagged"):
        return {"term": {name: bool(value)}}
    if name == "before":  # exclusive
        return {"range": {"sort_date": {"lt": _utc(value)}}}
    if name == "after":  # inclusive
        return {"range": {"sort_date": {"gte": _utc(value)}}}
    if name == "larger":
        return {"range": {"size": {"gt": _int(value)}}}
    if name == "smaller":
        return {"range": {"size": {"lt": _int(value)}}}
    if name in ("mailbox", "message_id"):
        return {"term": {"mailbox_id" if name == "mailbox" else "message_id": str(value)}}
    if name in KEYED_FILTERS:
        return {"term": {KEYED_FILTERS[name]: str(value)}}
    if name in ADDRESS_FILTERS:  # the keyword field of the same name
        return {"term": {name: str(value)}}
    # "in" must have been resolved to "mailbox" first (search_query.resolve_mailboxes)
    raise InvalidInput(f"search filter {name!r} cannot be compiled here")


def compile_query(node: Node) -> Query:
    """The query DSL for ``node`` (without the tenant and mailbox scope)."""
    if isinstance(node, MatchAll):
        return MATCH_ALL
    if isinstance(node, Term | Phrase):
        return _leaf(node)
    if isinstance(node, Filter):
        return {"bool": {"filter": [filter_clause(node)]}}  # matches, scores nothing
    if isinstance(node, Not):
        return {"bool": {"must_not": [compile_query(node.child)]}}
    if isinstance(node, Or):
        should = [compile_query(c) for c in node.children]
        return {"bool": {"should": should, "minimum_should_match": 1}}
    must: list[Query] = []
    must_not: list[Query] = []
    filters: list[Query] = []
    for child in node.children:
        if isinstance(child, Not):
            must_not.append(compile_query(child.child))
        elif isinstance(child, Filter):
            filters.append(filter_clause(child))
        elif (compiled := compile_query(child)) != MATCH_ALL:
            must.append(compiled)
    parts = {"must": must, "filter": filters, "must_not": must_not}
    return {"bool": {k: v for k, v in parts.items() if v}}


def has_text(node: Node) -> bool:
    """Whether ``node`` matches words (not only filters or negations): then hits are
    ranked and highlighted, otherwise listed newest first (as in ``search_fts``)."""
    if isinstance(node, Term | Phrase):
        return any(ch.isalnum() for ch in node.text)
    if isinstance(node, And | Or):
        return any(has_text(c) for c in node.children)
    return False


def effective_order(node: Node, order: str) -> str:
    """``"relevance"`` only when there are words to rank by; else ``"date"``."""
    if order not in SORTS:
        raise InvalidInput(f"search order must be relevance or date, not {order!r}")
    return "relevance" if order == "relevance" and has_text(node) else "date"


def scope(tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> list[Query]:
    """The mandatory filters: this tenant (and these mailboxes), whatever else."""
    clauses: list[Query] = [{"term": {"tenant_id": tenant_id}}]
    if mailbox_ids is not None:
        clauses.append({"terms": {"mailbox_id": list(mailbox_ids)}})
    return clauses


def facet_aggs(mailboxes: int) -> Query:
    """Counts of every match (not just the page) by mailbox, sender domain,
    attachment and year. One tenant lives on one shard (routing), so terms
    aggregations are exact."""
    return {
        "mailbox": {"terms": {"field": "mailbox_id", "size": max(mailboxes, 1)}},
        # one more than shown: an empty domain may take a place and is dropped
        "sender_domain": {"terms": {"field": "sender_domain", "size": SENDER_DOMAINS + 1}},
        "has_attachment": {"terms": {"field": "has_attachment", "size": 2}},
        "year": {
            "date_histogram": {
                "field": "sort_date",
                "calendar_interval": "year",
                "format": "yyyy",
                "time_zone": "UTC",
                "min_doc_count": 1,
            }
        },
    }


def search_body(
    tenant_id: str,
    query: Node,
    mailbox_ids: Sequence[str],
    size: int,
    order: str = "relevance",
    search_after: Sequence[Any] | None = None,
    offset: int = 0,
    facets: bool = False,
    track_total_hits: bool | int = True,
) -> Query:
    """The whole ``_search`` body for one page of ``SearchIndex.search``."""
    body: Query = {
        "query": {
            "bool": {"filter": scope(tenant_id, mailbox_ids), "must": [compile_query(query)]}
        },
        "sort": SORTS[effective_order(query, order)],
        "size": size,
        "_source": False,
        "track_total_hits": track_total_hits,
    }
    if search_after:
        body["search_after"] = list(search_after)
    if offset:
        body["from"] = offset
    if has_text(query):
        body["highlight"] = HIGHLIGHT
    if facets:
        body["aggs"] = facet_aggs(len(mailbox_ids))
    return body


def _bool_key(bucket: Mapping[str, Any]) -> str:
    # Elasticsearch gives {"key": 1, "key_as_string": "true"}; some servers {"key": true}
    if "key_as_string" in bucket:
        return str(bucket["key_as_string"]).lower()
    return "true" if bucket["key"] in (True, 1, "true") else "false"


def _year_key(bucket: Mapping[str, Any]) -> str:
    if "key_as_string" in bucket:
        return str(bucket["key_as_string"])
    return str(datetime.fromtimestamp(bucket["key"] / 1000, UTC).year)


def read_facets(aggs: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``facet_aggs``' answer → ``SearchPage.facets``."""

    def buckets(name: str) -> list[Mapping[str, Any]]:
        return list(aggs.get(name, {}).get("buckets", []))

    domains = [(str(b["key"]), int(b["doc_count"])) for b in buckets("sender_domain")]
    years = sorted(((_year_key(b), int(b["doc_count"])) for b in buckets("year")), reverse=True)
    return {
        "mailbox": {str(b["key"]): int(b["doc_count"]) for b in buckets("mailbox")},
        "sender_domain": dict([d for d in domains if d[0]][:SENDER_DOMAINS]),
        "has_attachment": dict(
            sorted((_bool_key(b), int(b["doc_count"])) for b in buckets("has_attachment"))
        ),
        "year": {y: n for y, n in years if n},
    }
