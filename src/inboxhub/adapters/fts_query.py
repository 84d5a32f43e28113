"""The query AST → SQLite FTS5 (used by ``search_fts.py``).

Every user word becomes an FTS5 string literal (double quotes, inner quotes doubled),
so nothing typed in the search box can inject FTS5 syntax such as NEAR, column
filters or bare operators. FTS5's NOT is binary (``a NOT b``), so a negation can be
compiled only beside something positive; a query that is nothing but negations (or
negations under OR) is compiled instead into SQL over ``docs`` with one MATCH
sub-query per word (``compile_where``).
"""

from __future__ import annotations

from inboxhub.domain.search_query import And, MatchAll, Node, Not, Or, Phrase, Term

COLUMNS = {
    "subject": "subject",
    "from": "from_text",
    "to": "to_text",
    "body": "body",
    "attachment": "attachment_names",
}
EVERYTHING = ""  # compiles to "no text constraint"


def _leaf(node: Term | Phrase) -> str:
    if not any(ch.isalnum() for ch in node.text):
        return EVERYTHING  # punctuation only: the tokenizer would see no word
    literal = '"' + node.text.replace('"', '""') + '"'
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
    if isinstance(node, Not):
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


def compile_where(node: Node) -> tuple[str, list[object]]:
    """The same query as an SQL condition on ``docs d`` (no ranking, any shape)."""
    if isinstance(node, MatchAll):
        return "1", []
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
