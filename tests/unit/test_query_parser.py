"""The search box's language: the tree it builds, and where it says a query breaks."""

from __future__ import annotations

import pytest

from inboxhub.domain.errors import InvalidQuery
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import And, MatchAll, Not, Or, Phrase, Term


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("", MatchAll()),
        ("   ", MatchAll()),
        ("invoice", Term("invoice")),
        ("invoice march", And((Term("invoice"), Term("march")))),
        ("a b OR c", And((Term("a"), Or((Term("b"), Term("c")))))),
        ("a or b", And((Term("a"), Term("or"), Term("b")))),  # OR is upper case only
        ("-spam", Not(Term("spam"))),
        ('"quarterly report"', Phrase("quarterly report")),
        ("from:alice", Term("alice", "from")),
        ('subject:"status update"', Phrase("status update", "subject")),
        ("filename:pdf", Term("pdf", "attachment")),
        ("cc:bob", Term("bob", "to")),
        ("from:(alice OR bob)", Or((Term("alice", "from"), Term("bob", "from")))),
        ("{a b c}", Or((Term("a"), Term("b"), Term("c")))),
        ("invo*", Term("invo", prefix=True)),
        ("http://x.org/a", Term("http://x.org/a")),  # an unknown operator is plain text
        ("(a b) -(c OR d)", And((Term("a"), Term("b"), Not(Or((Term("c"), Term("d"))))))),
        ("well - known", And((Term("well"), Term("-"), Term("known")))),
        ("x -", And((Term("x"), Term("-")))),  # a dash before nothing is a dash
    ],
)
def test_queries_parse_into_trees(query: str, tree: object) -> None:
    assert parse_query(query) == tree


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ('"unclosed', 0),
        ("(a b", 0),
        ("a b)", 3),
        ("a OR", 2),
        ("OR a", 0),
        ("from: alice", 0),
        ("{a (b}", 5),  # the brace that closes nothing open
        ("a" * 2001, 2000),
    ],
)
def test_broken_queries_say_where(query: str, position: int) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_query(query)
    assert caught.value.extra["position"] == position
