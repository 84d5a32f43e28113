"""``GET /api/v1/events``: Server-Sent Events of the caller's tenant, of the mailboxes
the caller reads, resumable from a cursor (``Last-Event-ID`` or ``?cursor=``; every
event's ``id:`` is the cursor after it). Messages as in ``stream.py``; the SSE
``event:`` is the event type (``email.processed``, ...) or ``ready``/``reset``.
Keepalive comments also carry the cursor (an ``id:`` alone moves a browser's
``lastEventId`` without an event). The stream ends when the token expires or the
client falls too far behind; ``EventSource`` reconnects with ``Last-Event-ID``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from inboxhub.domain.errors import Unavailable
from inboxhub.services.api.access import MailAccess
from inboxhub.services.gateway.problems import declares
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.notifications.hub import NotificationHub
from inboxhub.services.notifications.stream import Message, Overflowed, Stream, event_types
from inboxhub.services.notifications.token_watch import TokenWatch
from inboxhub.services.notifications.visibility import Visible
from inboxhub.services.notifications.ws import build_ws_route

__all__ = ["Visible", "build_router"]

KEEPALIVE_SECONDS = 15.0
READY_SECONDS = 10.0  # a process just started: how long a client waits for the hub
RETRY_MS = 2000  # the reconnection delay a browser is told to use


def sse(message: Message) -> str:
    kind = message["event"]["type"] if message["type"] == "event" else message["type"]
    return f"id: {message['cursor']}\nevent: {kind}\ndata: {json.dumps(message)}\n\n"


async def hub_ready(hub: NotificationHub) -> None:
    if not await hub.wait_ready(READY_SECONDS):
        raise Unavailable("notifications are starting; try again shortly")


def build_router(hub: NotificationHub, access: MailAccess) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["notifications"])

    @router.get(
        "/events",
        response_class=StreamingResponse,
        responses={**declares(401, 422), 503: {"description": "the service is starting"}},
    )
    async def events(
        request: Request,
        principal: Principal = Depends(current_principal),
        types: str | None = Query(None, description="event types, comma-separated"),
        cursor: str | None = Query(None, description="resume after this cursor"),
        last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    ) -> StreamingResponse:
        wanted = event_types(types)
        await hub_ready(hub)
        token = request.headers["authorization"].split(" ", 1)[1].strip()
        _, watch = await TokenWatch.verify(request.app, token)
        stream = Stream(hub, Visible(access, principal), wanted)
        first = await stream.begin(last_event_id or cursor)
        ip = request.client.host if request.client else None
        await access.audited(principal, "events.subscribe", None, ip)

        async def body() -> AsyncIterator[str]:
            try:
                yield f"retry: {RETRY_MS}\n\n"
                for message in first:
                    yield sse(message)
                while await watch.still_good():
                    wait = min(KEEPALIVE_SECONDS, watch.seconds_left())
                    got = await stream.next_within(wait)
                    yield sse(got) if got else f": keepalive\nid: {stream.idle_cursor()}\n\n"
            except Overflowed:
                return
            finally:
                stream.close()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    build_ws_route(router, hub, access)
    return router
