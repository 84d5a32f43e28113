"""The search query as an AST, independent of any search backend.

Each backend compiles this tree (``adapters/search_fts.py`` to an FTS5 MATCH
expression, later Elasticsearch to a bool query). The parser that builds it lives in
``domain/query_parser.py``; the full Gmail operator set is a later issue, so the tree
already carries fields and boolean structure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    ``larger:``, ``smaller:``, ``rfc822msgid:``, ``label:``, ``list:``,
    ``deliveredto:``). ``before`` is exclusive and ``after`` inclusive, as whole days
    in UTC; sizes are bytes of the raw message."""

    # has_attachment, seen, flagged (bool); before, after (datetime); larger, smaller
    # (int); in (a mailbox name as typed, until resolve_mailboxes makes it) mailbox (an
    # id); message_id (str, without angle brackets); label (label_key of a name), list
    # (list_key of a list id or address), delivered_to (address_key of an address): the
    # index holds index_values() of a document's values, so these match by equality.
    name: str
    value: bool | int | datetime | str


Node = Term | Phrase | Not | And | Or | MatchAll | Filter

_LABEL_SEPARATORS = re.compile(r"[\s_-]+")


def label_key(name: str) -> str:
    """A label or folder name as ``label:`` compares it (Gmail): case folded, and each
    run of ``-``, ``_`` and white space one ``-``, so ``my_label`` is "My Label"."""
    return _LABEL_SEPARATORS.sub("-", name.strip().casefold())


def address_key(address: str) -> str:
    """An address as ``deliveredto:`` compares it: lower case, without ``<>``."""
    return address.strip().strip("<>").strip().lower()


def list_key(value: str) -> str:
    """A ``list:`` value as the list id it names: lower case, without ``<>``; Gmail's
    address form ``dev@lists.example.org`` is the id ``dev.lists.example.org``."""
    value = address_key(value)
    local, at, domain = value.rpartition("@")
    return (f"{local}.{domain}" if at and local and domain else value.strip("@")).strip(".")


def list_id_keys(list_id: str) -> list[str]:
    """What ``list:`` may name of one list id: the id and each suffix of it on a dot
    boundary (``dev.lists.example.org``, ``lists.example.org``, ``example.org``,
    ``org``), so that ``list:lists.example.org`` finds every list under that domain."""
    parts = [p for p in list_key(list_id).split(".") if p]
    return [".".join(parts[i:]) for i in range(len(parts))]


def index_values(name: str, values: Iterable[str]) -> list[str]:
    """The keys an index stores for a document's ``values`` of filter ``name``
    (``label``, ``list``, ``delivered_to``): ``Filter(name, key)`` matches a document
    holding ``key``. Sorted and without duplicates or empty keys."""
    if name == "label":
        keys = {label_key(v) for v in values}
    elif name == "list":
        keys = {k for v in values for k in list_id_keys(v)}
    elif name == "delivered_to":
        keys = {address_key(v) for v in values}
    else:
        raise ValueError(f"no index values for filter {name!r}")
    return sorted(k for k in keys if k)


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
