"""What the indexer makes of a stored email: the header values the search filters
``list:`` and ``deliveredto:`` match, and the labels ``label:`` matches (pure)."""

from __future__ import annotations

import pytest

from inboxhub.domain.search_query import index_values, label_key, list_id_keys, list_key
from inboxhub.services.indexer.handler import (
    delivered_to,
    header_values,
    list_ids,
    search_document,
)
from tests.support.documents import email_doc


def test_header_values_ignore_case_unfold_and_skip_empty_ones() -> None:
    headers = [
        ("list-id", "Dev\r\n  <dev.example.org>"),
        ("Subject", "x"),
        ("LIST-ID", "  "),
        ("List-Id", "other"),
    ]
    assert header_values(headers, "List-Id") == ["Dev <dev.example.org>", "other"]
    assert header_values(headers, "Delivered-To") == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["Dev list <Dev.Lists.Example.org>"], ["dev.lists.example.org"]),
        (['"List <with> brackets" <real.example.org>'], ["real.example.org"]),
        (
            ["<a.example.org>", "plain.example.org", "<A.example.org>"],
            ["a.example.org", "plain.example.org"],
        ),
        (["no-brackets.example.org"], ["no-brackets.example.org"]),
        (["<>", ""], []),
    ],
)
def test_list_ids_are_the_bracketed_part_or_the_whole_header(
    values: list[str], expected: list[str]
) -> None:
    assert list_ids([("List-Id", v) for v in values]) == expected


def test_delivered_to_reads_every_delivered_to_and_x_original_to() -> None:
    headers = [
        ("Delivered-To", "Alice@Example.com"),
        ("Received", "from somewhere"),
        ("Delivered-To", "<team@example.com>"),
        ("X-Original-To", "alias@example.com"),
        ("delivered-to", "alice@example.com"),
        ("Delivered-To", "Bob <bob@example.com>"),
        ("Delivered-To", "localonly"),
    ]
    assert delivered_to(headers) == [
        "alice@example.com",
        "team@example.com",
        "alias@example.com",
        "bob@example.com",
        "localonly",
    ]
    assert delivered_to([("To", "x@example.com")]) == []


def test_keys_compare_as_gmail_does() -> None:
    assert label_key(" My  Label ") == label_key("my-label") == label_key("MY_LABEL") == "my-label"
    assert label_key("Work/Projects") == "work/projects"
    assert list_key("Dev@Lists.Example.org") == list_key("<dev.lists.example.org>")
    assert list_id_keys("dev.lists.example.org") == [
        "dev.lists.example.org",
        "lists.example.org",
        "example.org",
        "org",
    ]
    assert index_values("list", ["a.x.org", "b.x.org"]) == [
        "a.x.org",
        "b.x.org",
        "org",
        "x.org",
    ]
    assert index_values("label", ["Inbox", "INBOX", ""]) == ["inbox"]
    with pytest.raises(ValueError):
        index_values("subject", ["x"])


def test_the_search_document_carries_labels_lists_and_recipients() -> None:
    doc = email_doc(1).model_copy(
        update={
            "labels": ["INBOX", "My Label", "my_label"],
            "headers": [
                ("List-Id", "Developers <dev.lists.example.org>"),
                ("Delivered-To", "alice@example.com"),
                ("X-Original-To", "Team@Example.com"),
            ],
        }
    )
    sd = search_document(doc)
    assert sd.labels == ["inbox", "my-label"]
    assert sd.list_ids == ["dev.lists.example.org"]
    assert sd.delivered_to == ["alice@example.com", "team@example.com"]
    bare = search_document(email_doc(2))
    assert bare.labels == bare.list_ids == bare.delivered_to == []
