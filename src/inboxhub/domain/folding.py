"""How search folds letters, the same on every backend: ``Søren`` is found by
``soren``, ``Straße`` by ``strasse``, ``Łódź`` by ``lodz``, ``ﬁle`` by ``file``.

SQLite's ``unicode61 remove_diacritics 2`` tokenizer strips accents that Unicode
decomposes (é, ü, ñ) but not letters with a stroke or ligatures (ø, ł, đ, ß, æ, œ,
þ); Elasticsearch's ``asciifolding`` (Lucene's ASCIIFoldingFilter) folds those too.
So the folding is one table here, ``FOLD``, what asciifolding does to letters and
digits: the FTS5 adapter folds text by it in Python before its tokenizer sees it, and
the Elasticsearch analyzer adds to asciifolding, as a ``mapping`` char filter, the
part of the table asciifolding lacks (``char_filter_mappings``: final sigma, Greek
symbol forms, the micro sign, the Ångström sign). A letter always folds to letters (or a digit to
digits), so folding never moves a word boundary; the FTS5 adapter relies on that to
highlight matches in the original text.

Known gap: noida-db (the Elasticsearch emulator of the tests) folds less than Lucene
(not most of U+1E00–U+1E9B, such as "Ḍ"); on it those letters differ between the
backends. The char filter could carry the whole table, but the emulator runs every
rule over every stored text at each search, which makes it unusably slow.
"""

from __future__ import annotations

import hashlib
import unicodedata

# Letters Unicode does not decompose, as Lucene's ASCIIFoldingFilter folds them, and
# Greek symbol forms as FTS5 folds them (but Elasticsearch's lowercase does not).
NOT_DECOMPOSED = {
    "ß": "ss",
    "ẞ": "SS",
    "Æ": "AE",
    "æ": "ae",
    "Ø": "O",
    "ø": "o",
    "Ł": "L",
    "ł": "l",
    "Œ": "OE",
    "œ": "oe",
    "Ð": "D",
    "ð": "d",
    "Þ": "TH",
    "þ": "th",
    "Đ": "D",
    "đ": "d",
    "Ħ": "H",
    "ħ": "h",
    "ı": "i",
    "ĸ": "q",
    "Ŀ": "L",
    "ŀ": "l",
    "Ŋ": "N",
    "ŋ": "n",
    "Ŧ": "T",
    "ŧ": "t",
    "ƀ": "b",
    "Ɓ": "B",
    "ɓ": "b",
    "Ƃ": "B",
    "ƃ": "b",
    "Ƈ": "C",
    "ƈ": "c",
    "Ɗ": "D",
    "ƒ": "f",
    "Ǥ": "G",
    "ǥ": "g",
    "ȼ": "c",
    "Ȼ": "C",
    "ɇ": "e",
    "Ɇ": "E",
    "ς": "σ",
    "µ": "μ",  # the micro sign
    "ϐ": "β",
    "ϑ": "θ",
    "ϕ": "φ",
    "ϖ": "π",
    "ϰ": "κ",
    "ϱ": "ρ",
    "ϵ": "ε",
    "\u212b": "A",  # the Ångström sign, which FTS5 folds as Å
}
# Blocks scanned for letters and digits that decompose to plain ones: Latin-1 and
# Latin Extended A/B, phonetic extensions, superscripts and subscripts, Latin
# Extended Additional and C/D, enclosed alphanumerics, ligatures, full-width forms.
BLOCKS = (
    (0x00AA, 0x0250),
    (0x1D2C, 0x1D6B),
    (0x1E00, 0x1F00),
    (0x2070, 0x20A0),
    (0x2460, 0x24EA),
    (0x2C60, 0x2C80),
    (0xA720, 0xA800),
    (0xFB00, 0xFB07),
    (0xFF10, 0xFF5B),
)


def _plain(ch: str) -> str | None:
    """What ``ch`` folds to, or None to leave it."""
    if ch in NOT_DECOMPOSED:
        return NOT_DECOMPOSED[ch]
    if unicodedata.category(ch)[0] not in "LN":
        return None
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    base = "".join(NOT_DECOMPOSED.get(c, c) for c in base)
    if not base or base == ch or not (base.isascii() and base.isalnum()):
        return None
    return base


def _table() -> dict[str, str]:
    table = {}
    for start, end in BLOCKS:
        for code in range(start, end):
            if (plain := _plain(chr(code))) is not None:
                table[chr(code)] = plain
    table.update(NOT_DECOMPOSED)
    return dict(sorted(table.items()))


FOLD = _table()
_TRANSLATE = str.maketrans(FOLD)
# Changes whenever the table does (another Python's Unicode data, an edit above): an
# index built with another table must be rebuilt (search_fts does so when it opens).
FOLD_VERSION = hashlib.sha256(repr(sorted(FOLD.items())).encode()).hexdigest()[:16]


def normalise(text: str) -> str:
    """``text`` in NFC, so that ``e`` + combining acute is ``é`` (what search sees)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """``text`` with every letter of ``FOLD`` replaced (case kept: the index lowers it)."""
    return text if text.isascii() else normalise(text).translate(_TRANSLATE)


# Blocks whose letters Lucene's ASCIIFoldingFilter folds (its documentation's list):
# Latin-1 Supplement to IPA Extensions, Phonetic Extensions (and Supplement), General
# Punctuation, Superscripts and Subscripts, Enclosed Alphanumerics, Dingbats, Latin
# Extended Additional, C and D, Supplemental Punctuation, Alphabetic Presentation
# Forms, Halfwidth and Fullwidth Forms.
ASCIIFOLDING_BLOCKS = (
    (0x0080, 0x02B0),
    (0x1D00, 0x1DC0),
    (0x1E00, 0x1F00),
    (0x2000, 0x20A0),
    (0x2460, 0x2500),
    (0x2700, 0x27C0),
    (0x2C60, 0x2C80),
    (0x2E00, 0x2E80),
    (0xA720, 0xA800),
    (0xFB00, 0xFB50),
    (0xFF00, 0xFFF0),
)


def _asciifolding_folds(ch: str, plain: str) -> bool:
    code = ord(ch)
    return plain.isascii() and any(start <= code < end for start, end in ASCIIFOLDING_BLOCKS)


def char_filter_mappings() -> list[str]:
    """The rules of an Elasticsearch ``mapping`` char filter that, before
    ``asciifolding``, makes it fold as ``FOLD`` does: the entries it would not do."""
    return [f"{ch} => {plain}" for ch, plain in FOLD.items() if not _asciifolding_folds(ch, plain)]
