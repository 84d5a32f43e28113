"""``/api/v1/auth/*`` sign-in and tokens, and ``/.well-known/jwks.json``.

The account's own settings (password, second factor) are in ``account_routes.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from inboxhub.domain.errors import Unauthorized
from inboxhub.services.auth import AuthService
from inboxhub.services.gateway.problems import declares
from inboxhub.services.gateway.security import bearer
from inboxhub.services.tenants.gate import tenant_active

MFA_DOC: dict[int | str, dict[str, Any]] = {
    401: {
        "description": "Wrong credentials; or, with `mfa_required: true`, the password was "
        "right and the account has a second factor: send `mfa_ticket` and a code to "
        "/api/v1/auth/login/totp"
    },
    429: {"description": "Locked out after repeated failures; see Retry-After"},
}


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(default=None, description="tenant slug, if the email is in several")


class TotpLoginRequest(BaseModel):
    ticket: str = Field(min_length=10, max_length=2000, description="`mfa_ticket` of the 401")
    code: str = Field(
        min_length=6, max_length=32, description="the authenticator's code, or a recovery code"
    )


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, min_length=10, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_router(auth: AuthService) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post("/api/v1/auth/login", response_model=TokenPair, responses=MFA_DOC)
    async def login(body: LoginRequest, request: Request) -> dict[str, object]:
        return await auth.login(body.email, body.password, body.tenant, client_ip(request))

    @router.post("/api/v1/auth/login/totp", response_model=TokenPair, responses=declares(401))
    async def login_totp(body: TotpLoginRequest, request: Request) -> dict[str, object]:
        """The second step of a sign-in with a second factor."""
        return await auth.login_totp(body.ticket, body.code, client_ip(request))

    @router.post("/api/v1/auth/refresh", response_model=TokenPair, responses=declares(401))
    async def refresh(body: RefreshRequest) -> dict[str, object]:
        tenant_id, user_id, family = await auth.tokens.rotate_refresh(body.refresh_token)
        user = await auth.directory.get_user(tenant_id, user_id)
        active = user is not None and user.status == "active"
        if user is None or not active or not await tenant_active(auth.directory, tenant_id):
            await auth.directory.revoke_refresh_family(family)
            raise Unauthorized("the account is gone")
        return await auth.tokens_for(user, family)

    @router.post("/api/v1/auth/logout", status_code=204, response_class=Response)
    async def logout(body: LogoutRequest, request: Request) -> Response:
        """End the session: the refresh token's family, and the access token presented
        as bearer (if any) until it expires."""
        credentials = await bearer(request)
        access = credentials.credentials if credentials is not None else None
        await auth.logout(body.refresh_token, access, client_ip(request))
        return Response(status_code=204)

    @router.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return auth.tokens.jwks()

    return router
