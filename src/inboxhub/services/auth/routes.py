"""``/api/v1/auth/*`` and ``/.well-known/jwks.json``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from inboxhub.domain.errors import Unauthorized
from inboxhub.services.auth import AuthService


class LoginRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(default=None, description="tenant slug, if the email is in several")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def build_router(auth: AuthService) -> APIRouter:
    router = APIRouter(tags=["auth"])

    async def audit(
        tenant_id: str, actor: str | None, action: str, request: Request, **detail: Any
    ) -> None:
        if auth.audit is not None:
            await auth.audit.record(tenant_id, actor, action, None, _ip(request), **detail)

    @router.post("/api/v1/auth/login", response_model=TokenPair)
    async def login(body: LoginRequest, request: Request) -> dict[str, object]:
        try:
            user = await auth.authenticate(body.email, body.password, body.tenant)
        except Unauthorized:
            for account, _ in await auth.directory.find_users_by_email(body.email):
                await audit(account.tenant_id, account.id, "auth.login_failed", request)
            raise
        await audit(user.tenant_id, user.id, "auth.login", request)
        return await auth.tokens_for(user)

    @router.post("/api/v1/auth/refresh", response_model=TokenPair)
    async def refresh(body: RefreshRequest) -> dict[str, object]:
        tenant_id, user_id, family = await auth.tokens.rotate_refresh(body.refresh_token)
        user = await auth.directory.get_user(tenant_id, user_id)
        if user is None or user.status != "active":
            await auth.directory.revoke_refresh_family(family)
            raise Unauthorized("the account is gone")
        return await auth.tokens_for(user, family)

    @router.post("/api/v1/auth/logout", status_code=204, response_class=Response)
    async def logout(body: RefreshRequest) -> Response:
        await auth.tokens.revoke(body.refresh_token)
        return Response(status_code=204)

    @router.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return auth.tokens.jwks()

    return router
