"""Who is calling, for the audit records of the request being served.

``AuditContextMiddleware`` notes the caller's user agent (and address) for the
request's task; ``AuditLog.record`` adds it, with the request id, to every record
made while serving it, so that the many places recording an action need not pass
them on. A plain ASGI middleware, like ``gateway/request_ids.py``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_USER_AGENT = 512


@dataclass(frozen=True)
class Caller:
    ip: str | None = None
    user_agent: str | None = None


_caller: ContextVar[Caller | None] = ContextVar("audit_caller", default=None)


def current_caller() -> Caller:
    return _caller.get() or Caller()


class AuditContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        agent = Headers(scope=scope).get("user-agent")
        token = _caller.set(
            Caller(client[0] if client else None, agent[:MAX_USER_AGENT] if agent else None)
        )
        try:
            await self.app(scope, receive, send)
        finally:
            _caller.reset(token)
