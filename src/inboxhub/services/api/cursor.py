"""Opaque list cursors: the last item's (sort_date, id) in a ``domain.tokens`` token."""

from __future__ import annotations

from datetime import datetime

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.tokens import BAD_CURSOR, decode_token, encode_token
from inboxhub.ports import ListCursor


def encode(cursor: ListCursor) -> str:
    return encode_token({"d": cursor.sort_date.isoformat(), "i": cursor.id})


def decode(token: str) -> ListCursor:
    data = decode_token(token)
    try:
        return ListCursor(datetime.fromisoformat(data["d"]), str(data["i"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(BAD_CURSOR) from exc
