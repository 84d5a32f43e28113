"""``/api/v1/tenants``: platform operators create, list, suspend, resume and delete
tenants; a tenant's own admins read and rename theirs (``/tenants/current``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth import AuthService
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.tenants.admin_deps import (
    Email,
    Paging,
    TenantOut,
    UserOut,
    client_ip,
    next_cursor,
    paging,
    require_operator,
    require_tenant_admin,
)
from inboxhub.services.tenants.tenant_admin import TenantAdmin

# A name shows in mail headers (invitations) and pages: no control characters.
TenantName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class TenantCreate(BaseModel):
    name: TenantName
    admin_email: Email
    admin_password: str = Field(min_length=8, max_length=1024)
    slug: str | None = Field(
        default=None, max_length=63, description="derived from the name if left out"
    )


class TenantRename(BaseModel):
    name: TenantName


class TenantCreated(BaseModel):
    tenant: TenantOut
    admin: UserOut


class TenantPage(BaseModel):
    items: list[TenantOut]
    next_cursor: str | None


def build_router(c: Container, auth: AuthService) -> APIRouter:
    router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])
    admin = TenantAdmin(c, auth.hasher, AuditLog(c.bus))

    @router.get("/current", response_model=TenantOut)
    async def current_tenant(principal: Principal = Depends(current_principal)) -> TenantOut:
        return TenantOut.of(await admin.get(principal.tenant_id))

    @router.patch("/current", response_model=TenantOut)
    async def rename_tenant(
        body: TenantRename, request: Request, principal: Principal = Depends(require_tenant_admin)
    ) -> TenantOut:
        return TenantOut.of(await admin.rename(principal, body.name, client_ip(request)))

    @router.post("", response_model=TenantCreated, status_code=201)
    async def create_tenant(
        body: TenantCreate, request: Request, operator: Principal = Depends(require_operator)
    ) -> TenantCreated:
        tenant, first_admin = await admin.create(
            operator,
            body.name,
            body.slug,
            body.admin_email,
            body.admin_password,
            client_ip(request),
        )
        return TenantCreated(tenant=TenantOut.of(tenant), admin=UserOut.of(first_admin))

    @router.get("", response_model=TenantPage)
    async def list_tenants(
        page: Paging = Depends(paging), _: Principal = Depends(require_operator)
    ) -> TenantPage:
        found = await c.tenancy.list_tenants(page.limit, page.after)
        return TenantPage(
            items=[TenantOut.of(t) for t in found],
            next_cursor=next_cursor([t.slug for t in found], page.limit),
        )

    @router.get("/{tenant_id}", response_model=TenantOut)
    async def get_tenant(tenant_id: str, _: Principal = Depends(require_operator)) -> TenantOut:
        return TenantOut.of(await admin.get(tenant_id))

    @router.post("/{tenant_id}/suspend", response_model=TenantOut)
    async def suspend_tenant(
        tenant_id: str, request: Request, operator: Principal = Depends(require_operator)
    ) -> TenantOut:
        """Lock the tenant out: no sign-in, its tokens refused, its mailboxes not synced."""
        return TenantOut.of(
            await admin.set_status(operator, tenant_id, "suspended", client_ip(request))
        )

    @router.post("/{tenant_id}/resume", response_model=TenantOut)
    async def resume_tenant(
        tenant_id: str, request: Request, operator: Principal = Depends(require_operator)
    ) -> TenantOut:
        return TenantOut.of(
            await admin.set_status(operator, tenant_id, "active", client_ip(request))
        )

    @router.delete("/{tenant_id}", status_code=204, response_class=Response)
    async def delete_tenant(
        tenant_id: str, request: Request, operator: Principal = Depends(require_operator)
    ) -> Response:
        """Erase the tenant and everything it holds, everywhere (GDPR erasure)."""
        await admin.delete(operator, tenant_id, client_ip(request))
        return Response(status_code=204)

    return router
