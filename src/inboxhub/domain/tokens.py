"""Opaque cursor tokens, as every paged endpoint hands them out: base64url JSON
without padding. What is inside is the issuer's business; a token that does not
decode is the caller's mistake (``InvalidInput``)."""

from __future__ import annotations

import base64
import json
from typing import Any

from inboxhub.domain.errors import InvalidInput

BAD_CURSOR = "cursor is not one this API returned"


def encode_token(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decode_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise InvalidInput(BAD_CURSOR) from exc
