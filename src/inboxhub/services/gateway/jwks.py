"""The Auth service's signing keys, fetched over HTTP, for services run apart.

``inboxhub serve <svc>`` with ``auth_jwks_url`` set verifies access tokens
against the JWKS the Auth service publishes instead of reading the keys itself.
The key set is cached; it is fetched again when it is older than
``auth_jwks_max_age_seconds`` or when a token names a key it lacks (a rotation
happened), but never more often than every ``auth_jwks_min_refresh_seconds``, so a
flood of tokens with made-up key ids cannot hammer the Auth service. One fetch at
a time: concurrent requests wait for it. A failed fetch keeps the keys it had.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import jwt
import structlog

from inboxhub.domain.errors import Unavailable
from inboxhub.services.auth.tokens import ALGORITHM, AccessClaims, JwksVerifier
from inboxhub.services.gateway import request_ids
from inboxhub.settings import Settings

log = structlog.get_logger(__name__)


class RemoteJwks:
    def __init__(
        self,
        url: str,
        issuer: str,
        audience: str,
        *,
        max_age: float = 300.0,
        min_interval: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.max_age, self.min_interval, self.clock = url, max_age, min_interval, clock
        self.verifier = JwksVerifier({}, issuer, audience)
        self.fetches = 0  # attempts, for tests and logs
        self._client = client or httpx.AsyncClient(timeout=5.0)
        self._attempted_at: float | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, s: Settings) -> RemoteJwks:
        return cls(
            s.auth_jwks_url,
            s.jwt_issuer,
            s.jwt_audience,
            max_age=s.auth_jwks_max_age_seconds,
            min_interval=s.auth_jwks_min_refresh_seconds,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def verify(self, token: str) -> AccessClaims:
        kid = _key_id(token)
        if kid is None:  # not an EdDSA token naming its key: refused, nothing to fetch
            return self.verifier.verify_access(token)
        now = self.clock()
        stale = self._loaded_at is None or now - self._loaded_at > self.max_age
        if stale or kid not in self.verifier.public_keys:
            await self.refresh()
        if self._loaded_at is None:
            raise Unavailable("the signing keys of the auth service cannot be fetched")
        return self.verifier.verify_access(token)

    async def refresh(self) -> None:
        """Fetch the key set, unless a fetch was attempted less than
        ``min_interval`` ago (then the keys stay as they are)."""
        async with self._lock:
            now = self.clock()
            if self._attempted_at is not None and now - self._attempted_at < self.min_interval:
                return
            self._attempted_at = now
            self.fetches += 1
            try:
                response = await self._client.get(self.url, headers=request_ids.outgoing_headers())
                response.raise_for_status()
                verifier = JwksVerifier.from_jwks(
                    response.json(), self.verifier.issuer, self.verifier.audience
                )
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("jwks.fetch_failed", url=self.url, error=repr(exc))
                return
            if not verifier.public_keys:
                log.warning("jwks.no_usable_keys", url=self.url)
                return
            self.verifier, self._loaded_at = verifier, self.clock()
            log.info("jwks.loaded", url=self.url, kids=sorted(verifier.public_keys))


def _key_id(token: str) -> str | None:
    """The ``kid`` of an EdDSA token's header; None for anything else (which the
    verifier refuses without any fetch)."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str) or len(kid) > 200:
        return None
    return kid
