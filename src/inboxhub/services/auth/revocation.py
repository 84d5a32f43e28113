"""Access tokens refused before they expire: one at logout, all of a user's when the
user is deleted or suspended.

Every authenticated request asks (``check``), so the answer per token is cached for
``ttl`` seconds per process: a revocation takes effect at once in the process that
made it and within ``ttl`` seconds (``token_revocation_cache_seconds``) in the others.
The question is one primary-key lookup and one on (tenant, user); rows go when the
tokens they refuse have expired.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from inboxhub.domain.errors import Unauthorized
from inboxhub.ports import AccountStore
from inboxhub.services.auth.tokens import AccessClaims

REVOKED = "the token was revoked: sign in again"
_MAX_CACHED = 50_000

# jti → (answer valid until (monotonic), revoked); (tenant, user) → not-before (epoch s)
_tokens: dict[str, tuple[float, bool]] = {}
_not_before: dict[tuple[str, str], float] = {}


def _remember(jti: str, until: float, revoked: bool) -> None:
    if len(_tokens) >= _MAX_CACHED:
        now = time.monotonic()
        for key in [k for k, (u, _) in _tokens.items() if u <= now]:
            del _tokens[key]
        if len(_tokens) >= _MAX_CACHED:
            _tokens.clear()
    _tokens[jti] = (until, revoked)


class Revocations:
    def __init__(self, store: AccountStore, access_ttl: int, ttl: float = 5.0) -> None:
        self.store, self.access_ttl, self.ttl = store, access_ttl, ttl

    async def is_revoked(self, claims: AccessClaims) -> bool:
        cutoff = _not_before.get((claims.tenant_id, claims.user_id))
        if cutoff is not None and claims.iat < cutoff:
            return True
        now = time.monotonic()
        cached = _tokens.get(claims.jti)
        if cached is not None and cached[0] > now:
            return cached[1]
        issued = datetime.fromtimestamp(claims.iat, UTC)
        revoked = await self.store.token_revoked(
            claims.tenant_id, claims.user_id, claims.jti, issued
        )
        _remember(claims.jti, now + (self.access_ttl if revoked else self.ttl), revoked)
        return revoked

    async def check(self, claims: AccessClaims) -> None:
        """The hook ``current_principal`` calls: ``Unauthorized`` for a revoked token."""
        if await self.is_revoked(claims):
            raise Unauthorized(REVOKED, www_authenticate="Bearer")

    async def revoke_token(self, claims: AccessClaims) -> None:
        expires = datetime.fromtimestamp(claims.exp, UTC)
        await self.store.revoke_access_token(claims.tenant_id, claims.user_id, claims.jti, expires)
        _remember(claims.jti, time.monotonic() + self.access_ttl, True)

    async def revoke_user(self, tenant_id: str, user_id: str, *, this_second: bool = True) -> None:
        """Revoke every refresh token of the user and the access tokens issued so far.

        Token times are whole seconds: with ``this_second`` (deletion, suspension) a
        token issued later in the current second is refused too; without it (password
        change or reset, after which the user signs in again at once) a token issued
        earlier in the current second survives until it expires.
        """
        await self.store.revoke_refresh_tokens(tenant_id, user_id)
        now = int(time.time()) + (1 if this_second else 0)
        not_before = datetime.fromtimestamp(now, UTC)
        until = not_before + timedelta(seconds=self.access_ttl)
        await self.store.set_not_before(tenant_id, user_id, not_before, until)
        key = (tenant_id, user_id)
        _not_before[key] = max(_not_before.get(key, 0.0), float(now))
