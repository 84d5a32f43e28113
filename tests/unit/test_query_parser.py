"""The search box's language: the tree it builds, and where it says a query breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inboxhub.domain.errors import InvalidQuery
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import (
    And,
    Filter,
    MatchAll,
    Not,
    Or,
    Phrase,
    Term,
    resolve_mailboxes,
)


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
        ("cc:bob", Term("bob", "cc")),
        ("bcc:bob", Term("bob", "bcc")),
        ("to:bob", Term("bob", "to")),  # any recipient, as in Gmail
        ("from:Alice@Example.com", Filter("from_address", "alice@example.com")),
        ('cc:"<bob@x.org>"', Filter("cc_address", "bob@x.org")),
        ("to:(a@x.org OR b)", Or((Filter("to_address", "a@x.org"), Term("b", "to")))),
        ("alice@example.com", Term("alice@example.com")),  # anywhere: a phrase
        ("from:ali*", Term("ali", "from", prefix=True)),
        ("a AND b", And((Term("a"), Term("b")))),
        ("(a AND b) OR c", Or((And((Term("a"), Term("b"))), Term("c")))),
        ("a and b", And((Term("a"), Term("and"), Term("b")))),
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
        ("AND a", 0),
        ("a AND", 2),
        ("(a AND) b", 3),
        ("a OR AND b", 2),
        ("a" * 2001, 2000),
    ],
)
def test_broken_queries_say_where(query: str, position: int) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_query(query)
    assert caught.value.extra["position"] == position


NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("has:attachment", Filter("has_attachment", True)),
        ("is:unread", Filter("seen", False)),
        ("is:READ", Filter("seen", True)),
        ("is:starred", Filter("flagged", True)),
        ("before:2024/01/31", Filter("before", datetime(2024, 1, 31, tzinfo=UTC))),
        ("after:2024-1-5", Filter("after", datetime(2024, 1, 5, tzinfo=UTC))),
        ("before:01/31/2024", Filter("before", datetime(2024, 1, 31, tzinfo=UTC))),
        ("after:1704067200", Filter("after", datetime(2024, 1, 1, tzinfo=UTC))),
        ("older:2024/1/2", Filter("before", datetime(2024, 1, 2, tzinfo=UTC))),
        ("newer:2024/1/2", Filter("after", datetime(2024, 1, 2, tzinfo=UTC))),
        ("size:2M", Filter("larger", 2 * 1024 * 1024)),
        ("older_than:7d", Filter("before", NOW - timedelta(days=7))),
        ("newer_than:2m", Filter("after", NOW - timedelta(days=60))),
        ("larger:5M", Filter("larger", 5 * 1024 * 1024)),
        ("smaller:100k", Filter("smaller", 100 * 1024)),
        ("larger:1000", Filter("larger", 1000)),
        ("invoice -is:read", And((Term("invoice"), Not(Filter("seen", True))))),
        ('in:"Sent Items"', Filter("in", "Sent Items")),
        ("rfc822msgid:<abc.1@example.com>", Filter("message_id", "abc.1@example.com")),
        ("rfc822msgid:abc.1@example.com", Filter("message_id", "abc.1@example.com")),
        ("label:Work", Filter("label", "work")),
        ('label:"My Label"', Filter("label", "my-label")),
        ("label:my_label", Filter("label", "my-label")),
        ("LABEL:my--label", Filter("label", "my-label")),
        ("label:Projects/2024", Filter("label", "projects/2024")),
        ("list:dev.Lists.example.org", Filter("list", "dev.lists.example.org")),
        ("list:<dev.lists.example.org>", Filter("list", "dev.lists.example.org")),
        ("list:Dev@lists.example.org", Filter("list", "dev.lists.example.org")),
        ("list:lists.example.org", Filter("list", "lists.example.org")),
        ("deliveredto:Alice@Example.com", Filter("delivered_to", "alice@example.com")),
        ("deliveredto:<alice@example.com>", Filter("delivered_to", "alice@example.com")),
        ("-label:spam", Not(Filter("label", "spam"))),
        (
            "label:a OR list:x.org report",
            And((Or((Filter("label", "a"), Filter("list", "x.org"))), Term("report"))),
        ),
        (
            "(deliveredto:a@x.org -label:b)",
            And((Filter("delivered_to", "a@x.org"), Not(Filter("label", "b")))),
        ),
        ("labels:x", Term("labels:x")),  # not an operator: plain text
    ],
)
def test_gmail_filters(query: str, tree: object) -> None:
    assert parse_query(query, now=NOW) == tree


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("has:drive", 4),
        ("x is:important", 5),
        ("before:2024/13/01", 7),
        ("after:yesterday", 6),
        ("older_than:7w", 11),
        ("larger:huge", 7),
        ("is:", 0),
        ("label:", 0),
        ("x label: y", 2),
        ('label:""', 6),
        ('label:"  "', 6),
        ("a list:<>", 7),
        ("list:@", 5),
        ("deliveredto:<>", 12),
        ("-deliveredto:", 1),
        ("label:(a OR b)", 0),
    ],
)
def test_filters_with_values_gmail_does_not_know_say_where(query: str, position: int) -> None:
    with pytest.raises(InvalidQuery) as caught:
        parse_query(query, now=NOW)
    assert caught.value.extra["position"] == position


def test_in_names_a_mailbox_or_a_label_anywhere_in_the_tree() -> None:
    tree = parse_query("in:work OR -in:Archive in:Sent_Items", now=NOW)
    resolved = resolve_mailboxes(tree, {"work": "mb1", "archive": "mb2"})
    assert resolved == And(
        (
            Or(
                (
                    Or((Filter("mailbox", "mb1"), Filter("label", "work"))),
                    Not(Or((Filter("mailbox", "mb2"), Filter("label", "archive")))),
                )
            ),
            Filter("label", "sent-items"),  # no such mailbox: Gmail's in:<label>
        )
    )
    assert resolve_mailboxes(parse_query("in:anywhere x"), {}) == And((MatchAll(), Term("x")))
