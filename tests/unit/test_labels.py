"""Labels as users change them, the trash, and how a query is scoped to it."""

from __future__ import annotations

import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.labels import (
    TRASH,
    check_label,
    in_trash,
    out_of_trash,
    relabel,
    scope_trash,
    to_trash,
)
from inboxhub.domain.query_parser import parse_query
from inboxhub.domain.search_query import And, Filter, MatchAll, Not, Or, Term

OUTSIDE = (Not(Filter("label", "trash")), Not(Filter("label", "deleted-items")))
TRASH_ITSELF = Or((Filter("label", "trash"), Filter("label", "deleted-items")))


@pytest.mark.parametrize(
    ("labels", "trashed"),
    [
        ([], False),
        (["INBOX", "Work"], False),
        (["Trash"], True),
        (["TRASH"], True),  # Gmail
        (["INBOX", "Deleted Items"], True),  # Graph, EWS
        (["deleted_items"], True),
        (["Trash can"], False),
        (["[Gmail]/Trash"], False),
    ],
)
def test_the_trash_is_a_label(labels: list[str], trashed: bool) -> None:
    assert in_trash(labels) is trashed


def test_into_and_out_of_the_trash_keeps_the_other_labels() -> None:
    assert to_trash(["INBOX", "Work"]) == ["INBOX", "Work", TRASH]
    assert to_trash(["TRASH"]) == ["TRASH"]  # there already
    assert out_of_trash(["INBOX", "Trash", "Work", "Deleted Items"]) == ["INBOX", "Work"]
    assert out_of_trash(to_trash(["A"])) == ["A"]


def test_relabel_adds_at_the_end_removes_and_replaces_but_keeps_the_trash() -> None:
    assert relabel(["A", "B"], add=["C", "A"], remove=["B"]) == ["A", "C"]
    assert relabel(["A"], remove=["a"]) == ["A"]  # names compare exactly
    assert relabel(["A", "Trash"], replace=["X", "Y", "X"]) == ["X", "Y", "Trash"]
    assert relabel(["A"], replace=[]) == []


@pytest.mark.parametrize(
    "name",
    [
        "",
        "  ",
        "x" * 256,
        "bell\x07",
        "tab\tbed",
        "nul\x00",
        "bidi\u202e",
        "Trash",
        "deleted_items",
    ],
)
def test_bad_label_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_label(name)


@pytest.mark.parametrize("name", ["Work", "Clients/ACME", "Ünïcode ✓", "x" * 255, "[Gmail]/Sent"])
def test_good_label_names_pass(name: str) -> None:
    assert check_label(name) == name


def test_a_query_leaves_the_trash_out_beside_itself() -> None:
    assert scope_trash(parse_query("")) == And(OUTSIDE)
    assert scope_trash(parse_query("budget")) == And((Term("budget"), *OUTSIDE))
    assert scope_trash(parse_query("budget is:unread")) == And(
        (Term("budget"), Filter("seen", False), *OUTSIDE)
    )
    assert scope_trash(parse_query("a OR b")) == And((Or((Term("a"), Term("b"))), *OUTSIDE))


def test_a_query_naming_the_trash_or_anywhere_searches_everything() -> None:
    assert scope_trash(parse_query("in:trash")) == TRASH_ITSELF
    assert scope_trash(parse_query("in:Trash budget")) == And((TRASH_ITSELF, Term("budget")))
    assert scope_trash(parse_query("label:trash")) == Filter("label", "trash")
    assert scope_trash(parse_query("-in:trash x")) == And((Not(TRASH_ITSELF), Term("x")))
    anywhere = parse_query("in:anywhere budget")
    assert scope_trash(anywhere) == anywhere
    assert scope_trash(parse_query("in:inbox")) == And((Filter("in", "inbox"), *OUTSIDE))
    assert not isinstance(scope_trash(parse_query("in:trash")), MatchAll)
