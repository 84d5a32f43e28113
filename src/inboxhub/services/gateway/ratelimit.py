"""Rate limits per user, per tenant and, before sign-in, per client address.

Token buckets held in this process (``inboxhub run`` is one process; in the
distributed deployment Traefik limits per client address and per token in front,
and each replica's buckets still bound what one user or tenant costs it). Each
bucket holds a minute's worth of requests and refills continuously, so a client
may burst up to its per-minute limit and then goes at the average rate.

Who is calling comes from the verified bearer token (``app.state.verify_token``,
a signature check), never from a header a client could forge. A request without a
valid token counts against its client address: strictly on the sign-in endpoints
(password guessing), less strictly elsewhere. A streamed response (SSE) is one
request, so a connection counts once however long it stays open.
"""

from __future__ import annotations

import inspect
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from inboxhub.services.gateway.problems import problem
from inboxhub.settings import Settings

log = structlog.get_logger(__name__)
LIMITED = Counter("inboxhub_rate_limited_total", "Requests refused by a rate limit", ["bucket"])

# Probes and scrapes are never limited (Traefik allows /metrics to internal networks only).
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
# Endpoints used before one holds a token: sign-in, refresh, password reset, single
# sign-on, accepting an invitation.
SIGN_IN_PREFIXES = ("/api/v1/auth/", "/api/v1/sso/", "/api/v1/invitations/")
Clock = Callable[[], float]


class TokenBuckets:
    """One bucket per key, ``per_minute`` tokens when full. The least recently used
    keys are forgotten beyond ``max_keys`` (a forgotten bucket comes back full)."""

    def __init__(self, per_minute: int, clock: Clock, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock, self.max_keys = clock, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - stamp) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may make a request (0: now)."""
        if self.rate <= 0:
            return 0.0
        level = self._level(key, self.clock())
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: str) -> None:
        if self.rate <= 0:
            return
        now = self.clock()
        self._buckets[key] = (self._level(key, now) - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


@dataclass(frozen=True)
class Limits:
    user: TokenBuckets
    tenant: TokenBuckets
    anonymous: TokenBuckets
    sign_in: TokenBuckets

    @classmethod
    def from_settings(cls, s: Settings, clock: Clock = time.monotonic) -> Limits:
        return cls(
            TokenBuckets(s.rate_limit_user_per_minute, clock),
            TokenBuckets(s.rate_limit_tenant_per_minute, clock),
            TokenBuckets(s.rate_limit_anonymous_per_minute, clock),
            TokenBuckets(s.rate_limit_sign_in_per_minute, clock),
        )


def _bearer(scope: Scope) -> str | None:
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


VERIFIED = "verified_token"  # request.state: (token, claims) this middleware checked


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def _buckets(self, scope: Scope) -> list[tuple[str, TokenBuckets, str]]:
        token = _bearer(scope)
        if token is not None:
            try:
                claims = scope["app"].state.verify_token(token)
                if inspect.isawaitable(claims):
                    claims = await claims
            except Exception:  # an invalid token: the route answers 401; count the address
                claims = None
            if claims is not None:
                # the route's ``current_principal`` takes it from here: one check a request
                scope.setdefault("state", {})[VERIFIED] = (token, claims)
                return [
                    ("user", self.limits.user, f"{claims.tenant_id}/{claims.user_id}"),
                    ("tenant", self.limits.tenant, claims.tenant_id),
                ]
        client = scope.get("client")
        address = client[0] if client else "unknown"
        if scope["path"].startswith(SIGN_IN_PREFIXES):
            return [("sign_in", self.limits.sign_in, address)]
        return [("anonymous", self.limits.anonymous, address)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        buckets = await self._buckets(scope)
        wait, name = max((b.wait(key), name) for name, b, key in buckets)
        if wait > 0:
            LIMITED.labels(name).inc()
            log.info("gateway.rate_limited", bucket=name, path=scope["path"])
            response = problem(
                429,
                "Too many requests",
                f"the {name} rate limit is exhausted; retry later",
                Request(scope),
                {"retry_after": math.ceil(wait)},
            )
            await response(scope, receive, send)
            return
        for _, b, key in buckets:
            b.take(key)
        await self.app(scope, receive, send)
