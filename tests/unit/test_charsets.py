"""Declared charsets as found in the wild: known, aliased, unknown and garbage."""

from __future__ import annotations

import pytest

from inboxhub.mime.charsets import decode_bytes, normalise


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("UTF-8", "utf-8"),
        ('"us-ascii"', "ascii"),
        ("ks_c_5601-1987", "cp949"),
        ("x-unknown", None),
        ("no-such-charset", None),
        ("\x00s-ascii", None),
        ("utf-8\x00", None),
        ("", None),
        (None, None),
    ],
)
def test_declared_charsets_normalise_or_are_dropped(
    declared: str | None, expected: str | None
) -> None:
    assert normalise(declared) == expected


def test_a_garbage_charset_falls_back_to_detection() -> None:
    text, guessed = decode_bytes("grüße".encode(), "\x00s-ascii")
    assert text == "grüße"
    assert guessed == "utf-8"
