"""``/api/v1/webhooks``: a tenant's owners and admins manage its webhooks; auditors
may read them and their delivery log too (what left the tenant, to where), but
change nothing. Members see none of it. docs/notifications.md says how to receive."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, get_args

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from inboxhub.domain.errors import Forbidden
from inboxhub.domain.webhooks import EVENT_TYPES, Delivery, Webhook
from inboxhub.runtime import Container
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.tenants.admin_deps import (
    Paging,
    client_ip,
    next_cursor,
    paging,
    require_tenant_admin,
)
from inboxhub.services.webhooks.admin import WebhookAdmin

# domain.webhooks.EVENT_TYPES, spelled out for the OpenAPI document
EventType = Literal["email.processed", "email.updated", "email.sent", "mailbox.status"]
assert get_args(EventType) == EVENT_TYPES
DISABLED_DOC: dict[int | str, dict[str, Any]] = {
    409: {"description": "the webhook is disabled: enable it first"}
}
URL_RULES: dict[str, Any] = {
    "min_length": 8,
    "max_length": 2000,
    "examples": ["https://hooks.example.com/inboxhub"],
}


async def require_reader(principal: Principal = Depends(current_principal)) -> Principal:
    if not (principal.is_admin or "auditor" in principal.roles):
        raise Forbidden("only the tenant's owners, admins and auditors see its webhooks")
    return principal


class WebhookIn(BaseModel):
    url: str = Field(**URL_RULES)
    event_types: list[EventType] = Field(min_length=1, max_length=10)
    description: str = Field(default="", max_length=500)


class WebhookPatch(BaseModel):
    url: str | None = Field(default=None, **URL_RULES)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=10)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None, description="true enables it again and clears its failure count"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    description: str
    status: str = Field(description="active, or disabled (by an admin or after failures)")
    consecutive_failures: int = Field(description="deliveries failed for good in a row")
    failing_since: datetime | None
    disabled_reason: str | None
    disabled_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="after a rotation, the old secret also signs until then"
    )
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, w: Webhook) -> WebhookOut:
        return cls(
            **{
                k: v
                for k, v in w.__dict__.items()
                if k not in ("tenant_id", "previous_secret_until")
            },
            previous_secret_expires_at=w.previous_secret_until,
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret: shown this once only")


class SecretOut(BaseModel):
    id: str
    secret: str = Field(description="the new signing secret: shown this once only")
    previous_secret_expires_at: datetime | None


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str = Field(description="also the Inboxhub-Delivery header")
    webhook_id: str
    event_id: str
    event_type: str
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    response_excerpt: str | None = Field(description="the start of the receiver's answer")
    duration_ms: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(**{k: v for k, v in d.__dict__.items() if k not in ("tenant_id", "body")})


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="the body sent (its exact bytes are signed)")

    @classmethod
    def of(cls, d: Delivery) -> DeliveryDetail:
        return cls(**DeliveryOut.of(d).model_dump(), payload=json.loads(d.body))


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


def build_router(c: Container) -> APIRouter:
    router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])
    audit = AuditLog(c.bus)
    hooks = WebhookAdmin(c.webhooks, c.settings, audit)

    @router.post("", response_model=WebhookCreated, status_code=201)
    async def create_webhook(
        body: WebhookIn, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> WebhookCreated:
        """Subscribe a URL to event types. The answer holds the signing secret, once."""
        made, secret = await hooks.create(
            admin, body.url, body.event_types, body.description, client_ip(request)
        )
        return WebhookCreated(**WebhookOut.of(made).model_dump(), secret=secret)

    @router.get("", response_model=WebhookList)
    async def list_webhooks(reader: Principal = Depends(require_reader)) -> WebhookList:
        found = await c.webhooks.list(reader.tenant_id)
        return WebhookList(items=[WebhookOut.of(w) for w in found])

    @router.get("/{webhook_id}", response_model=WebhookOut)
    async def get_webhook(
        webhook_id: str, reader: Principal = Depends(require_reader)
    ) -> WebhookOut:
        return WebhookOut.of(await hooks.get(reader.tenant_id, webhook_id))

    @router.patch("/{webhook_id}", response_model=WebhookOut)
    async def update_webhook(
        webhook_id: str,
        body: WebhookPatch,
        request: Request,
        admin: Principal = Depends(require_tenant_admin),
    ) -> WebhookOut:
        changes = body.model_dump(exclude_unset=True)
        return WebhookOut.of(await hooks.update(admin, webhook_id, changes, client_ip(request)))

    @router.delete("/{webhook_id}", status_code=204, response_class=Response)
    async def delete_webhook(
        webhook_id: str, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> Response:
        """The subscription and its delivery log."""
        await hooks.delete(admin, webhook_id, client_ip(request))
        return Response(status_code=204)

    @router.post("/{webhook_id}/secret", response_model=SecretOut)
    async def rotate_webhook_secret(
        webhook_id: str, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> SecretOut:
        """A new signing secret; the old one also signs for webhook_secret_grace_hours."""
        done, secret = await hooks.rotate(admin, webhook_id, client_ip(request))
        return SecretOut(
            id=done.id, secret=secret, previous_secret_expires_at=done.previous_secret_until
        )

    @router.post(
        "/{webhook_id}/test", response_model=DeliveryOut, status_code=202, responses=DISABLED_DOC
    )
    async def test_webhook(
        webhook_id: str, request: Request, admin: Principal = Depends(require_tenant_admin)
    ) -> DeliveryOut:
        """Queue a ``webhook.test`` event to the URL; its delivery says how it went."""
        return DeliveryOut.of(await hooks.test(admin, webhook_id, client_ip(request)))

    async def audited(reader: Principal, request: Request, webhook_id: str, **detail: Any) -> None:
        """An auditor's reading of the log is audited (it shows mail metadata), as
        their reads of mail are; the admins' reads are not."""
        if not reader.is_admin:
            await audit.record(
                reader.tenant_id,
                reader.user_id,
                "webhook.deliveries.read",
                webhook_id,
                client_ip(request),
                **detail,
            )

    @router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
    async def list_deliveries(
        webhook_id: str,
        request: Request,
        state: Literal["pending", "delivered", "failed"] | None = Query(default=None),
        page: Paging = Depends(paging),
        reader: Principal = Depends(require_reader),
    ) -> DeliveryPage:
        """The delivery log, newest first."""
        await hooks.get(reader.tenant_id, webhook_id)
        found = await c.webhooks.deliveries(
            reader.tenant_id, webhook_id, state, page.after, page.limit
        )
        await audited(reader, request, webhook_id, state=state)
        return DeliveryPage(
            items=[DeliveryOut.of(d) for d in found],
            next_cursor=next_cursor([d.id for d in found], page.limit),
        )

    @router.get("/{webhook_id}/deliveries/{delivery_id}", response_model=DeliveryDetail)
    async def get_delivery(
        webhook_id: str,
        delivery_id: str,
        request: Request,
        reader: Principal = Depends(require_reader),
    ) -> DeliveryDetail:
        found = await hooks.delivery(reader.tenant_id, webhook_id, delivery_id)
        await audited(reader, request, webhook_id, delivery_id=delivery_id)
        return DeliveryDetail.of(found)

    @router.post(
        "/{webhook_id}/deliveries/{delivery_id}/replay",
        response_model=DeliveryOut,
        status_code=202,
        responses=DISABLED_DOC,
    )
    async def replay_delivery(
        webhook_id: str,
        delivery_id: str,
        request: Request,
        admin: Principal = Depends(require_tenant_admin),
    ) -> DeliveryOut:
        """Send the delivery's body again (one more attempt, signed anew)."""
        done = await hooks.replay(admin, webhook_id, delivery_id, client_ip(request))
        return DeliveryOut.of(done)

    return router
