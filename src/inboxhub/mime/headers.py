"""Header values as people meant them: unfolded, encoded words decoded (RFC 2047),
raw 8-bit bytes read as UTF-8 or a legacy charset, addresses and dates parsed
leniently. Every function reports what it had to guess into an ``errors`` list."""

from __future__ import annotations

import binascii
import re
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from inboxhub.domain.models import Address
from inboxhub.mime.charsets import decode_bytes, normalise

_FOLD = re.compile(r"\r?\n[ \t]*|\r[ \t]*")
_ID = re.compile(r"<([^<>\s]+)>")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def header_end(raw: bytes) -> int:
    """Where the header section of ``raw`` ends (the blank line), or its length."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i != -1]
    return min(ends) if ends else len(raw)


def _unsurrogate(value: str, errors: list[str], name: str) -> str:
    """compat32 keeps raw 8-bit header bytes as surrogate escapes: decode them."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        raw = value.encode("ascii", "surrogateescape")
        text, guessed = decode_bytes(raw, None)
        if guessed:
            errors.append(f"header {name}: raw 8-bit bytes, read as {guessed}")
        return text


def decode_value(value: str, errors: list[str], name: str = "") -> str:
    # Every header of every message comes through here: the cheap checks come first.
    if "\n" in value or "\r" in value:
        value = _FOLD.sub(" ", value)
    value = _unsurrogate(value, errors, name)
    if "=?" in value:
        value = _decode_words(value, errors, name)
    if not value.isprintable():  # every control character is unprintable
        value = _CTRL.sub("", value)
    return value.strip()


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)[ \t]+(?==\?)")


def _word_bytes(charset: str, encoding: str, data: str) -> bytes:
    if encoding in "bB":
        return binascii.a2b_base64(data + "=" * (-len(data) % 4))
    # Raw 8-bit bytes inside a Q word (seen in the wild) arrive here already decoded:
    # turn them back into the word's own charset.
    return binascii.a2b_qp(data.encode(normalise(charset) or "utf-8", "replace"), header=True)


def _decode_words(value: str, errors: list[str], name: str) -> str:
    """RFC 2047 encoded words, decoded in place; the text around them is left as it is
    (raw UTF-8 beside an encoded word is common and must survive). Adjacent words of
    one charset are joined before decoding, since senders split multi-byte characters
    across them; whitespace between encoded words is dropped (RFC 2047 section 6.2)."""
    value = _BETWEEN_WORDS.sub("", value)
    out: list[str] = []
    pos = 0
    run: bytearray = bytearray()
    run_charset: str | None = None

    def flush() -> None:
        nonlocal run, run_charset
        if run_charset is not None:
            text, guessed = decode_bytes(bytes(run), run_charset)
            if guessed:
                errors.append(f"header {name}: charset {run_charset!r} unusable, read as {guessed}")
            out.append(text)
        run, run_charset = bytearray(), None

    for m in _ENCODED_WORD.finditer(value):
        charset = m.group(1).split("*")[0]  # RFC 2231 adds *language
        if m.start() != pos or charset.lower() != (run_charset or "").lower():
            flush()
            out.append(value[pos : m.start()])
        try:
            run += _word_bytes(charset, m.group(2), m.group(3))
            run_charset = charset
        except (binascii.Error, ValueError) as exc:
            flush()
            errors.append(f"header {name}: bad encoded word ({exc})")
            out.append(m.group(0))
        pos = m.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def parse_addresses(raw_values: list[str], errors: list[str], name: str) -> list[Address]:
    """Addresses of one header (all its occurrences); names decoded after splitting so
    a comma inside an encoded display name does not split the address."""
    values = [_unsurrogate(_FOLD.sub(" ", v), errors, name) for v in raw_values]
    out: list[Address] = []
    try:
        pairs = getaddresses(values)
    except Exception as exc:
        errors.append(f"header {name}: unparseable addresses ({exc})")
        return out
    for display, email in pairs:
        display = decode_value(display, errors, name) if display else ""
        email = email.strip()
        if not email and not display:
            continue
        if email and "@" not in email and display and "@" in display:
            display, email = "", display
        out.append(Address(name=display.strip('"').strip(), email=email))
    if not out and any(v.strip() for v in values):
        errors.append(f"header {name}: no address could be read from {values[0][:80]!r}")
    return out


def parse_date(value: str | None, errors: list[str]) -> datetime | None:
    if not value:
        return None
    text = _FOLD.sub(" ", value).strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        errors.append(f"header Date: unparseable {text[:80]!r}")
        return None
    if parsed.tzinfo is None:  # RFC 5322 "-0000": the zone is unknown, take UTC
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        errors.append(f"header Date: out of range {text[:80]!r}")
        return None


def message_ids(value: str | None) -> list[str]:
    """Message-ids of a Message-ID/In-Reply-To/References value, without brackets."""
    if not value:
        return []
    text = _FOLD.sub(" ", value)
    found = _ID.findall(text)
    return found or [t.strip("<>") for t in text.split() if t.strip("<>")]
