"""Header field values for mail we send: checked before they reach a header, so that a
user's text can never add a header of its own (header injection), and addresses that
a receiving server would refuse are caught at the door, each named.

Addresses are validated by email-validator (RFC 5321/5322 syntax, IDNA 2008 domains)
with its DNS deliverability checks off: sending must not wait on DNS, and the
provider reports an unknown domain soon enough. Domains are kept in their ASCII
(punycode) form, the form every header and SMTP envelope can carry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

import idna
from email_validator import EmailNotValidError, validate_email

from inboxhub.domain.models import Address

# RFC 5322 section 2.2: a field body is printable characters and WSP; CR and LF only
# as folding, which the generator adds itself. Every other C0 control and DEL is out.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_NAME_ADDR = re.compile(rf"^(?P<name>(?:{_QUOTED}|[^<>\"])*?)\s*<(?P<addr>[^<>]*)>$", re.S)
_PHRASE_PIECE = re.compile(rf"({_QUOTED})|([^\"]+)", re.S)
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)
_MSG_ID = re.compile(r"^<?(?P<id>[!-;=?-~]+@[!-;=?-~]+)>?$")  # printable, no <, > or space


class HeaderInjection(ValueError):
    """A header value holds a line break or another control character."""


class BadAddress(ValueError):
    """An address that is not one valid mailbox; the message names the entry."""

    def __init__(self, entry: str, reason: str) -> None:
        super().__init__(f"{entry!r} is not a valid address: {reason}")
        self.entry = entry
        self.reason = reason


def check_header_value(value: str, field: str = "header") -> str:
    """``value`` unchanged, or ``HeaderInjection`` when it holds CR, LF, NUL or any other
    control character but TAB."""
    found = _FORBIDDEN.search(value)
    if found:
        raise HeaderInjection(f"{field} contains a control character ({found.group()!r})")
    return value


def _display_name(entry: str, phrase: str) -> str:
    """The name of ``Name <addr>``: quoted pieces unquoted (RFC 5322 quoted-string),
    bare pieces taken as they are but for ``:`` and ``;``, which mean group syntax."""
    pieces: list[str] = []
    for quoted, bare in _PHRASE_PIECE.findall(phrase):
        if quoted:
            pieces.append(_QUOTED_PAIR.sub(r"\1", quoted[1:-1]))
        elif any(c in bare for c in ":;"):
            raise BadAddress(entry, "group syntax is not accepted; list each address")
        else:
            pieces.append(bare)
    return " ".join("".join(pieces).split())


def parse_address(entry: str) -> Address:
    """One mailbox: ``a@b.example``, ``Name <a@b.example>`` or ``"Doe, Jo" <a@b.example>``.
    Group syntax, lists and anything else raise ``BadAddress`` naming ``entry``."""
    check_header_value(entry, "address")
    text = entry.strip()
    if not text:
        raise BadAddress(entry, "empty")
    name, spec = "", text
    matched = _NAME_ADDR.match(text)
    if matched:
        name, spec = _display_name(entry, matched.group("name")), matched.group("addr").strip()
    elif any(c in text for c in '<>",;: '):
        raise BadAddress(entry, "not one address (one entry per recipient)")
    try:
        valid = validate_email(
            spec,
            check_deliverability=False,
            allow_smtputf8=False,
            strict=True,  # RFC 5321 lengths too (64 before the @)
            # RFC 6761 reserves .test for testing: allowed, it never leaves a test setup.
            test_environment=True,
        )
    except EmailNotValidError as exc:
        raise BadAddress(entry, str(exc)) from None
    return Address(name=name, email=valid.ascii_email or valid.normalized)


def parse_addresses(entries: Iterable[str]) -> list[Address]:
    """Each entry one address (see ``parse_address``); duplicates dropped, first kept."""
    out: list[Address] = []
    for entry in entries:
        address = parse_address(entry)
        if not any(same_mailbox(address, seen) for seen in out):
            out.append(address)
    return out


def same_mailbox(a: Address, b: Address) -> bool:
    """Mailbox comparison as people expect it: case-insensitive."""
    return a.email.casefold() == b.email.casefold()


def without(addresses: Sequence[Address], exclude: Sequence[Address]) -> list[Address]:
    """``addresses`` less those in ``exclude`` and less repeats, order kept."""
    out: list[Address] = []
    for address in addresses:
        if not address.email:
            continue
        if any(same_mailbox(address, other) for other in [*exclude, *out]):
            continue
        out.append(address)
    return out


def ascii_domain(domain: str) -> str:
    """A domain as headers carry it: IDNA 2008 (UTS 46) punycode, lower case."""
    check_header_value(domain, "domain")
    try:
        return idna.encode(domain.strip().rstrip("."), uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise ValueError(f"{domain!r} is not a valid domain: {exc}") from None


def new_message_id(domain: str) -> str:
    """A fresh ``<random@domain>``: globally unique without naming host, process or time
    (RFC 5322 section 3.6.4 asks for uniqueness only)."""
    return f"<{uuid.uuid4().hex}@{ascii_domain(domain)}>"


def message_id(value: str, field: str = "Message-ID") -> str:
    """``value`` as one bracketed msg-id, ``<left@right>``; anything else is refused."""
    check_header_value(value, field)
    matched = _MSG_ID.match(value.strip())
    if not matched:
        raise HeaderInjection(f"{field} is not a message id: {value[:80]!r}")
    return f"<{matched.group('id')}>"


def loose_message_id(value: str | None) -> str | None:
    """A message id read from someone else's mail: bracketed when it is usable, else
    ``None`` (such an id is left out of In-Reply-To/References, never sent broken)."""
    if not value:
        return None
    try:
        return message_id(value)
    except HeaderInjection:
        return None
