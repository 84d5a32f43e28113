"""The tenant's audit trail over HTTP: query (``GET /api/v1/audit``), streamed export
(``GET /api/v1/audit/export``, itself audited) for owners, admins and auditors;
retention and legal hold (``/api/v1/audit/policy``) for owners and admins."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from inboxhub.domain.audit import AuditFilter, AuditPolicy
from inboxhub.domain.errors import Forbidden, InvalidInput
from inboxhub.ports import AuditStore
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal, current_principal

READERS = {"owner", "admin", "auditor"}
ADMINS = {"owner", "admin"}
CSV_COLUMNS = (
    "seq",
    "id",
    "time",
    "actor_id",
    "action",
    "object_id",
    "outcome",
    "request_id",
    "ip",
    "user_agent",
    "detail",
)


class PolicyBody(BaseModel):
    retention_days: int | None = Field(
        default=None, ge=1, le=36500, description="records older than this are purged; null: kept"
    )
    legal_hold: bool = Field(default=False, description="true: nothing is purged")


def _reader(principal: Principal = Depends(current_principal)) -> Principal:
    if not READERS & set(principal.roles):
        raise Forbidden("the audit log is for admins and auditors")
    return principal


def _admin(principal: Principal = Depends(current_principal)) -> Principal:
    if not ADMINS & set(principal.roles):
        raise Forbidden("the audit policy is for owners and admins")
    return principal


def _filter(
    actor: str | None = Query(None, max_length=64, description="actor id"),
    action: str | None = Query(None, max_length=64, description='e.g. "auth.login"'),
    from_: datetime | None = Query(None, alias="from", description="from this time, inclusive"),
    to: datetime | None = Query(None, description="until this time, exclusive"),
) -> AuditFilter:
    for t in (from_, to):
        if t is not None and t.tzinfo is None:
            raise InvalidInput("give times with a UTC offset, e.g. 2026-11-26T08:00:00Z")
    return AuditFilter(actor, action, from_, to)


def _csv_line(item: dict[str, Any]) -> str:
    out = io.StringIO()
    row = {**item, "detail": json.dumps(item["detail"], sort_keys=True)}
    csv.writer(out).writerow([row[c] if row[c] is not None else "" for c in CSV_COLUMNS])
    return out.getvalue()


def build_router(store: AuditStore, audit: AuditLog) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["audit"])

    @router.get("/audit")
    async def query(
        where: AuditFilter = Depends(_filter),
        cursor: int | None = Query(None, ge=1, description="`next_cursor` of the last page"),
        limit: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(_reader),
    ) -> dict[str, Any]:
        """Newest first; follow `next_cursor` for older records."""
        items = await store.query(principal.tenant_id, where, cursor, limit)
        more = len(items) == limit
        return {"items": items, "next_cursor": items[-1]["seq"] if more else None}

    @router.get(
        "/audit/export",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    )
    async def export(
        request: Request,
        format: Literal["csv", "jsonl"] = Query("jsonl"),
        where: AuditFilter = Depends(_filter),
        principal: Principal = Depends(_reader),
    ) -> StreamingResponse:
        """Every matching record, newest first, streamed as CSV or JSON Lines."""
        tenant_id = principal.tenant_id
        await audit.record(
            tenant_id,
            principal.user_id,
            "audit.export",
            None,
            request.client.host if request.client else None,
            format=format,
            actor_filter=where.actor_id,
            action_filter=where.action,
            since=where.since.isoformat() if where.since else None,
            until=where.until.isoformat() if where.until else None,
        )

        async def lines() -> AsyncIterator[str]:
            if format == "csv":
                yield ",".join(CSV_COLUMNS) + "\r\n"
            async for page in store.pages(tenant_id, where):
                for item in page:
                    yield _csv_line(item) if format == "csv" else json.dumps(item) + "\n"

        media = "text/csv" if format == "csv" else "application/x-ndjson"
        name = f"audit.{format}"
        return StreamingResponse(
            lines(),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/audit/policy", response_model=PolicyBody)
    async def get_policy(principal: Principal = Depends(_admin)) -> PolicyBody:
        policy = await store.policy(principal.tenant_id)
        return PolicyBody(retention_days=policy.retention_days, legal_hold=policy.legal_hold)

    @router.put("/audit/policy", response_model=PolicyBody)
    async def put_policy(
        body: PolicyBody, request: Request, principal: Principal = Depends(_admin)
    ) -> PolicyBody:
        await store.set_policy(
            principal.tenant_id, AuditPolicy(body.retention_days, body.legal_hold)
        )
        await audit.record(
            principal.tenant_id,
            principal.user_id,
            "audit.policy_updated",
            None,
            request.client.host if request.client else None,
            **body.model_dump(),
        )
        return body

    return router
