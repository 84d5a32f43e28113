"""Who is calling: the bearer token, verified locally by every service.

The verifier is whatever the process was wired with (``app.state.verify_token``):
the Auth service's own key set in ``inboxhub run``, a JWKS fetched from the Auth
service elsewhere. No service trusts a header a client could forge.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from inboxhub.domain.errors import Unauthorized

bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return bool({"owner", "admin"} & set(self.roles))


async def current_principal(request: Request) -> Principal:
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required", www_authenticate="Bearer")
    claims = request.app.state.verify_token(credentials.credentials)
    return Principal(claims.user_id, claims.tenant_id, tuple(claims.roles))
