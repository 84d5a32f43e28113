"""``/api/v1/domains``: a tenant's admins add, list, verify (DNS TXT) and remove the
tenant's email domains; ``/api/v1/tenants/{id}/domains/{domain}/verify`` lets a
platform operator vouch for one."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from inboxhub.domain.models import TenantDomain
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants.admin_deps import client_ip, require_operator, require_tenant_admin
from inboxhub.services.tenants.domain_admin import DomainAdmin, record_name, record_value

DomainName = Path(min_length=3, max_length=253)


class DomainAdd(BaseModel):
    domain: str = Field(min_length=3, max_length=253, examples=["example.com"])


class TxtRecord(BaseModel):
    name: str
    type: str = "TXT"
    value: str


class DomainOut(BaseModel):
    domain: str
    verified: bool
    verified_at: datetime | None
    created_at: datetime
    txt_record: TxtRecord = Field(description="publish this record, then call verify")

    @classmethod
    def of(cls, entry: TenantDomain) -> DomainOut:
        return cls(
            domain=entry.domain,
            verified=entry.verified,
            verified_at=entry.verified_at,
            created_at=entry.created_at,
            txt_record=TxtRecord(name=record_name(entry.domain), value=record_value(entry)),
        )


class DomainList(BaseModel):
    items: list[DomainOut]


def build_router(c: Container) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["domains"])
    domains = DomainAdmin(c, AuditLog(c.bus))

    @router.post("/domains", response_model=DomainOut, status_code=201)
    async def add_domain(
        body: DomainAdd, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> DomainOut:
        return DomainOut.of(await domains.add(admin, body.domain, client_ip(request)))

    @router.get("/domains", response_model=DomainList)
    async def list_domains(admin: Principal = Depends(require_tenant_admin)) -> DomainList:
        return DomainList(
            items=[DomainOut.of(d) for d in await c.tenancy.list_domains(admin.tenant_id)]
        )

    @router.post("/domains/{domain}/verify", response_model=DomainOut)
    async def verify_domain(
        request: Request,
        domain: str = DomainName,
        admin: Principal = Depends(require_tenant_admin),
    ) -> DomainOut:
        """Look the TXT record up; 422 saying what was found if it is not there yet."""
        return DomainOut.of(await domains.verify(admin, domain, client_ip(request)))

    @router.delete("/domains/{domain}", status_code=204, response_class=Response)
    async def delete_domain(
        request: Request,
        domain: str = DomainName,
        admin: Principal = Depends(require_tenant_admin),
    ) -> Response:
        await domains.delete(admin, domain, client_ip(request))
        return Response(status_code=204)

    @router.post("/tenants/{tenant_id}/domains/{domain}/verify", response_model=DomainOut)
    async def vouch_for_domain(
        tenant_id: str,
        request: Request,
        domain: str = DomainName,
        operator: Principal = Depends(require_operator),
    ) -> DomainOut:
        """A platform operator marks the tenant's domain verified without DNS."""
        return DomainOut.of(
            await domains.verify_for(operator, tenant_id, domain, client_ip(request))
        )

    return router
