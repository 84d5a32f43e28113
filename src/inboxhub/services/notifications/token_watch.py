"""A token held for a whole stream, checked again now and then: its expiry ends the
stream (the client reconnects with a fresh token), and so do a revocation or a
suspended tenant, noticed within ``RECHECK_SECONDS``."""

from __future__ import annotations

import time
from typing import Any

from inboxhub.domain.errors import Unauthorized
from inboxhub.services.gateway.security import Principal, principal_for_token

RECHECK_SECONDS = 30.0


class TokenWatch:
    def __init__(self, app: Any, token: str, claims: Any) -> None:
        self.app, self.token, self.claims = app, token, claims
        self.checked = time.monotonic()

    @classmethod
    async def verify(cls, app: Any, token: str) -> tuple[Principal, TokenWatch]:
        """``Unauthorized`` unless the token opens a stream now."""
        principal, claims = await principal_for_token(app, token)
        return principal, cls(app, token, claims)

    def seconds_left(self) -> float:
        return max(0.0, float(self.claims.exp) - time.time())

    async def still_good(self) -> bool:
        if self.seconds_left() <= 0:
            return False
        if time.monotonic() - self.checked < RECHECK_SECONDS:
            return True
        try:
            await principal_for_token(self.app, self.token, self.claims)
        except Unauthorized:
            return False
        self.checked = time.monotonic()
        return True
