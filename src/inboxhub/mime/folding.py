"""How the header fields of mail we send are written out: ``SEND_POLICY``, the
standard library's ``policy.SMTP`` (CRLF, lines folded at 78) with three of its
header classes replaced, each because the stock one writes something readers get
wrong (CPython 3.11–3.13):

* Subject and address lists with non-ASCII text: the stock folder splits such text
  into several encoded words at its spaces and leaves each space *between* two
  words, where RFC 2047 section 6.2 tells readers to drop it — "Привіт світ" reads
  back as "Привітсвіт", in the standard library's own parser too. Here non-ASCII
  text is encoded whole, spaces inside the words (base64, split only between
  characters), and the words folded between one another.
* In-Reply-To and References: the stock folder turns a message id longer than a line
  into an encoded word, which no reader matches to anything. Here they fold between
  ids only.
"""

from __future__ import annotations

import base64
from email import policy
from email.headerregistry import (
    BaseHeader,
    HeaderRegistry,
    UniqueAddressHeader,
    UnstructuredHeader,
)
from email.policy import Policy

MAX_WORD_BYTES = 39  # text bytes per encoded word: 64 characters, whatever line it starts
_ATEXT = frozenset("!#$%&'*+-/=?^_`{|}~ ") | frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)


def encoded_words(text: str) -> list[str]:
    """``text`` as RFC 2047 base64 encoded words, none splitting a character."""
    chunks: list[bytes] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        if chunk and len(chunk) + len(data) > MAX_WORD_BYTES:
            chunks.append(chunk)
            chunk = b""
        chunk += data
    if chunk:
        chunks.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(c).decode()}?=" for c in chunks]


def fold_tokens(name: str, tokens: list[str], policy: Policy) -> str:
    """``Name: tok tok …``, a line broken before a token that would pass the limit."""
    limit = policy.max_line_length or 998
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > limit and " " in line:
            lines.append(line)
            line = ""
        line = f"{line} {token}"
    return policy.linesep.join([*lines, line]) + policy.linesep


def phrase(name: str) -> list[str]:
    """A display name as tokens: atoms, a quoted string, or encoded words."""
    if not name:
        return []
    if not name.isascii() or "=?" in name:  # the latter would be decoded as one
        return encoded_words(name)
    if set(name) <= _ATEXT:
        return name.split()
    return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']


class _TextHeader(UnstructuredHeader, BaseHeader):
    def fold(self, *, policy: Policy) -> str:
        text = str(self)
        if text.isascii():
            return super().fold(policy=policy)
        return fold_tokens(self.name, encoded_words(text), policy)


# typeshed types the mixin apart from BaseHeader, which the registry joins it to anyway
class _AddressListHeader(UniqueAddressHeader, BaseHeader):  # type: ignore[misc]
    def fold(self, *, policy: Policy) -> str:
        tokens: list[str] = []
        addresses = self.addresses
        for n, address in enumerate(addresses):
            spec = address.addr_spec
            words = phrase(address.display_name)
            comma = "," if n < len(addresses) - 1 else ""
            tokens += [*words, (f"<{spec}>" if words else spec) + comma]
        return fold_tokens(self.name, tokens, policy)


class _MessageIdListHeader(UnstructuredHeader, BaseHeader):
    def fold(self, *, policy: Policy) -> str:
        return fold_tokens(self.name, str(self).split(), policy)


_REGISTRY = HeaderRegistry()
_REGISTRY.map_to_type("subject", _TextHeader)
for _name in ("from", "to", "cc", "bcc", "reply-to"):
    _REGISTRY.map_to_type(_name, _AddressListHeader)
_REGISTRY.map_to_type("in-reply-to", _MessageIdListHeader)
_REGISTRY.map_to_type("references", _MessageIdListHeader)
SEND_POLICY = policy.SMTP.clone(header_factory=_REGISTRY)
