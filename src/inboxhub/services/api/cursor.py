"""Opaque list cursors: base64url JSON of the last item's (sort_date, id)."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from inboxhub.domain.errors import InvalidInput
from inboxhub.ports import ListCursor


def encode(cursor: ListCursor) -> str:
    raw = json.dumps({"d": cursor.sort_date.isoformat(), "i": cursor.id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> ListCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return ListCursor(datetime.fromisoformat(data["d"]), str(data["i"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("cursor is not one this API returned") from exc
