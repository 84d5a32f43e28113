"""The search query as an AST, independent of any search backend.

Each backend compiles this tree (``adapters/search_fts.py`` to an FTS5 MATCH
expression, later Elasticsearch to a bool query). The parser that builds it lives in
``domain/query_parser.py``; the full Gmail operator set is a later issue, so the tree
already carries fields and boolean structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Fields a Term or Phrase may be restricted to; None means "any text field".
TEXT_FIELDS = ("subject", "from", "to", "body", "attachment")


@dataclass(frozen=True)
class Term:
    text: str
    field: str | None = None
    prefix: bool = False  # "invo*"


@dataclass(frozen=True)
class Phrase:
    text: str
    field: str | None = None


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class MatchAll:
    """The empty query: every email the caller may see."""


@dataclass(frozen=True)
class Filter:
    """A condition on what an email is rather than on its words (Gmail's ``has:``,
    ``is:``, ``in:``, ``before:``, ``after:``, ``older_than:``, ``newer_than:``,
    ``larger:``, ``smaller:``, ``rfc822msgid:``). ``before`` is exclusive and
    ``after`` inclusive, as whole days in UTC; sizes are bytes of the raw message."""

    # has_attachment, seen, flagged (bool); before, after (datetime); larger, smaller
    # (int); in (a mailbox name as typed, until resolve_mailboxes makes it) mailbox (an
    # id); message_id (str, without angle brackets).
    name: str
    value: bool | int | datetime | str


Node = Term | Phrase | Not | And | Or | MatchAll | Filter


def resolve_mailboxes(node: Node, ids_by_name: dict[str, str]) -> Node:
    """``in:<name>`` → the mailbox's id (names compared case-insensitively); a name the
    caller has no mailbox for matches nothing, as in Gmail."""
    if isinstance(node, Filter) and node.name == "in":
        return Filter("mailbox", ids_by_name.get(str(node.value).casefold(), ""))
    if isinstance(node, Not):
        return Not(resolve_mailboxes(node.child, ids_by_name))
    if isinstance(node, And | Or):
        return type(node)(tuple(resolve_mailboxes(c, ids_by_name) for c in node.children))
    return node
