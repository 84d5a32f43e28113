"""``GET /api/v1/audit``: the tenant's audit trail, for admins and auditors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from inboxhub.domain.errors import Forbidden
from inboxhub.ports import Directory
from inboxhub.services.gateway.security import Principal, current_principal

READERS = {"owner", "admin", "auditor"}


def build_router(directory: Directory) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["audit"])

    @router.get("/audit")
    async def audit(
        limit: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(current_principal),
    ) -> dict[str, Any]:
        if not READERS & set(principal.roles):
            raise Forbidden("the audit log is for admins and auditors")
        return {"items": await directory.list_audit(principal.tenant_id, limit)}

    return router
