"""Request ids: every response carries ``X-Request-Id``, and every log line of the
request has it. A well-formed id from the caller (Traefik forwards the client's)
is kept so a request can be followed across services; otherwise one is made.

A plain ASGI middleware (not ``BaseHTTPMiddleware``): it sits outermost among
ours, so the 413 and 429 answers of the limits carry the id too, and it passes
streamed responses (SSE) through untouched. Calls this process makes to another
inboxhub service send the id on (``outgoing_headers``).
"""

from __future__ import annotations

import re
import uuid

import structlog
from fastapi import FastAPI, Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def well_formed(given: str) -> str | None:
    return given if _ACCEPTABLE.fullmatch(given) else None


def request_id(request: Request) -> str:
    return well_formed(request.headers.get(HEADER, "")) or uuid.uuid4().hex


def current() -> str | None:
    """The id of the request this task is serving, if any."""
    rid = structlog.contextvars.get_contextvars().get("request_id")
    return rid if isinstance(rid, str) else None


def outgoing_headers() -> dict[str, str]:
    """Headers for a call to another inboxhub service on behalf of this request."""
    rid = current()
    return {HEADER: rid} if rid else {}


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = well_formed(Headers(scope=scope).get(HEADER, "")) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=rid):
            await self.app(scope, receive, tagged)


def install(app: FastAPI) -> None:
    app.add_middleware(RequestIdMiddleware)
