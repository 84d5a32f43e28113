"""The letter folding both search backends share (domain/folding.py)."""

from __future__ import annotations

import unicodedata

import pytest

from inboxhub.domain.folding import FOLD, char_filter_mappings, fold, normalise


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Søren Łódź", "Soren Lodz"),
        ("Straße ẞ", "Strasse SS"),
        ("Ærø œuvre", "AEro oeuvre"),
        ("Guðmundsdóttir Þór", "Gudmundsdottir THor"),
        ("İstanbul Yılmaz", "Istanbul Yilmaz"),
        ("ﬁle m² ①", "file m2 1"),
        ("ＡＢＣ", "ABC"),
        ("Nguyễn", "Nguyen"),
        ("e\u0301cole", "ecole"),  # decomposed: composed first
        ("Отчёт 会議", "Отчёт 会議"),  # other scripts as they are
        ("plain ascii", "plain ascii"),
    ],
)
def test_letters_fold_to_plain_ones(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_folding_never_moves_a_word_boundary() -> None:
    # letters and digits become letters and digits: the FTS5 adapter highlights the
    # original text by word positions of the folded one
    for ch, plain in FOLD.items():
        assert unicodedata.category(ch)[0] in "LN", ch
        assert plain and all(unicodedata.category(c)[0] in "LN" for c in plain), ch


def test_normalise_composes() -> None:
    assert normalise("Re\u0301union") == "Réunion"


def test_the_char_filter_adds_what_asciifolding_lacks() -> None:
    rules = char_filter_mappings()
    assert {"ς => σ", "µ => μ"} <= set(rules)  # FTS5 folds them, asciifolding does not
    assert "ø => o" not in rules and "Ḍ => D" not in rules  # asciifolding does
    assert all(r.split(" => ")[0] in FOLD for r in rules)
