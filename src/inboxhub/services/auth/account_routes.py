"""``/api/v1/auth/password*`` and ``/api/v1/auth/totp*``: a local account's own
password and second factor."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response
from pydantic import BaseModel, Field

from inboxhub.services.auth import AuthService
from inboxhub.services.auth.routes import TokenPair, client_ip
from inboxhub.services.gateway.security import Principal, current_principal

log = structlog.get_logger(__name__)
Caller = Annotated[Principal, Depends(current_principal)]
PASSWORD = Field(min_length=1, max_length=1024)


class PasswordChange(BaseModel):
    current_password: str = PASSWORD
    new_password: str = PASSWORD


class ResetRequest(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    tenant: str | None = Field(default=None, description="tenant slug, if the email is in several")


class ResetConfirm(BaseModel):
    token: str = Field(min_length=10, max_length=200, description="from the mailed link")
    new_password: str = PASSWORD


class Accepted(BaseModel):
    detail: str


class TotpStatus(BaseModel):
    enabled: bool
    pending: bool = Field(description="enrolled, waiting for a code to confirm it")


class TotpEnrollment(BaseModel):
    secret: str = Field(description="base32, for authenticators that take it typed in")
    otpauth_uri: str = Field(description="otpauth://totp/… for a QR code")


class TotpCode(BaseModel):
    code: str = Field(min_length=6, max_length=10)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="each works once instead of a code; shown once")


class TotpDisable(BaseModel):
    password: str | None = Field(default=None, max_length=1024)
    code: str | None = Field(default=None, max_length=32, description="a code or recovery code")


def build_account_router(auth: AuthService) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post("/api/v1/auth/password", response_model=TokenPair)
    async def change_password(
        body: PasswordChange, caller: Caller, request: Request
    ) -> dict[str, object]:
        """Change the password. Every other session of the account ends; this one
        continues with the tokens returned."""
        return await auth.change_password(
            caller.tenant_id,
            caller.user_id,
            body.current_password,
            body.new_password,
            client_ip(request),
        )

    @router.post("/api/v1/auth/password/reset", status_code=202, response_model=Accepted)
    async def request_reset(
        body: ResetRequest, request: Request, background: BackgroundTasks
    ) -> Accepted:
        """Mail a reset link if the address has an account; the answer is the same
        either way, and comes before any mail is sent."""

        async def send() -> None:
            try:
                await auth.request_reset(body.email, body.tenant, client_ip(request))
            except Exception:  # after the response: log, never raise into the server
                log.exception("auth.reset_request_failed")

        background.add_task(send)
        return Accepted(detail="if the address has an account, a reset link is on its way")

    @router.post("/api/v1/auth/password/reset/confirm", status_code=204, response_class=Response)
    async def confirm_reset(body: ResetConfirm, request: Request) -> Response:
        """Set the new password with the mailed token (once); every session ends."""
        await auth.confirm_reset(body.token, body.new_password, client_ip(request))
        return Response(status_code=204)

    @router.get("/api/v1/auth/totp", response_model=TotpStatus)
    async def totp_status(caller: Caller) -> TotpStatus:
        user = await auth.user(caller.tenant_id, caller.user_id)
        return TotpStatus(
            enabled=await auth.totp.enabled(user), pending=await auth.totp.pending(user)
        )

    @router.post("/api/v1/auth/totp", status_code=201, response_model=TotpEnrollment)
    async def totp_enroll(caller: Caller) -> TotpEnrollment:
        """Start enrolling a second factor; it is in force once confirmed with a code."""
        enrollment = await auth.totp.enroll(await auth.user(caller.tenant_id, caller.user_id))
        return TotpEnrollment(secret=enrollment.secret, otpauth_uri=enrollment.otpauth_uri)

    @router.post("/api/v1/auth/totp/confirm", response_model=RecoveryCodes)
    async def totp_confirm(body: TotpCode, caller: Caller, request: Request) -> RecoveryCodes:
        codes = await auth.confirm_totp(
            caller.tenant_id, caller.user_id, body.code, client_ip(request)
        )
        return RecoveryCodes(recovery_codes=codes)

    @router.post("/api/v1/auth/totp/disable", status_code=204, response_class=Response)
    async def totp_disable(body: TotpDisable, caller: Caller, request: Request) -> Response:
        """Turn the second factor off, proving it is you with the password or a code."""
        await auth.disable_totp(
            caller.tenant_id, caller.user_id, body.password, body.code, client_ip(request)
        )
        return Response(status_code=204)

    return router
