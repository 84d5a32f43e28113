"""Labels as users change them, and the trash.

Labels are the provider's folders (IMAP, Graph, EWS) or labels (Gmail), as
``EmailSummary.labels`` holds them, by name. The trash is a label too, as in Gmail:
an email is in the trash when one of its labels is a trash label: ``Trash``, or
what a provider calls its trash (Gmail's ``TRASH``, an IMAP ``Trash`` folder, the
``Deleted Items`` of Graph and EWS), names compared as ``label:`` compares them.
Moving an email to the trash adds ``Trash`` and keeps its other labels, so taking it
out again removes the trash labels and leaves it where it was. The default list and
search leave the trash out; ``in:trash`` (``?in=trash``) asks for it, ``in:anywhere``
for everything. Label edits never move an email in or out of the trash: they may not
name a trash label, and the trash labels an email has are kept.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.search_query import (
    ANYWHERE,
    And,
    Filter,
    MatchAll,
    Node,
    Not,
    Or,
    label_key,
)

TRASH = "Trash"  # the label an email moved to the trash here gets
TRASH_KEYS = ("trash", "deleted-items")  # label_key of every name meaning the trash
MAX_LABEL_LENGTH = 255  # characters; Gmail allows 225, IMAP servers ~255 octets


def is_trash(name: str) -> bool:
    return label_key(name) in TRASH_KEYS


def in_trash(labels: Iterable[str]) -> bool:
    return any(is_trash(name) for name in labels)


def to_trash(labels: Sequence[str]) -> list[str]:
    """The labels of an email moved to the trash (unchanged if it is there already)."""
    return list(labels) if in_trash(labels) else [*labels, TRASH]


def out_of_trash(labels: Sequence[str]) -> list[str]:
    """The labels of an email taken out of the trash: where it was before."""
    return [name for name in labels if not is_trash(name)]


def check_label(name: str) -> str:
    """``name`` if it may be set as a label; ``InvalidInput`` saying why not."""
    if not name.strip():
        raise InvalidInput("a label name must not be empty")
    if len(name) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"a label name has at most {MAX_LABEL_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in name):
        raise InvalidInput(f"the label name {name!r} holds a control character")
    if is_trash(name):
        raise InvalidInput(
            f"{name!r} is the trash: move emails there with /trash and back with /untrash"
        )
    return name


def relabel(
    labels: Sequence[str],
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    replace: Sequence[str] | None = None,
) -> list[str]:
    """The labels after a change: ``replace`` (every label but the trash labels, which
    stay), else ``labels`` without ``remove`` and with ``add`` (at the end, in order).
    Names compare exactly, as the provider names them."""
    if replace is not None:
        kept = [name for name in labels if is_trash(name)]
        return list(dict.fromkeys([*replace, *kept]))
    gone = set(remove)
    return list(dict.fromkeys([*(n for n in labels if n not in gone), *add]))


# ---------------------------------------------------------------- search


def _trash_filter() -> Node:
    return Or(tuple(Filter("label", key) for key in TRASH_KEYS))


def _outside_trash() -> tuple[Node, ...]:
    # one negated filter per key, so that a backend can take each as a condition
    # beside the words and still rank them (fts_query.split_filters)
    return tuple(Not(Filter("label", key)) for key in TRASH_KEYS)


def _names_trash(node: Node) -> bool:
    """Whether the query asks about the trash (or everywhere), anywhere in it."""
    if isinstance(node, Filter):
        if node.name == "in":
            value = str(node.value)
            return value.casefold() == ANYWHERE or label_key(value) in TRASH_KEYS
        return node.name == "label" and node.value in TRASH_KEYS
    if isinstance(node, Not):
        return _names_trash(node.child)
    if isinstance(node, And | Or):
        return any(_names_trash(child) for child in node.children)
    return False


def _trash_means_every_trash_label(node: Node) -> Node:
    if isinstance(node, Filter) and node.name == "in" and label_key(str(node.value)) in TRASH_KEYS:
        return _trash_filter()
    if isinstance(node, Not):
        return Not(_trash_means_every_trash_label(node.child))
    if isinstance(node, And | Or):
        return type(node)(tuple(_trash_means_every_trash_label(c) for c in node.children))
    return node


def scope_trash(node: Node) -> Node:
    """A parsed query (before ``resolve_mailboxes``) as Gmail runs it: ``in:trash`` is
    whatever has a trash label (not a mailbox someone named Trash); a query that
    names the trash (``in:trash``, ``label:trash``) or ``in:anywhere`` searches
    everything; any other query leaves the trash out (each trash label negated beside
    the query, at the top level)."""
    if _names_trash(node):
        return _trash_means_every_trash_label(node)
    if isinstance(node, MatchAll):
        return And(_outside_trash())
    if isinstance(node, And):
        return And((*node.children, *_outside_trash()))
    return And((node, *_outside_trash()))
