"""``GET /api/v1/events``: Server-Sent Events of the caller's tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.notifications.hub import NotificationHub

KEEPALIVE_SECONDS = 15.0


def build_router(hub: NotificationHub) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["notifications"])

    @router.get("/events", response_class=StreamingResponse)
    async def events(principal: Principal = Depends(current_principal)) -> StreamingResponse:
        queue = hub.connect(principal.tenant_id)

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        env = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    yield f"id: {env.id}\nevent: {env.type}\ndata: {env.model_dump_json()}\n\n"
            finally:
                hub.disconnect(principal.tenant_id, queue)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return router
