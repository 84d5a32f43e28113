"""IMAP4rev1 wire format, without I/O: tokenising responses, FETCH items, response
codes, sequence sets, INTERNALDATE, mailbox names (modified UTF-7) and SASL strings.

A response arrives (see ``imap_conn``) as its text pieces interleaved with the
literals they announced: ``[text0, literal0, text1, literal1, text2]``, the
``{n}`` markers already cut off. Tokens are: ``str`` for atoms (numbers, flags,
``BODY[]``), ``bytes`` for quoted strings and literals, ``None`` for NIL, and lists
for parenthesised lists (RFC 3501 §4, §9).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeAlias

from inboxhub.domain.models import Flags

Token: TypeAlias = str | bytes | list["Token"] | None


class ImapParseError(ValueError):
    """The server sent something this parser cannot read."""


# One token at a time: "(", ")", a quoted string, or an atom (which may carry a
# bracketed section and a partial, as in ``BODY[HEADER.FIELDS (FROM)]<0>``).
_TOKEN = re.compile(
    rb' *(?:(?P<open>\()|(?P<close>\))|"(?P<quoted>(?:[^"\\]|\\.)*)"'
    rb"|(?P<atom>[^ ()\"\[\]]+(?:\[[^\]]*\])?(?:<[^>]*>)?))"
)
_UNESCAPE = re.compile(rb"\\(.)")
_LITERAL_END = re.compile(rb"~?\{(\d+)\+?\}$")


def literal_size(line: bytes) -> tuple[bytes, int] | None:
    """(text before the marker, size) when ``line`` (without CRLF) ends in ``{n}``."""
    if not line.endswith(b"}"):
        return None
    m = _LITERAL_END.search(line)
    if m is None:
        return None
    return line[: m.start()], int(m.group(1))


def tokenize(parts: Sequence[bytes]) -> list[Token]:
    """The tokens of one response (``parts`` as described in the module docstring)."""
    root: list[Token] = []
    stack = [root]
    for index, piece in enumerate(parts):
        if index % 2:
            stack[-1].append(bytes(piece))  # a literal
            continue
        pos, end = 0, len(piece)
        while pos < end:
            m = _TOKEN.match(piece, pos)
            if m is None:
                if piece[pos:].strip():
                    raise ImapParseError(f"cannot parse {piece[pos : pos + 60]!r}")
                break
            pos = m.end()
            kind = m.lastgroup
            if kind == "open":
                inner: list[Token] = []
                stack[-1].append(inner)
                stack.append(inner)
            elif kind == "close":
                if len(stack) == 1:
                    raise ImapParseError("unbalanced ')'")
                stack.pop()
            elif kind == "quoted":
                text = m.group("quoted")
                stack[-1].append(_UNESCAPE.sub(rb"\1", text) if b"\\" in text else text)
            else:
                atom = m.group("atom")
                stack[-1].append(None if atom in (b"NIL", b"nil") else atom.decode("latin-1"))
    if len(stack) != 1:
        raise ImapParseError("unbalanced '('")
    return root


def as_text(token: Token) -> str:
    """An atom, quoted string or literal as text (UTF-8, errors replaced)."""
    if isinstance(token, str):
        return token
    if isinstance(token, bytes):
        return token.decode("utf-8", "replace")
    raise ImapParseError(f"expected a string, got {token!r}")


# -- untagged responses ---------------------------------------------------------------


def fetch_items(tokens: Sequence[Token]) -> dict[str, Token]:
    """The items of ``<n> FETCH (name value …)`` (tokens after the ``*``), by upper-case
    name; ``BODY[]`` keeps its section text, e.g. ``BODY[]``."""
    if len(tokens) < 3 or not isinstance(tokens[2], list):
        raise ImapParseError(f"not a FETCH response: {tokens!r}")
    raw = tokens[2]
    items: dict[str, Token] = {}
    for i in range(0, len(raw) - 1, 2):
        name = raw[i]
        if not isinstance(name, str):
            raise ImapParseError(f"bad FETCH item name {name!r}")
        items[name.upper()] = raw[i + 1]
    return items


_UID = re.compile(rb"[( ]UID (\d+)")
_FLAGS = re.compile(rb"[( ]FLAGS \(([^()]*)\)")
_DATE = re.compile(rb'[( ]INTERNALDATE "([^"]*)"')
_SIZE = re.compile(rb"[( ]RFC822\.SIZE (\d+)")


def quick_fetch_items(parts: Sequence[bytes]) -> dict[str, Token] | None:
    """``fetch_items`` for the shape our own FETCH commands get back — ``UID``,
    ``FLAGS``, ``INTERNALDATE``, ``RFC822.SIZE``, ``MODSEQ`` and at most one literal,
    ``BODY[]``, last — read with a few regexes instead of the tokenizer (a first sync
    parses thousands of these a second). None when the response has another shape:
    then use ``fetch_items``."""
    head = parts[0]
    if len(parts) == 1:
        if not head.endswith(b")"):
            return None
        body: Token = None
    elif len(parts) == 3 and parts[2] == b")" and head.endswith(b" BODY[] "):
        body = parts[1]
    else:
        return None
    uid = _UID.search(head)
    if uid is None:
        return None
    items: dict[str, Token] = {"UID": uid.group(1).decode()}
    date = _DATE.search(head)
    if head.count(b'"') != (2 if date else 0):
        return None  # another quoted string could hide "UID 1": not our shape
    if date is not None:
        items["INTERNALDATE"] = date.group(1)
    flags = _FLAGS.search(head)
    if flags is not None:
        flag_list: list[Token] = [*flags.group(1).decode("latin-1").split()]
        items["FLAGS"] = flag_list
    size = _SIZE.search(head)
    if size is not None:
        items["RFC822.SIZE"] = size.group(1).decode()
    if len(parts) == 3:
        items["BODY[]"] = body
    return items


_CODE = re.compile(rb"^\[([^\] ]+)(?: ([^\]]*))?\]")


def response_code(text: bytes) -> tuple[str, str] | None:
    """The ``[CODE args]`` at the start of a status response's text, if any."""
    m = _CODE.match(text)
    if m is None:
        return None
    return m.group(1).decode("latin-1").upper(), (m.group(2) or b"").decode("latin-1")


def flags_of(tokens: Token) -> Flags:
    names = {t.lower() for t in tokens if isinstance(t, str)} if isinstance(tokens, list) else set()
    return Flags(seen="\\seen" in names, flagged="\\flagged" in names)


def flags_code(flags: Flags) -> str:
    """A short, stable text for a flags snapshot ("-", "S", "F" or "SF")."""
    return ("S" if flags.seen else "") + ("F" if flags.flagged else "") or "-"


def flags_from_code(code: str) -> Flags:
    return Flags(seen="S" in code, flagged="F" in code)


# -- sequence sets --------------------------------------------------------------------


def uid_set(uids: Iterable[int]) -> str:
    """``1:3,7,9:10`` for [1, 2, 3, 7, 9, 10] (any order, duplicates ignored)."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("an empty UID set")
    out: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        out.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    out.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(out)


def parse_uid_set(text: str) -> list[tuple[int, int]]:
    """Inclusive ranges of a sequence set such as ``1:3,7`` (no ``*``)."""
    ranges: list[tuple[int, int]] = []
    for part in text.split(","):
        if not part:
            continue
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        ranges.append((min(a, b), max(a, b)))
    return ranges


def in_ranges(uid: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(lo <= uid <= hi for lo, hi in ranges)


# -- dates ----------------------------------------------------------------------------

_ZONES: dict[str, timezone] = {}
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def parse_internaldate(value: Token) -> datetime:
    """``"17-Jul-1996 02:44:25 -0700"`` (the day may be space-padded) → aware UTC."""
    text = as_text(value).strip()
    try:
        date, clock, zone = text.split()
        day, month, year = date.split("-")
        hh, mm, ss = clock.split(":")
        tz = _ZONES.get(zone)
        if tz is None:
            sign = -1 if zone[0] == "-" else 1
            tz = timezone(timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign)
            if len(_ZONES) < 200:
                _ZONES[zone] = tz
        local = datetime(
            int(year),
            _MONTHS[month.lower()],
            int(day),
            int(hh),
            int(mm),
            int(ss),
            tzinfo=tz,
        )
    except (ValueError, KeyError, IndexError) as exc:
        raise ImapParseError(f"bad INTERNALDATE {text!r}") from exc
    return local.astimezone(UTC)


# -- mailbox names --------------------------------------------------------------------


def encode_mailbox(name: str) -> str:
    """Modified UTF-7 (RFC 3501 §5.1.3): ``Entwürfe`` → ``Entw&APw-rfe``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode_mailbox(name: str) -> str:
    """The inverse of ``encode_mailbox``; text that is not valid mUTF-7 is kept."""
    if "&" not in name:
        return name
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        end = name.find("-", i) if ch == "&" else -1
        if ch != "&" or end < 0:
            out.append(ch)
            i += 1
            continue
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                out.append(name[i : end + 1])
        i = end + 1
    return "".join(out)


def quote(text: str) -> bytes:
    """A quoted string; refuses what a quoted string cannot carry (CR, LF, NUL)."""
    if any(c in text for c in "\r\n\0"):
        raise ValueError("CR, LF and NUL cannot be sent in an IMAP quoted string")
    data = text.encode("utf-8")
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def mailbox_arg(name: str) -> bytes:
    return quote(encode_mailbox(name))


# -- SASL ------------------------------------------------------------------------------


def sasl_plain(user: str, password: str) -> bytes:
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())


def sasl_xoauth2(user: str, token: str) -> bytes:
    """Google's and Microsoft's XOAUTH2 initial response, base64-encoded."""
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


def sasl_oauthbearer(user: str, token: str, host: str, port: int) -> bytes:
    """RFC 7628 OAUTHBEARER initial response, base64-encoded."""
    gs2 = "n,a=" + user.replace("=", "=3D").replace(",", "=2C") + ","
    return base64.b64encode(
        f"{gs2}\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01".encode()
    )


# -- LIST -------------------------------------------------------------------------------

SPECIAL_USE_BY_NAME = {
    "sent": "\\sent",
    "sent items": "\\sent",
    "sent mail": "\\sent",
    "sent messages": "\\sent",
    "drafts": "\\drafts",
    "trash": "\\trash",
    "deleted items": "\\trash",
    "deleted messages": "\\trash",
    "junk": "\\junk",
    "spam": "\\junk",
    "junk e-mail": "\\junk",
    "archive": "\\archive",
    "all mail": "\\all",
    "starred": "\\flagged",
    "flagged": "\\flagged",
}


def parse_list(tokens: Sequence[Token]) -> tuple[set[str], str | None, str]:
    """``LIST (attrs) "delim" name`` (tokens after ``*``) → (lower-case attributes,
    delimiter, decoded name)."""
    if len(tokens) < 4 or not isinstance(tokens[1], list):
        raise ImapParseError(f"bad LIST response {tokens!r}")
    attrs = {a.lower() for a in tokens[1] if isinstance(a, str)}
    delim = None if tokens[2] is None else as_text(tokens[2])
    return attrs, delim, decode_mailbox(as_text(tokens[3]))
