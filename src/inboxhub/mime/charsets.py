"""Bytes → text when the declared charset is missing, wrong or unknown."""

from __future__ import annotations

import codecs

from charset_normalizer import from_bytes

# Names seen in the wild that Python does not know, or knows under another name.
ALIASES = {
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "x-mac-roman": "mac_roman",
    "iso-2022-jp": "iso2022_jp_ext",
    "ansi_x3.4-1968": "ascii",
    "us-ascii": "ascii",
    "utf8": "utf-8",
    "latin1": "iso-8859-1",
    "cp-850": "cp850",
}


def normalise(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = ALIASES.get(name, name)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL inside the name
        return None


def guess(data: bytes) -> str:
    """The likeliest charset of undeclared 8-bit text: UTF-8 if valid, else detected."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:20_000]).best()
    return best.encoding if best is not None else "windows-1252"


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Decode ``data``; returns (text, guessed charset or None if the declared one was used).

    A declared charset that Python knows is trusted (with replacement characters for
    bad bytes) except that declared ASCII holding 8-bit bytes is read as UTF-8/detected.
    """
    name = normalise(declared)
    if name == "ascii" and not data.isascii():
        name = None
    if name is not None:
        try:
            return data.decode(name), None
        except UnicodeDecodeError:
            if name != "utf-8":
                return data.decode(name, "replace"), None
        except LookupError:
            pass
    if data.isascii():
        return data.decode("ascii"), None
    guessed = guess(data)
    return data.decode(guessed, "replace"), guessed
