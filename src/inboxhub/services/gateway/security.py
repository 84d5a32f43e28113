"""Who is calling: the bearer token, verified locally by every service.

The verifier is whatever the process was wired with (``app.state.verify_token``):
the Auth service's own key set in ``inboxhub run``, a JWKS fetched from the Auth
service elsewhere. No service trusts a header a client could forge.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from inboxhub.domain.errors import Unauthorized
from inboxhub.services.gateway.ratelimit import VERIFIED

bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return bool({"owner", "admin"} & set(self.roles))


async def current_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    # (a dependency, not a call: the OpenAPI document then names the bearer scheme)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required", www_authenticate="Bearer")
    token = credentials.credentials
    verified = getattr(request.state, VERIFIED, None)  # by the rate limiter, if it ran
    claims = verified[1] if verified is not None and verified[0] == token else None
    principal, _ = await principal_for_token(request.app, token, claims)
    request.state.principal = principal  # for the audit of a refusal (audit/refusals.py)
    return principal


async def principal_for_token(app: Any, token: str, claims: Any = None) -> tuple[Principal, Any]:
    """The caller a bearer token names, and its claims: ``token`` verified (unless its
    verified ``claims`` are given), its tenant active, the token not revoked. Also
    for callers that hold a token longer than a request (``/api/v1/ws``), to check
    it again now and then."""
    if claims is None:
        claims = app.state.verify_token(token)
        if inspect.isawaitable(claims):  # a fetched JWKS verifies asynchronously (gateway/jwks.py)
            claims = await claims
    # A suspended tenant's tokens open nothing (services/tenants/gate.py, cached briefly).
    await app.state.require_active_tenant(claims.tenant_id)
    if (check := getattr(app.state, "check_token", None)) is not None:
        await check(claims)  # revoked at logout or with its user (services/auth/revocation.py)
    return Principal(claims.user_id, claims.tenant_id, tuple(claims.roles)), claims
