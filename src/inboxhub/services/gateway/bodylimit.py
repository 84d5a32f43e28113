"""Request body size limits: 413 problem+json above the limit.

A declared ``Content-Length`` over the limit is refused before the route runs or
a byte is read. A body without one (``Transfer-Encoding: chunked``) is counted as
it streams in, and the read that crosses the limit raises a 413 the app's error
handlers answer, so nothing larger is ever buffered.

Not Starlette's ``RequestBodyLimitMiddleware``: FastAPI places it outside our
middleware, and its early 413 is plain text without the request id and the
security headers.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inboxhub.services.gateway.problems import problem


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class BodyLimitMiddleware:
    """``limit`` bytes for every route; ``larger`` maps path prefixes to their own
    limit (the longest matching prefix wins)."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app, self.limit = app, limit
        self.larger = sorted((larger or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        return next((n for prefix, n in self.larger if path.startswith(prefix)), self.limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:  # read outside FastAPI's handlers (a bare ASGI route)
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"the request body exceeds {limit} bytes"
        response = problem(413, "Content too large", detail, Request(scope))
        # The client may still be sending; tell it (and any proxy) not to reuse
        # this connection for another request.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
