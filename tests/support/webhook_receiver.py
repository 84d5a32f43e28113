"""A real HTTP server on a loopback port that receives webhooks: it records every
request (headers and exact body bytes) and answers with the statuses it is given,
in order (then 200), so tests can script a receiver that fails, then recovers."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        self.script: list[int] = []  # statuses to answer, first first; then ``default``
        self.default = 200
        self.tls = False

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.requests.append(Received(path, headers, body))
            return self.script.pop(0) if self.script else self.default

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The first ``count`` requests, once that many came (polls, with a deadline)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} of {count} webhook requests came")
            await asyncio.sleep(0.02)
        return self.requests[:count]


@contextmanager
def webhook_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """The receiver, over TLS with ``tls`` (a server context)."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            assert receiver is not None
            status = receiver.answer(self.path, dict(self.headers.items()), body)
            reply = b'{"received":true}' if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server)
    receiver.tls = tls is not None
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
