"""``/api/v1/users`` and ``/api/v1/invitations``: a tenant's owners and admins manage
its accounts and invite people; anyone reads their own account (``/users/me``); an
invitation is accepted without a bearer token (its own token is the proof)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from inboxhub.domain.models import Invitation, User
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.routes import TokenPair
from inboxhub.services.gateway.problems import declares
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.tenants.admin_deps import (
    Email,
    Paging,
    UserOut,
    client_ip,
    next_cursor,
    paging,
    require_tenant_admin,
)
from inboxhub.services.tenants.invitations import Invitations
from inboxhub.services.tenants.user_admin import UserAdmin

Role = Literal["owner", "admin", "member", "auditor"]


class UserCreate(BaseModel):
    email: Email
    roles: list[Role] = Field(default=["member"], max_length=4)
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=1024,
        description="left out: an invitation is mailed instead (202)",
    )


class UserUpdate(BaseModel):
    roles: list[Role] | None = Field(default=None, max_length=4)
    status: Literal["active", "suspended"] | None = None


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class InvitationCreate(BaseModel):
    email: Email
    roles: list[Role] = Field(default=["member"], max_length=4)


class InvitationOut(BaseModel):
    id: str
    email: str
    roles: list[str]
    status: Literal["pending", "accepted", "expired"]
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationOut:
        status: Literal["pending", "accepted", "expired"] = "pending"
        if invitation.accepted_at is not None:
            status = "accepted"
        elif invitation.expires_at <= datetime.now(UTC):
            status = "expired"
        return cls(**invitation.model_dump(exclude={"tenant_id"}), status=status)


class InvitationList(BaseModel):
    items: list[InvitationOut]


class InvitationAccept(BaseModel):
    token: str = Field(min_length=20, max_length=200)
    password: str = Field(min_length=8, max_length=1024)


def _unique(roles: list[Role]) -> list[str]:
    return list(dict.fromkeys(roles))


def build_router(c: Container, auth: AuthService) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["users"])
    audit = AuditLog(c.bus)
    invitations = Invitations(c, auth, audit)
    users = UserAdmin(c, auth, audit, invitations)

    @router.get("/users", response_model=UserPage)
    async def list_users(
        page: Paging = Depends(paging), admin: Principal = Depends(require_tenant_admin)
    ) -> UserPage:
        found = await c.tenancy.list_users(admin.tenant_id, page.limit, page.after)
        return UserPage(
            items=[UserOut.of(u) for u in found],
            next_cursor=next_cursor([u.email for u in found], page.limit),
        )

    @router.post(
        "/users",
        response_model=UserOut | InvitationOut,
        status_code=201,
        responses={202: {"model": InvitationOut, "description": "no password: invited"}},
    )
    async def create_user(
        body: UserCreate,
        request: Request,
        response: Response,
        admin: Principal = Depends(require_tenant_admin),
    ) -> UserOut | InvitationOut:
        made = await users.create(
            admin, body.email, _unique(body.roles), body.password, client_ip(request)
        )
        if isinstance(made, User):
            return UserOut.of(made)
        response.status_code = 202
        return InvitationOut.of(made)

    @router.get("/users/me", response_model=UserOut)
    async def me(principal: Principal = Depends(current_principal)) -> UserOut:
        return UserOut.of(await users.get(principal.tenant_id, principal.user_id))

    @router.get("/users/{user_id}", response_model=UserOut)
    async def get_user(user_id: str, admin: Principal = Depends(require_tenant_admin)) -> UserOut:
        return UserOut.of(await users.get(admin.tenant_id, user_id))

    @router.patch("/users/{user_id}", response_model=UserOut)
    async def update_user(
        user_id: str,
        body: UserUpdate,
        request: Request,
        admin: Principal = Depends(require_tenant_admin),
    ) -> UserOut:
        roles = _unique(body.roles) if body.roles is not None else None
        user = await users.update(admin, user_id, roles, body.status, client_ip(request))
        return UserOut.of(user)

    @router.delete("/users/{user_id}", status_code=204, response_class=Response)
    async def delete_user(
        user_id: str, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> Response:
        """Delete the account and erase what is theirs (GDPR erasure)."""
        await users.delete(admin, user_id, client_ip(request))
        return Response(status_code=204)

    @router.post("/invitations", response_model=InvitationOut, status_code=201)
    async def invite(
        body: InvitationCreate, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> InvitationOut:
        """Mail a single-use link to ``email``."""
        made = await invitations.invite(admin, body.email, _unique(body.roles), client_ip(request))
        return InvitationOut.of(made)

    @router.get("/invitations", response_model=InvitationList)
    async def list_invitations(admin: Principal = Depends(require_tenant_admin)) -> InvitationList:
        found = await c.tenancy.list_invitations(admin.tenant_id)
        return InvitationList(items=[InvitationOut.of(i) for i in found])

    @router.delete("/invitations/{invitation_id}", status_code=204, response_class=Response)
    async def revoke_invitation(
        invitation_id: str, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> Response:
        await invitations.revoke(admin, invitation_id, client_ip(request))
        return Response(status_code=204)

    @router.post("/invitations/accept", response_model=TokenPair, responses=declares(404))
    async def accept_invitation(body: InvitationAccept, request: Request) -> dict[str, object]:
        """Choose a password for the invited account; signs it in."""
        return await invitations.accept(body.token, body.password, client_ip(request))

    return router
