from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.ports import ListCursor
from inboxhub.services.api import cursor


def test_cursor_round_trips() -> None:
    c = ListCursor(datetime(2024, 2, 3, 4, 5, 6, 789, tzinfo=UTC), "abc")
    assert cursor.decode(cursor.encode(c)) == c


@pytest.mark.parametrize("token", ["", "!!!", "e30", "bm90IGpzb24"])
def test_foreign_cursor_is_invalid_input(token: str) -> None:
    with pytest.raises(InvalidInput):
        cursor.decode(token)
