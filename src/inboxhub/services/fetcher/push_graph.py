"""Microsoft Graph change notifications for the Graph connector's subscriptions.

Graph first validates a new subscription by POSTing to the notification URL with a
``validationToken`` query parameter; we must answer 200, ``text/plain``, the token
unchanged, within 10 seconds. Afterwards it POSTs ``{"value": [notifications]}``;
each carries the ``clientState`` we set, which we check (constant time) against the
one derived from the URL's tenant and mailbox (``providers.graph.client_state``) and
then wake the mailbox: its delta sync finds out what changed. We answer 202 even
when some notifications were discarded, as Graph expects
(https://learn.microsoft.com/graph/change-notifications-delivery-webhooks).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response

from inboxhub.domain.errors import InvalidInput
from inboxhub.providers.graph import client_state

log = structlog.get_logger(__name__)
MAX_BODY_BYTES = 4 * 1024 * 1024  # a notification batch is small; refuse anything huge


class MalformedNotification(InvalidInput):
    status = 400
    title = "Malformed notification"


def _notifications(raw: bytes) -> list[Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedNotification("the body is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise MalformedNotification('the body must be {"value": [notifications]}')
    return list(body["value"])


def build_router(app_settings: Any, wake: Callable[[str, str], Awaitable[None]]) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/push/graph/{tenant_id}/{mailbox_id}", include_in_schema=False)
    async def graph_notification(tenant_id: str, mailbox_id: str, request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            return Response(content=token, status_code=200, media_type="text/plain")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise MalformedNotification("the body is too large")
        expected = client_state(app_settings, tenant_id, mailbox_id).encode()
        accepted = 0
        for item in _notifications(raw):
            state = item.get("clientState") if isinstance(item, dict) else None
            if isinstance(state, str) and hmac.compare_digest(state.encode(), expected):
                accepted += 1
        if accepted:
            await wake(tenant_id, mailbox_id)
        else:
            log.warning("graph.push_discarded", tenant_id=tenant_id, mailbox_id=mailbox_id)
        return Response(status_code=202)

    return router
