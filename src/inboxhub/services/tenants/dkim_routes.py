"""``/api/v1/domains/{domain}/dkim-keys``: a tenant's admins generate or upload the
DKIM keys of the tenant's domains, get the TXT record to publish, activate a key once
it is published, and delete keys. No response ever holds a private key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from inboxhub.domain.models import DkimKeyInfo
from inboxhub.mime.dkim_sign import dns_record_name
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal
from inboxhub.services.tenants.admin_deps import client_ip, require_tenant_admin
from inboxhub.services.tenants.dkim_admin import DkimAdmin
from inboxhub.services.tenants.domain_routes import TxtRecord

SELECTOR_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
DomainName = Path(min_length=3, max_length=253)
Selector = Path(min_length=1, max_length=63, pattern=SELECTOR_PATTERN)
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the domain has a key with that selector already"}
}
DNS_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"description": "the DNS lookup failed; try again later"}
}


class DkimKeyCreate(BaseModel):
    selector: str = Field(
        min_length=1, max_length=63, pattern=SELECTOR_PATTERN, examples=["mail2026"]
    )
    private_key_pem: str | None = Field(
        default=None,
        max_length=16_000,
        description=(
            "an unencrypted PEM private key to upload (RSA of 1024 to 4096 bits, or "
            "Ed25519); leave it out to have an RSA 2048 key generated"
        ),
        json_schema_extra={"writeOnly": True},
    )


class DkimKeyOut(BaseModel):
    domain: str
    selector: str
    algorithm: str = Field(description="rsa (rsa-sha256) or ed25519 (ed25519-sha256)")
    active: bool = Field(description="whether this key signs the domain's mail")
    activated_at: datetime | None
    created_at: datetime
    dns_record: TxtRecord = Field(description="publish this record, then call activate")

    @classmethod
    def of(cls, key: DkimKeyInfo) -> DkimKeyOut:
        return cls(
            domain=key.domain,
            selector=key.selector,
            algorithm=key.algorithm,
            active=key.active,
            activated_at=key.activated_at,
            created_at=key.created_at,
            dns_record=TxtRecord(
                name=dns_record_name(key.selector, key.domain), value=key.dns_value
            ),
        )


class DkimKeyList(BaseModel):
    items: list[DkimKeyOut]


def build_router(c: Container) -> APIRouter:
    router = APIRouter(prefix="/api/v1/domains/{domain}/dkim-keys", tags=["domains"])
    keys = DkimAdmin(c, AuditLog(c.bus))

    @router.get("", response_model=DkimKeyList)
    async def list_dkim_keys(
        domain: str = DomainName, admin: Principal = Depends(require_tenant_admin)
    ) -> DkimKeyList:
        name = await keys.domain(admin.tenant_id, domain)
        return DkimKeyList(
            items=[DkimKeyOut.of(k) for k in await c.dkim.list(admin.tenant_id, name)]
        )

    @router.post("", response_model=DkimKeyOut, status_code=201, responses=CONFLICT)
    async def create_dkim_key(
        body: DkimKeyCreate,
        request: Request,
        domain: str = DomainName,
        admin: Principal = Depends(require_tenant_admin),
    ) -> DkimKeyOut:
        """Generate (no ``private_key_pem``) or upload a key; it signs once activated."""
        key = await keys.create(
            admin, domain, body.selector, body.private_key_pem, client_ip(request)
        )
        return DkimKeyOut.of(key)

    @router.get("/{selector}", response_model=DkimKeyOut)
    async def get_dkim_key(
        domain: str = DomainName,
        selector: str = Selector,
        admin: Principal = Depends(require_tenant_admin),
    ) -> DkimKeyOut:
        return DkimKeyOut.of(await keys.get(admin.tenant_id, domain, selector))

    @router.post("/{selector}/activate", response_model=DkimKeyOut, responses=DNS_DOWN)
    async def activate_dkim_key(
        request: Request,
        domain: str = DomainName,
        selector: str = Selector,
        admin: Principal = Depends(require_tenant_admin),
    ) -> DkimKeyOut:
        """Check the published TXT record (422 saying what was found if it is not
        there yet), then sign the domain's mail with this key instead of any other."""
        return DkimKeyOut.of(await keys.activate(admin, domain, selector, client_ip(request)))

    @router.delete("/{selector}", status_code=204, response_class=Response)
    async def delete_dkim_key(
        request: Request,
        domain: str = DomainName,
        selector: str = Selector,
        admin: Principal = Depends(require_tenant_admin),
    ) -> Response:
        await keys.delete(admin, domain, selector, client_ip(request))
        return Response(status_code=204)

    return router
