"""What the administration routers share: who may call them, how lists are paged,
and how a change is announced (``tenant.config.updated``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from inboxhub.domain.errors import Forbidden, InvalidInput
from inboxhub.domain.events import TenantConfigUpdated
from inboxhub.domain.models import Tenant, User
from inboxhub.domain.tokens import BAD_CURSOR, decode_token, encode_token
from inboxhub.ports import EventBus
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.tenants.bootstrap import PLATFORM_ADMIN

TENANT_ROLES = ("owner", "admin", "member", "auditor")
# No spaces, no control characters (C0, C1, and what Python splits lines at): an
# address goes into mail headers (invitations).
_ADDR = r"[^@\s\x00-\x1f\x7f-\x9f\u2028\u2029]+"
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=rf"^{_ADDR}@{_ADDR}\.{_ADDR}$")]


async def require_operator(principal: Principal = Depends(current_principal)) -> Principal:
    if PLATFORM_ADMIN not in principal.roles:
        raise Forbidden("only platform operators manage tenants")
    return principal


async def require_tenant_admin(principal: Principal = Depends(current_principal)) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only the tenant's owners and admins may do this")
    return principal


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


class Paging(BaseModel):
    limit: int
    after: str | None


def paging(
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=2000),
) -> Paging:
    after = None
    if cursor is not None:
        after = decode_token(cursor)
        if not isinstance(after, str):
            raise InvalidInput(BAD_CURSOR)
    return Paging(limit=limit, after=after)


def next_cursor(keys: list[str], limit: int) -> str | None:
    """A cursor after the last key of a full page (a short page is the last one)."""
    return encode_token(keys[-1]) if len(keys) == limit else None


class TenantOut(BaseModel):
    id: str
    slug: str
    name: str
    status: str
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(**tenant.model_dump())


class UserOut(BaseModel):
    id: str
    email: str
    roles: list[str]
    status: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(**user.model_dump(exclude={"tenant_id"}))


async def announce(bus: EventBus, tenant_id: str, what: str, object_id: str) -> None:
    event = TenantConfigUpdated(what=what, object_id=object_id)
    await bus.publish(event.topic, [event.envelope(tenant_id, f"{tenant_id}:{object_id}")])
