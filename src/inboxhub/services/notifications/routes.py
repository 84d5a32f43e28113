"""``GET /api/v1/events``: Server-Sent Events of the caller's tenant, of the mailboxes
the caller reads (``services/api/access.py``; re-read now and then, so a change of
assignment takes effect on an open stream too)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from inboxhub.domain.events import Envelope
from inboxhub.services.api.access import MailAccess, sees_all
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.services.notifications.hub import NotificationHub

KEEPALIVE_SECONDS = 15.0
ACCESS_SECONDS = 30.0  # how long a member's mailbox list is trusted before re-reading


class Visible:
    """Whether an event is about a mailbox the caller reads."""

    def __init__(self, access: MailAccess, principal: Principal) -> None:
        self.access, self.principal = access, principal
        self.mailboxes: set[str] = set()
        self.read_at = float("-inf")

    async def __call__(self, env: Envelope) -> bool:
        if sees_all(self.principal):
            return True
        if time.monotonic() - self.read_at > ACCESS_SECONDS:
            self.mailboxes = set(await self.access.readable(self.principal))
            self.read_at = time.monotonic()
        return env.data.get("mailbox_id") in self.mailboxes


def build_router(hub: NotificationHub, access: MailAccess) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["notifications"])

    @router.get("/events", response_class=StreamingResponse)
    async def events(
        request: Request, principal: Principal = Depends(current_principal)
    ) -> StreamingResponse:
        visible = Visible(access, principal)
        ip = request.client.host if request.client else None
        await access.audited(principal, "events.subscribe", None, ip)
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
                    if await visible(env):
                        yield f"id: {env.id}\nevent: {env.type}\ndata: {env.model_dump_json()}\n\n"
            finally:
                hub.disconnect(principal.tenant_id, queue)

        return StreamingResponse(stream(), media_type="text/event-stream")

    return router
