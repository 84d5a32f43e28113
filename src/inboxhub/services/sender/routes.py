"""The sending API: ``/api/v1/messages`` (compose, reply, reply-all, forward, drafts,
scheduled send, the caller's outbox) and ``/api/v1/uploads`` (files to attach).

A message submitted for sending is answered 202 with its status URL: the outbox
worker sends it (``worker.py``), and ``GET /api/v1/messages/{id}`` follows it from
``queued`` to ``sent`` or ``failed``. A draft saved is 201; a request replayed with
its ``Idempotency-Key`` is 200 with the message it made the first time.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.outgoing import MessageCreate, MessagePatch, State
from inboxhub.runtime import Container
from inboxhub.services.api.access import MailAccess
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.gateway.problems import declares
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.sender.compose import Composer
from inboxhub.services.sender.outbox import Outbox
from inboxhub.services.sender.quotas import Quotas
from inboxhub.services.sender.schemas import MessagePage, MessageView, UploadView
from inboxhub.services.sender.uploads import UPLOAD_BODY, Uploads

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the message is in a state that does not allow this"}
}
IDEMPOTENCY = Header(
    default=None,
    alias="Idempotency-Key",
    max_length=255,
    description="the same key and request again returns the first message (200)",
)


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _cursor(value: str) -> tuple[datetime, str]:
    try:
        at, last = json.loads(base64.urlsafe_b64decode(value.encode()))
        return datetime.fromisoformat(at), str(last)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("the cursor is not one this API gave", field="cursor") from exc


def _next_cursor(at: datetime, last: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), last]).encode()).decode()


def services(c: Container, access: MailAccess) -> tuple[Outbox, Uploads]:
    audit = AuditLog(c.bus)
    composer = Composer(c.emails, access, c.outgoing, c.settings)
    quotas = Quotas(c.outgoing, c.settings)
    outbox = Outbox(c.outgoing, c.directory, access, composer, quotas, audit)
    return outbox, Uploads(c.outgoing, c.blobs, access, audit, c.settings)


def router_for(c: Container, access: MailAccess) -> APIRouter:
    return build_router(*services(c, access))


def build_router(outbox: Outbox, uploads: Uploads) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["messages"])

    @router.post(
        "/messages",
        response_model=MessageView,
        status_code=202,
        responses={
            200: {"model": MessageView, "description": "replayed: what this key made before"},
            201: {"model": MessageView, "description": "the draft saved"},
            202: {"description": "queued or scheduled for sending; follow status_url"},
            **declares(403, 404, 422, 429),
        },
    )
    async def create_message(
        body: MessageCreate,
        request: Request,
        response: Response,
        idempotency_key: str | None = IDEMPOTENCY,
        principal: Principal = Depends(current_principal),
    ) -> MessageView:
        """Compose, reply, reply-all or forward; ``draft: true`` saves a draft, and
        ``send_at`` schedules the send."""
        m, replayed = await outbox.create(principal, body, idempotency_key, _ip(request))
        response.status_code = 200 if replayed else 201 if m.state == "draft" else 202
        response.headers["Location"] = f"/api/v1/messages/{m.id}"
        return MessageView.of(m)

    @router.get("/messages", response_model=MessagePage)
    async def list_messages(
        state: list[State] | None = Query(None, description="only messages in these states"),
        limit: int = Query(50, ge=1, le=200),
        cursor: str | None = Query(None, max_length=200),
        principal: Principal = Depends(current_principal),
    ) -> MessagePage:
        """The caller's own messages (drafts, outbox, sent, failed), newest first."""
        before = _cursor(cursor) if cursor else None
        rows = await outbox.store.list(
            principal.tenant_id, principal.user_id, state, limit + 1, before
        )
        readable = set(await outbox.access.readable(principal))
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more and rows else None
        return MessagePage(
            items=[MessageView.of(m) for m in rows if m.mailbox_id in readable],
            next_cursor=_next_cursor(last.created_at, last.id) if last else None,
        )

    @router.get("/messages/{message_id}", response_model=MessageView)
    async def get_message(
        message_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> MessageView:
        m = await outbox.visible(principal, message_id)
        await outbox.access.audited(principal, "message.read", m.id, _ip(request))
        return MessageView.of(m)

    @router.patch("/messages/{message_id}", response_model=MessageView, responses={**CONFLICT})
    async def update_message(
        message_id: str,
        body: MessagePatch,
        request: Request,
        principal: Principal = Depends(current_principal),
    ) -> MessageView:
        """Edit a draft or a scheduled message (not one being sent: 409)."""
        return MessageView.of(await outbox.update(principal, message_id, body, _ip(request)))

    @router.post(
        "/messages/{message_id}/send",
        response_model=MessageView,
        status_code=202,
        responses={**CONFLICT, **declares(429)},
    )
    async def send_message(
        message_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> MessageView:
        """Send a draft (now, or at its ``send_at``), a scheduled message now, or a
        failed one again; one already queued, sending or sent is left as it is."""
        return MessageView.of(await outbox.send(principal, message_id, _ip(request)))

    @router.delete(
        "/messages/{message_id}", status_code=204, response_class=Response, responses={**CONFLICT}
    )
    async def delete_message(
        message_id: str, request: Request, principal: Principal = Depends(current_principal)
    ) -> Response:
        """Discard a draft (or a failed message), or cancel a queued or scheduled one
        that is not being sent yet."""
        await outbox.cancel(principal, message_id, _ip(request))
        return Response(status_code=204)

    @router.post(
        "/uploads",
        response_model=UploadView,
        status_code=201,
        openapi_extra={"requestBody": UPLOAD_BODY},
        responses={**declares(403, 413, 422)},
    )
    async def upload(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> UploadView:
        """A file to attach to messages (multipart/form-data, field ``file``), by the
        ``id`` returned, until ``expires_at``."""
        return UploadView.of(await uploads.receive(principal, request, _ip(request)))

    return router
