"""The query AST → SQLite FTS5 (used by ``search_fts.py``).

Every user word becomes an FTS5 string literal (double quotes, inner quotes doubled),
so nothing typed in the search box can inject FTS5 syntax such as NEAR, column
filters or bare operators; it is folded (``domain/folding.py``) as the indexed text
was. FTS5's NOT is binary (``a NOT b``), so a negation can be
compiled only beside something positive; a query that is nothing but negations (or
negations under OR) is compiled instead into SQL over ``docs`` with one MATCH
sub-query per word (``compile_where``). Filters (``has:``, ``is:``, dates, sizes) are
conditions on ``docs`` columns (``label:``, ``list:``, ``deliveredto:`` and exact
addresses on its ``doc_values`` rows); at the top level they are split off
(``split_filters``) so the words beside them are still ranked.
"""

from __future__ import annotations

from datetime import datetime

from inboxhub.adapters.docs_sqlite import sort_key
from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.folding import fold
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
)

COLUMNS = {
    "subject": "subject",
    "from": "from_text",
    "to": "to_text",  # every recipient
    "cc": "cc_text",
    "bcc": "bcc_text",
    "body": "body",
    "attachment": "attachment_names",
}
EVERYTHING = ""  # compiles to "no text constraint"


def _leaf(node: Term | Phrase) -> str:
    if not any(ch.isalnum() for ch in node.text):
        return EVERYTHING  # punctuation only: the tokenizer would see no word
    literal = '"' + fold(node.text).replace('"', '""') + '"'
    if isinstance(node, Term) and node.prefix:
        literal += " *"
    return f"{COLUMNS[node.field]} : {literal}" if node.field else literal


def compile_match(node: Node) -> str | None:
    """An FTS5 MATCH expression; EVERYTHING if it constrains nothing; None if FTS5 alone
    cannot express it (see the module docstring)."""
    if isinstance(node, MatchAll):
        return EVERYTHING
    if isinstance(node, Term | Phrase):
        return _leaf(node)
    if isinstance(node, Not | Filter):
        return None
    if isinstance(node, Or):
        options = [compile_match(c) for c in node.children]
        if any(o is None for o in options):
            return None
        if any(o == EVERYTHING for o in options):
            return EVERYTHING
        return "(" + " OR ".join(o for o in options if o) + ")"
    positives, negatives = [], []
    for child in node.children:
        if isinstance(child, Not):
            inner = compile_match(child.child)
            if inner is None:
                return None
            if inner == EVERYTHING:  # NOT everything: nothing matches
                return '"\x01"'
            negatives.append(inner)
        else:
            compiled = compile_match(child)
            if compiled is None:
                return None
            if compiled:
                positives.append(compiled)
    if not positives:
        return None if negatives else EVERYTHING
    return "(" + " AND ".join(positives) + ")" + "".join(f" NOT {n}" for n in negatives)


FILTER_SQL = {
    "has_attachment": "d.has_attachments = ?",
    "seen": "d.seen = ?",
    "flagged": "d.flagged = ?",
    "before": "d.sort_key < ?",
    "after": "d.sort_key >= ?",
    "larger": "d.size > ?",
    "smaller": "d.size < ?",
    "mailbox": "d.mailbox_id = ?",
    "message_id": "d.message_id = ?",
    # one key per row of doc_values (search_fts), held as search_query.index_values
    **{
        kind: f"d.rowid IN (SELECT doc FROM doc_values WHERE kind = '{kind}' AND value = ?)"
        for kind in ("label", "list", "delivered_to", *ADDRESS_FILTERS)
    },
}


def _filter(node: Filter) -> tuple[str, list[object]]:
    if node.name not in FILTER_SQL:  # "in" must have been resolved to "mailbox" first
        raise InvalidInput(f"search filter {node.name!r} cannot be compiled here")
    value = sort_key(node.value) if isinstance(node.value, datetime) else node.value
    return FILTER_SQL[node.name], [value]


def _is_filter(node: Node) -> bool:
    return isinstance(node, Filter) or (isinstance(node, Not) and isinstance(node.child, Filter))


def split_filters(node: Node) -> tuple[Node, list[Node]]:
    """The filters (and negated filters, such as the trash left out of a search:
    ``domain.labels.scope_trash``) that constrain the whole query (top level), apart
    from its text, so the text can still be ranked by FTS5 while they go to SQL."""
    if _is_filter(node):
        return MatchAll(), [node]
    if isinstance(node, And):
        filters = [c for c in node.children if _is_filter(c)]
        rest = [c for c in node.children if not _is_filter(c)]
        if not rest:
            return MatchAll(), filters
        return (rest[0] if len(rest) == 1 else And(tuple(rest))), filters
    return node, []


def compile_where(node: Node) -> tuple[str, list[object]]:
    """The same query as an SQL condition on ``docs d`` (no ranking, any shape)."""
    if isinstance(node, MatchAll):
        return "1", []
    if isinstance(node, Filter):
        return _filter(node)
    if isinstance(node, Term | Phrase):
        leaf = _leaf(node)
        if not leaf:
            return "1", []
        return "d.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)", [leaf]
    if isinstance(node, Not):
        inner, args = compile_where(node.child)
        return f"NOT ({inner})", args
    joiner = " AND " if isinstance(node, And) else " OR "
    parts = [compile_where(c) for c in node.children]
    return "(" + joiner.join(p for p, _ in parts) + ")", [a for _, args in parts for a in args]
