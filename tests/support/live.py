"""Clients of the live notifications over real HTTP: an app served by uvicorn on a
loopback port, WebSocket clients (``websockets``) and an SSE reader (httpx), each
waiting for messages with generous deadlines (never asserting on time)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from inboxhub.services.notifications.cursor import decode
from tests.support.processes import free_port

WAIT = 60.0
Message = dict[str, Any]


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(WAIT):
        while not server.started:
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def login(base: str, email: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def ahead(cursor: str, target: str) -> bool:
    """Whether ``cursor`` has reached ``target`` on every partition."""
    mine = decode(cursor)
    return all(mine.get(tp, 0) >= offset for tp, offset in decode(target).items())


@dataclass
class Socket:
    """A WebSocket client that keeps every message it receives."""

    conn: ClientConnection
    messages: list[Message] = field(default_factory=list)

    @classmethod
    async def open(
        cls, base: str, token: str | None = None, query: str = "", first: Message | None = None
    ) -> Socket:
        """Authenticated by a header with ``token``, or by sending ``first`` (if any)."""
        url = base.replace("http://", "ws://") + "/api/v1/ws" + (f"?{query}" if query else "")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        conn = await websockets.connect(url, additional_headers=headers)
        socket = cls(conn)
        if first:
            await socket.send(first)
        return socket

    async def send(self, message: Message) -> None:
        await self.conn.send(json.dumps(message))

    async def receive(self) -> Message:
        async with asyncio.timeout(WAIT):
            message: Message = json.loads(await self.conn.recv())
        self.messages.append(message)
        return message

    async def until(self, wanted: Callable[[Message], bool]) -> Message:
        """The next message passing ``wanted``; the server's pings do not extend the wait."""
        async with asyncio.timeout(WAIT):
            while not wanted(message := await self.receive()):
                pass
        return message

    async def ready(self) -> Message:
        return await self.until(lambda m: m["type"] == "ready")

    async def event(self, wanted: Callable[[Message], bool] = lambda e: True) -> Message:
        """The next event message whose ``event`` passes ``wanted``."""
        return await self.until(lambda m: m["type"] == "event" and wanted(m["event"]))

    async def seen(self, wanted: Callable[[Message], bool]) -> Message:
        """An event passing ``wanted``, received already or next."""
        for m in self.messages:
            if m["type"] == "event" and wanted(m["event"]):
                return m
        return await self.event(wanted)

    async def caught_up(self, target: str) -> list[Message]:
        """Ping until the stream's cursor reaches ``target`` (whatever it filtered out
        on the way); the events it received meanwhile."""
        start = len(self.messages)
        async with asyncio.timeout(WAIT):
            while True:
                await self.send({"type": "ping"})
                pong = await self.until(lambda m: m["type"] == "pong")
                if ahead(pong["cursor"], target):
                    return [m for m in self.messages[start:] if m["type"] == "event"]
                await asyncio.sleep(0.05)

    def events(self) -> list[Message]:
        return [m["event"] for m in self.messages if m["type"] == "event"]

    async def closed(self) -> tuple[int | None, str | None]:
        """The close code and reason, once the server closes."""
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await self.receive()
        return self.conn.close_code, self.conn.close_reason

    async def close(self) -> None:
        await self.conn.close()


@dataclass
class Sse:
    """An SSE stream read over real HTTP: the (event, id, data) of each event."""

    lines: AsyncIterator[str]
    close: Callable[[], Any]
    events: list[tuple[str, str, Message]] = field(default_factory=list)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, base: str, token: str, headers: dict[str, str] | None = None, **params: str
    ) -> AsyncIterator[Sse]:
        auth = {"Authorization": f"Bearer {token}", **(headers or {})}
        async with (
            httpx.AsyncClient(base_url=base, timeout=WAIT) as client,
            client.stream("GET", "/api/v1/events", headers=auth, params=params) as r,
        ):
            assert r.status_code == 200, await r.aread()
            yield cls(r.aiter_lines(), r.aclose)

    async def next(self) -> tuple[str, str, Message]:
        kind = ident = ""
        data: list[str] = []
        async with asyncio.timeout(WAIT):
            async for line in self.lines:
                if not line:
                    if data:
                        item = (kind, ident, json.loads("\n".join(data)))
                        self.events.append(item)
                        return item
                    kind = ident = ""
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("id:"):
                    ident = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
        raise AssertionError("the stream ended")

    async def until(self, kind: str) -> tuple[str, str, Message]:
        while (item := await self.next())[0] != kind:
            pass
        return item
