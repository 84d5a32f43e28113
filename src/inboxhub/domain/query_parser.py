"""The search box's language → the query AST of ``search_query.py``.

A tokenizer and a recursive-descent parser with Gmail's grammar::

    query    := conj
    conj     := disj { ["AND"] disj }       AND between neighbours, said or not
    disj     := unary { "OR" unary }         OR binds tighter: a b OR c = a AND (b OR c)
    unary    := "-" unary | primary
    primary  := "(" conj ")" | "{" unary* "}" | OPERATOR ":" value | PHRASE | WORD
    value    := PHRASE | WORD | "(" conj ")" | "{" unary* "}"

``{a b}`` means ``a OR b`` (Gmail). ``OR`` and ``AND`` are operators only in upper
case. An ``word:value`` whose operator is not known is plain text, as in Gmail.
Text fields: ``from: to: cc: bcc: subject: body: filename:`` (``to:`` is any
recipient, as in Gmail); a whole address in an address field is exact (see
``search_query``). Besides the text fields, ``has: is: in: before: after:
older_than: newer_than: older: newer: larger: smaller: size: rfc822msgid: label:
list: deliveredto:`` become ``Filter`` nodes with Gmail's meaning (``in:`` names a
mailbox or a label; the API resolves it with ``search_query.resolve_mailboxes``):

* ``before:`` / ``after:`` (``older:`` / ``newer:``) — a day, ``2024/01/31``,
  ``2024-01-31`` or ``01/31/2024``, in UTC (``before`` excludes it, ``after``
  includes it), or seconds since 1970 (``after:1704067200``).
* ``older_than:`` / ``newer_than:`` — an age before the query's ``now``: ``7d``,
  ``2m`` (months of 30 days), ``1y`` (365 days).
* ``larger:`` (``size:``) / ``smaller:`` — bytes of the raw message; ``K`` and ``M``
  are 1,024 and 1,048,576.

* ``label:NAME`` — the provider's folder (IMAP, Graph, EWS) or Gmail label of that
  whole name, case-insensitive, ``-``, ``_`` and spaces alike (``label:my-label``
  finds "My Label").
* ``list:VALUE`` — mail from a mailing list: the ``List-Id`` header's id
  (``dev.lists.example.org``), also given as an address (``dev@lists.example.org``) or
  as a domain it ends in (``list:lists.example.org``: every list under it).
* ``deliveredto:ADDRESS`` — an address of a ``Delivered-To`` (or ``X-Original-To``)
  header, whole, case-insensitive.

Errors say where (0-based character offset) the query stopped making sense.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inboxhub.domain.errors import InvalidQuery
from inboxhub.domain.search_query import (
    ADDRESS_FIELDS,
    And,
    Filter,
    MatchAll,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    address_key,
    exact_address_key,
    is_address,
    label_key,
    list_key,
)

FIELDS = {
    "from": "from",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "subject": "subject",
    "body": "body",
    "filename": "attachment",
}
FILTERS = {
    "has",
    "is",
    "in",
    "before",
    "after",
    "older_than",
    "newer_than",
    "older",
    "newer",
    "larger",
    "size",
    "smaller",
    "rfc822msgid",
    "label",
    "list",
    "deliveredto",
}
# Operators naming a value the index holds as a key: the Filter's name, and the key.
KEYED_FILTERS = {
    "label": ("label", label_key),
    "list": ("list", list_key),
    "deliveredto": ("delivered_to", address_key),
}
MAX_QUERY = 2000
_SPECIAL = set('(){}"')


@dataclass(frozen=True)
class Token:
    kind: str  # WORD, PHRASE, OP (operator name), LPAREN, RPAREN, LBRACE, RBRACE, MINUS, OR, AND
    text: str
    pos: int


def _phrase(q: str, start: int) -> tuple[Token, int]:
    end = q.find('"', start + 1)
    if end == -1:
        raise InvalidQuery("unclosed quotation mark", position=start)
    return Token("PHRASE", q[start + 1 : end], start), end + 1


def tokenize(q: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "(){}":
            kind = {"(": "LPAREN", ")": "RPAREN", "{": "LBRACE", "}": "RBRACE"}[c]
            tokens.append(Token(kind, c, i))
            i += 1
        elif c == '"':
            token, i = _phrase(q, i)
            tokens.append(token)
        elif c == "-" and (i + 1 < n and not q[i + 1].isspace()):
            tokens.append(Token("MINUS", c, i))
            i += 1
        else:
            j = i
            while j < n and not q[j].isspace() and q[j] not in _SPECIAL:
                j += 1
            word = q[i:j]
            name, colon, rest = word.partition(":")
            if colon and (name.lower() in FIELDS or name.lower() in FILTERS):
                tokens.append(Token("OP", name.lower(), i))
                if rest:
                    tokens.append(Token("WORD", rest, i + len(name) + 1))
            elif word in ("OR", "AND"):
                tokens.append(Token(word, word, i))
            elif word:
                tokens.append(Token("WORD", word, i))
            else:  # a lone special character
                raise InvalidQuery(f"unexpected {q[i]!r}", position=i)
            i = max(j, i + 1)
    return tokens


class _Parser:
    def __init__(self, q: str, tokens: list[Token], now: datetime) -> None:
        self.q, self.tokens, self.i, self.now = q, tokens, 0, now

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def end(self) -> int:
        return len(self.q)

    def conj(self, closer: str | None = None) -> Node:
        parts: list[Node] = []
        while (t := self.peek()) is not None and t.kind != closer:
            if t.kind in ("RPAREN", "RBRACE"):
                raise InvalidQuery(f"unbalanced {t.text!r}", position=t.pos)
            if t.kind == "AND":
                self.take()
                if not parts or self._ends_operand():
                    raise InvalidQuery("AND needs something on both sides", position=t.pos)
                continue
            parts.append(self.disj())
        return _and(parts)

    def _ends_operand(self) -> bool:
        """Whether nothing that could be an operand comes next."""
        t = self.peek()
        return t is None or t.kind in ("RPAREN", "RBRACE", "OR", "AND")

    def disj(self) -> Node:
        options = [self.unary()]
        while (t := self.peek()) is not None and t.kind == "OR":
            self.take()
            if self._ends_operand():
                raise InvalidQuery("OR needs something on both sides", position=t.pos)
            options.append(self.unary())
        return options[0] if len(options) == 1 else Or(tuple(options))

    def unary(self) -> Node:
        t = self.peek()
        if t is None:
            raise InvalidQuery("query ends too early", position=self.end())
        if t.kind == "MINUS":
            self.take()
            if self.peek() is None:
                raise InvalidQuery("'-' must be followed by a term", position=t.pos)
            return Not(self.unary())
        return self.primary()

    def group(self, opener: Token, closer: str) -> list[Node]:
        nodes: list[Node] = []
        if closer == "RPAREN":
            nodes.append(self.conj(closer))
        while (t := self.peek()) is not None and t.kind != closer:
            nodes.append(self.unary())
        if self.peek() is None:
            raise InvalidQuery(f"unclosed {opener.text!r}", position=opener.pos)
        self.take()
        return nodes

    def primary(self) -> Node:
        t = self.take()
        if t.kind == "LPAREN":
            return _and(self.group(t, "RPAREN"))
        if t.kind == "LBRACE":
            return _any(self.group(t, "RBRACE"))
        if t.kind == "OP":
            return self.operator(t)
        if t.kind == "PHRASE":
            return Phrase(t.text) if t.text.strip() else MatchAll()
        if t.kind == "WORD":
            return _word(t.text, None)
        raise InvalidQuery(f"unexpected {t.text!r}", position=t.pos)

    def operator(self, op: Token) -> Node:
        value = self.peek()
        if value is None or value.pos > op.pos + len(op.text) + 1:
            raise InvalidQuery(f"{op.text}: needs a value", position=op.pos)
        self.take()
        if op.text in FILTERS:
            if value.kind not in ("WORD", "PHRASE"):
                raise InvalidQuery(f"{op.text}: needs a value", position=op.pos)
            return filter_node(op.text, value.text.strip(), value.pos, self.now)
        field = FIELDS[op.text]
        if value.kind == "PHRASE":
            return _with_field(Phrase(value.text), field)
        if value.kind == "WORD":
            return _word(value.text, field)
        if value.kind == "LPAREN":
            return _with_field(_and(self.group(value, "RPAREN")), field)
        if value.kind == "LBRACE":  # from:{alice bob}: either of them
            return _with_field(_any(self.group(value, "RBRACE")), field)
        raise InvalidQuery(f"{op.text}: needs a value", position=op.pos)


IS_VALUES = {
    "unread": ("seen", False),
    "read": ("seen", True),
    "starred": ("flagged", True),
}
_DATE = re.compile(r"^(\d{4})[/-](\d{1,2})[/-](\d{1,2})$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_EPOCH = re.compile(r"^\d{9,11}$")
_AGE = re.compile(r"^(\d{1,5})([dmy])$", re.I)
_SIZE = re.compile(r"^(\d{1,12})([km]?)b?$", re.I)
AGE_DAYS = {"d": 1, "m": 30, "y": 365}
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024}


SYNONYMS = {"older": "before", "newer": "after", "size": "larger"}


def _day(value: str) -> datetime | None:
    """``2024/01/31``, ``2024-1-31`` or ``01/31/2024`` as midnight UTC, or seconds since
    1970 as that moment; None if it is none of these (or no such day)."""
    if _EPOCH.match(value):
        return datetime.fromtimestamp(int(value), UTC)
    if m := _DATE.match(value):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    elif m := _US_DATE.match(value):
        month, day, year = int(m[1]), int(m[2]), int(m[3])
    else:
        return None
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None


def filter_node(op: str, value: str, pos: int, now: datetime) -> Filter:
    """Gmail's meaning of ``op:value``; InvalidQuery (at the value) if it has none."""
    op = SYNONYMS.get(op, op)
    low = value.lower()
    if op == "in":
        return Filter("in", value)
    if op == "rfc822msgid":
        return Filter("message_id", value.strip("<>"))
    if op in KEYED_FILTERS:
        name, key = KEYED_FILTERS[op]
        if not (normalised := key(value)):
            raise InvalidQuery(f"{op}: needs a value, not {value!r}", position=pos)
        return Filter(name, normalised)
    if op == "has":
        if low in ("attachment", "attachments"):
            return Filter("has_attachment", True)
        raise InvalidQuery(f"has: knows only 'attachment', not {value!r}", position=pos)
    if op == "is":
        if low in IS_VALUES:
            return Filter(*IS_VALUES[low])
        raise InvalidQuery(f"is: knows {', '.join(IS_VALUES)}, not {value!r}", position=pos)
    if op in ("before", "after"):
        if (day := _day(value)) is None:
            raise InvalidQuery(f"{op}: wants a date like 2024/01/31, not {value!r}", position=pos)
        return Filter(op, day)
    if op in ("older_than", "newer_than"):
        m = _AGE.match(value)
        if not m:
            raise InvalidQuery(f"{op}: wants an age like 7d, 2m or 1y, not {value!r}", position=pos)
        when = now - timedelta(days=int(m[1]) * AGE_DAYS[m[2].lower()])
        return Filter("before" if op == "older_than" else "after", when)
    m = _SIZE.match(value)
    if not m:
        raise InvalidQuery(f"{op}: wants a size like 5M or 100K, not {value!r}", position=pos)
    return Filter(op, int(m[1]) * SIZE_UNITS[m[2].lower()])


def _word(text: str, field: str | None) -> Node:
    if text.endswith("*") and len(text) > 1:
        return Term(text.rstrip("*"), field, prefix=True)
    return _exact_address(Term(text, field))


def _exact_address(node: Term | Phrase) -> Node:
    """A whole address in an address field: that exact address (search_query)."""
    if node.field in ADDRESS_FIELDS and is_address(node.text.strip()):
        return Filter(f"{node.field}_address", exact_address_key(node.text))
    return node


def _with_field(node: Node, field: str) -> Node:
    if isinstance(node, Term):
        term = Term(node.text, field, node.prefix)
        return term if node.prefix else _exact_address(term)
    if isinstance(node, Phrase):
        return _exact_address(Phrase(node.text, field))
    if isinstance(node, Not):
        return Not(_with_field(node.child, field))
    if isinstance(node, And):
        return And(tuple(_with_field(c, field) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(_with_field(c, field) for c in node.children))
    return node


def _any(options: list[Node]) -> Node:
    """Disjunction; nothing to choose from is the empty query (``{}``)."""
    return MatchAll() if not options else options[0] if len(options) == 1 else Or(tuple(options))


def _and(parts: list[Node]) -> Node:
    """Conjunction without the empty query, nested conjunctions flattened."""
    parts = [c for p in parts for c in (p.children if isinstance(p, And) else (p,))]
    parts = [p for p in parts if not isinstance(p, MatchAll)]
    if not parts:
        return MatchAll()
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def parse_query(q: str, now: datetime | None = None) -> Node:
    """``now`` anchors ``older_than:`` and ``newer_than:`` (default: the current time)."""
    if len(q) > MAX_QUERY:
        raise InvalidQuery(f"query longer than {MAX_QUERY} characters", position=MAX_QUERY)
    parser = _Parser(q, tokenize(q), now or datetime.now(UTC))
    node = parser.conj()
    if (t := parser.peek()) is not None:
        raise InvalidQuery(f"unbalanced {t.text!r}", position=t.pos)
    return node
