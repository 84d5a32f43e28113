"""The search query as an AST, independent of any search backend.

Each backend compiles this tree (``adapters/fts_query.py`` to an FTS5 MATCH
expression and SQL, ``adapters/es_query.py`` to an Elasticsearch bool query). The
parser that builds it lives in ``domain/query_parser.py``.

Text fields: ``to`` is every recipient (To, Cc and Bcc, as Gmail's and notmuch's
``to:``), ``cc`` and ``bcc`` only those of that header. A whole address in an
address field (``from:alice@example.com``) is a ``Filter`` on the exact address
(``from_address`` …), not the phrase of its words, which would also find
``bob.alice@example.com``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from inboxhub.domain.folding import fold

# Fields a Term or Phrase may be restricted to; None means "any text field".
TEXT_FIELDS = ("subject", "from", "to", "cc", "bcc", "body", "attachment")
# Fields holding addresses: ``Filter(f"{field}_address", address_key(a))`` is exact.
ADDRESS_FIELDS = ("from", "to", "cc", "bcc")
ADDRESS_FILTERS = tuple(f"{f}_address" for f in ADDRESS_FIELDS)
# Gmail's in:anywhere: every mailbox and label.
ANYWHERE = "anywhere"
# Search totals are exact up to this many hits (issue 5), as Elasticsearch counts by
# default: counting every one of 80,000 matches would cost more than the page.
TOTAL_CAP = 10_000


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
    # (list_key of a list id or address), delivered_to, from_address, to_address,
    # cc_address, bcc_address (address_key of an address): the index holds
    # index_values() of a document's values, so these match by equality.
    name: str
    value: bool | int | datetime | str


Node = Term | Phrase | Not | And | Or | MatchAll | Filter

_LABEL_SEPARATORS = re.compile(r"[\s_-]+")
_ADDRESS = re.compile(r"[^\s<>(),;:\"']+@[^\s<>(),;:\"']+")


def label_key(name: str) -> str:
    """A label or folder name as ``label:`` compares it (Gmail): case folded, and each
    run of ``-``, ``_`` and white space one ``-``, so ``my_label`` is "My Label"."""
    return _LABEL_SEPARATORS.sub("-", name.strip().casefold())


def address_key(address: str) -> str:
    """An address as ``deliveredto:`` compares it: lower case, without ``<>``."""
    return address.strip().strip("<>").strip().lower()


def is_address(text: str) -> bool:
    """Whether ``text`` is one whole address (``local@domain.tld``)."""
    local, at, domain = text.strip("<>").rpartition("@")
    return (
        bool(at and local and "." in domain.strip("."))
        and _ADDRESS.fullmatch(text.strip("<>")) is not None
    )


def exact_address_key(address: str) -> str:
    """An address as ``from:a@x.org`` (and ``to:``, ``cc:``, ``bcc:``) compares it:
    ``address_key``, folded as search folds words (``zoë@x.org`` is ``zoe@x.org``)."""
    return fold(address_key(address).strip(".")).lower()


def addresses_in(text: str) -> list[str]:
    """The addresses of an address field's text (``Zoë <zoe@x.org> b@y.org``), each
    as ``exact_address_key`` makes it."""
    return [exact_address_key(a) for a in _ADDRESS.findall(text)]


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
    (``label``, ``list``, ``delivered_to``; ``from_address`` … of the field's text):
    ``Filter(name, key)`` matches a document holding ``key``. Sorted and without
    duplicates or empty keys."""
    if name == "label":
        keys = {label_key(v) for v in values}
    elif name == "list":
        keys = {k for v in values for k in list_id_keys(v)}
    elif name == "delivered_to":
        keys = {address_key(v) for v in values}
    elif name in ADDRESS_FILTERS:
        keys = {k for v in values for k in addresses_in(v)}
    else:
        raise ValueError(f"no index values for filter {name!r}")
    return sorted(k for k in keys if k)


def resolve_mailboxes(node: Node, ids_by_name: dict[str, str]) -> Node:
    """``in:<name>``, with Gmail's meaning: the mailbox of that name, or mail under the
    label or folder of that name (``in:inbox``, ``in:sent``, ``in:Projects``, as
    ``label:``); ``in:anywhere`` is everything. Names compare as labels do
    (``in:old_archive`` is the mailbox "Old Archive"). A name that is neither matches
    nothing."""
    by_key = {label_key(name): id for name, id in ids_by_name.items()}
    return _resolve(node, by_key)


def _resolve(node: Node, ids_by_key: dict[str, str]) -> Node:
    if isinstance(node, Filter) and node.name == "in":
        key = label_key(str(node.value))
        if key == ANYWHERE:
            return MatchAll()
        label = Filter("label", key)
        mailbox_id = ids_by_key.get(key)
        return label if mailbox_id is None else Or((Filter("mailbox", mailbox_id), label))
    if isinstance(node, Not):
        return Not(_resolve(node.child, ids_by_key))
    if isinstance(node, And | Or):
        return type(node)(tuple(_resolve(c, ids_by_key) for c in node.children))
    return node
