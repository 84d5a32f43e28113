"""``GET /api/v1/ws``: the same stream as ``/api/v1/events`` over a WebSocket.

Authentication: an ``Authorization: Bearer`` header, or (browsers cannot set one)
a first message ``{"type": "auth", "token": ..., "cursor"?: ..., "types"?: [...]}``
within ``AUTH_SECONDS``. The token is checked as for every request (signature, active
tenant, not revoked), again every half minute, and its expiry closes the socket;
sending another ``auth`` message with a fresh token (same user) extends it.

Client messages: ``auth``, ``resume`` ``{"cursor": ...}``, ``ping``. Server
messages: those of ``stream.py`` plus ``pong``/``ping`` (keepalive), each with the
current cursor. Close codes: ``CLOSE_*`` below (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from inboxhub.domain.errors import InvalidInput, Unauthorized
from inboxhub.services.api.access import MailAccess
from inboxhub.services.notifications.hub import NotificationHub
from inboxhub.services.notifications.stream import Message, Overflowed, Stream, event_types
from inboxhub.services.notifications.token_watch import TokenWatch
from inboxhub.services.notifications.visibility import Visible

log = structlog.get_logger(__name__)

AUTH_SECONDS = 5.0
PING_SECONDS = 25.0
READY_SECONDS = 10.0
CLOSE_PROTOCOL = 1008  # a message this protocol does not know
CLOSE_TRY_LATER = 1013  # the process is starting
CLOSE_UNAUTHORIZED = 4401  # no valid token (missing, bad, expired, revoked): reconnect with one
CLOSE_TOO_SLOW = 4408  # the client fell behind: reconnect and resume from the last cursor
CLOSE_INVALID = 4422  # a cursor or event type this service does not know


class Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason[:120]  # a close reason is at most 123 bytes


async def receive(ws: WebSocket) -> dict[str, Any]:
    try:
        message = json.loads(await ws.receive_text())
    except (ValueError, KeyError) as exc:
        raise Closing(CLOSE_PROTOCOL, "messages are JSON text") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise Closing(CLOSE_PROTOCOL, "a message is an object with a type")
    return message


def _types(value: Any) -> str | None:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value if isinstance(value, str) else None


class Session:
    def __init__(self, ws: WebSocket, hub: NotificationHub, access: MailAccess) -> None:
        self.ws, self.hub, self.access = ws, hub, access
        self.stream: Stream | None = None
        self.watch: TokenWatch | None = None

    async def authenticate(self) -> dict[str, Any]:
        """The token (header or first message); the first message's options."""
        header = self.ws.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            await self._verify(header[7:].strip())
            return {}
        try:
            first = await asyncio.wait_for(receive(self.ws), AUTH_SECONDS)
        except TimeoutError as exc:
            raise Closing(CLOSE_UNAUTHORIZED, "authenticate first") from exc
        if first["type"] != "auth" or not isinstance(first.get("token"), str):
            raise Closing(CLOSE_UNAUTHORIZED, "authenticate first")
        await self._verify(first["token"])
        return first

    async def _verify(self, token: str) -> None:
        try:
            principal, watch = await TokenWatch.verify(self.ws.app, token)
        except Unauthorized as exc:
            raise Closing(CLOSE_UNAUTHORIZED, str(exc)) from exc
        if self.stream is not None:  # a fresh token for the same connection
            held = self.stream.visible.principal
            if (held.user_id, held.tenant_id) != (principal.user_id, principal.tenant_id):
                raise Closing(CLOSE_UNAUTHORIZED, "a token of another user")
            self.stream.visible = Visible(self.access, principal)  # its roles now
        else:
            types = _types(self.ws.query_params.get("types"))
            try:
                wanted = event_types(types)
            except InvalidInput as exc:
                raise Closing(CLOSE_INVALID, str(exc)) from exc
            self.stream = Stream(self.hub, Visible(self.access, principal), wanted)
        self.watch = watch

    async def send(self, *messages: Message) -> None:
        for message in messages:
            await self.ws.send_text(json.dumps(message))

    async def begin(self, cursor: Any) -> None:
        assert self.stream is not None
        if cursor is not None and not isinstance(cursor, str):
            raise Closing(CLOSE_INVALID, "a cursor is a string")
        try:
            await self.send(*await self.stream.begin(cursor))
        except InvalidInput as exc:
            raise Closing(CLOSE_INVALID, str(exc)) from exc

    async def run(self) -> None:
        first = await self.authenticate()
        assert self.stream is not None and self.watch is not None
        if "types" in first:
            try:
                self.stream.types = event_types(_types(first["types"]))
            except InvalidInput as exc:
                raise Closing(CLOSE_INVALID, str(exc)) from exc
        if not await self.hub.wait_ready(READY_SECONDS):
            raise Closing(CLOSE_TRY_LATER, "notifications are starting")
        principal = self.stream.visible.principal
        ip = self.ws.client.host if self.ws.client else None
        await self.access.audited(principal, "events.subscribe", None, ip)
        await self.begin(first.get("cursor") or self.ws.query_params.get("cursor"))
        incoming = asyncio.ensure_future(receive(self.ws))
        try:
            while True:
                if not await self.watch.still_good():
                    raise Closing(CLOSE_UNAUTHORIZED, "the token expired or was revoked")
                wait = min(PING_SECONDS, self.watch.seconds_left())
                done, _ = await asyncio.wait({incoming}, timeout=0)
                if done:
                    await self._answer(incoming.result())
                    incoming = asyncio.ensure_future(receive(self.ws))
                    continue
                message = await self._next_or_message(incoming, wait)
                if message is not None:
                    await self.send(message)
        finally:
            incoming.cancel()
            with contextlib.suppress(BaseException):
                await incoming

    async def _next_or_message(self, incoming: asyncio.Future[Any], wait: float) -> Message | None:
        """The next event, or None when the client spoke or ``wait`` passed (a ping)."""
        assert self.stream is not None
        pending = self.stream.waiting()
        done, _ = await asyncio.wait(
            {pending, incoming}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        if pending in done:
            try:
                return self.stream.taken()
            except Overflowed as exc:
                raise Closing(CLOSE_TOO_SLOW, "too slow: reconnect and resume") from exc
        if not done:
            return {"type": "ping", "cursor": self.stream.idle_cursor()}
        return None

    async def _answer(self, message: dict[str, Any]) -> None:
        assert self.stream is not None
        kind = message["type"]
        if kind == "ping":
            await self.send({"type": "pong", "cursor": self.stream.idle_cursor()})
        elif kind == "resume":
            await self.begin(message.get("cursor"))
        elif kind == "auth" and isinstance(message.get("token"), str):
            await self._verify(message["token"])
        else:
            raise Closing(CLOSE_PROTOCOL, f"unknown message type {kind!r}")


def build_ws_route(router: APIRouter, hub: NotificationHub, access: MailAccess) -> None:
    @router.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        session = Session(websocket, hub, access)
        try:
            await session.run()
        except Closing as exc:
            with contextlib.suppress(Exception):
                await websocket.close(exc.code, exc.reason)
        except WebSocketDisconnect:
            pass
        finally:
            if session.stream is not None:
                session.stream.close()
