"""The gateway's edge, over HTTP in process: rate limits per user, tenant and
address (429 + Retry-After), body limits (413, declared or streamed), security
headers, CORS and request ids, on every kind of answer."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import StreamingResponse

from inboxhub.adapters.db import SqlDirectory
from inboxhub.crypto import SecretBox
from inboxhub.domain.errors import TooManyRequests
from inboxhub.domain.models import User
from inboxhub.services.auth.tokens import TokenService
from inboxhub.services.gateway import edge, problems
from inboxhub.services.gateway.ratelimit import TokenBuckets
from inboxhub.services.gateway.security import Principal, current_principal
from inboxhub.settings import Settings

PROBLEM = "application/problem+json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def user(uid: str, tenant: str) -> User:
    return User(id=uid, tenant_id=tenant, email=f"{uid}@x.test", created_at=datetime.now(UTC))


@pytest.fixture()
async def tokens(tmp_path: Path) -> AsyncIterator[TokenService]:
    directory = await SqlDirectory.open(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    service = TokenService(directory, SecretBox("k" * 40), "inboxhub", "inboxhub-api", 600, 3600)
    await service.init()
    yield service
    await directory.close()


def build(tokens: TokenService, clock: Clock, tmp_path: Path, **settings: Any) -> FastAPI:
    """An app with the gateway's edge and a few routes standing for real ones."""
    s = Settings(data_dir=tmp_path / "data", **settings)
    app = FastAPI(docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.verify_token = tokens.verify_access

    async def any_tenant_is_active(tenant_id: str) -> None:
        return None

    app.state.require_active_tenant = any_tenant_is_active
    app.state.calls = 0
    problems.install(app)
    edge.install(app, s, clock)

    @app.get("/api/v1/me")
    async def me(p: Principal = Depends(current_principal)) -> dict[str, Any]:
        return {"user": p.user_id, "request_id": structlog.contextvars.get_contextvars()}

    @app.post("/api/v1/auth/login")
    async def login() -> dict[str, str]:
        return {}

    @app.post("/api/v1/echo")
    async def echo(request: Request) -> dict[str, int]:
        request.app.state.calls += 1
        return {"received": len(await request.body())}

    @app.post("/api/v1/items")
    async def items(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    @app.get("/api/v1/events")
    async def events(p: Principal = Depends(current_principal)) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            for i in range(5):
                yield f"event: tick\ndata: {i}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/v1/busy")
    async def busy() -> None:
        raise TooManyRequests("locked for a while", retry_after=29.2)

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    return app


def client(app: FastAPI, token: str | None = None, ip: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 4000), raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers)


def assert_edge_headers(r: httpx.Response) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), r.headers
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in r.headers["permissions-policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


# ------------------------------------------------------------------ token buckets


def test_a_bucket_bursts_to_its_limit_then_refills_at_the_average_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(6, clock)  # one token every 10 s
    for _ in range(6):
        assert buckets.wait("k") == 0
        buckets.take("k")
    assert buckets.wait("k") == pytest.approx(10)
    assert buckets.wait("other") == 0
    clock.now += 4
    assert buckets.wait("k") == pytest.approx(6)
    clock.now += 6
    assert buckets.wait("k") == 0
    clock.now += 3600
    for _ in range(6):  # refilled to the limit, not beyond
        buckets.take("k")
    assert buckets.wait("k") > 0


def test_buckets_forget_the_least_recently_used_keys_beyond_their_bound() -> None:
    buckets = TokenBuckets(1, Clock(), max_keys=2)
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert buckets.wait("a") == 0  # forgotten: full again
    assert buckets.wait("b") > 0 and buckets.wait("c") > 0


def test_a_zero_limit_is_no_limit() -> None:
    buckets = TokenBuckets(0, Clock())
    for _ in range(100):
        buckets.take("k")
    assert buckets.wait("k") == 0


# ------------------------------------------------------------------ rate limits


async def test_each_user_has_a_limit_and_a_429_says_when_to_retry(
    tokens: TokenService, tmp_path: Path
) -> None:
    clock = Clock()
    app = build(tokens, clock, tmp_path, rate_limit_user_per_minute=3)
    alice = client(app, tokens.issue_access(user("alice", "t1")))
    bob = client(app, tokens.issue_access(user("bob", "t1")))
    assert [(await alice.get("/api/v1/me")).status_code for _ in range(3)] == [200] * 3
    refused = await alice.get("/api/v1/me")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert refused.headers["retry-after"] == "20"  # 3 a minute: one token per 20 s
    assert refused.json()["retry_after"] == 20 and refused.json()["status"] == 429
    assert_edge_headers(refused)
    assert (await bob.get("/api/v1/me")).status_code == 200  # another user: own bucket
    clock.now += 20
    assert (await alice.get("/api/v1/me")).status_code == 200
    assert (await alice.get("/api/v1/me")).status_code == 429


async def test_the_users_of_a_tenant_share_its_limit(tokens: TokenService, tmp_path: Path) -> None:
    app = build(tokens, Clock(), tmp_path, rate_limit_tenant_per_minute=4)
    acme = [client(app, tokens.issue_access(user(f"u{i}", "acme"))) for i in range(2)]
    other = client(app, tokens.issue_access(user("u9", "other")))
    codes = [(await acme[i % 2].get("/api/v1/me")).status_code for i in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    assert (await other.get("/api/v1/me")).status_code == 200


async def test_a_forged_token_counts_against_its_address_not_the_user_it_names(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path, rate_limit_user_per_minute=2)
    genuine = tokens.issue_access(user("alice", "t1"))
    head, body, _ = genuine.split(".")
    forged = client(app, f"{head}.{body}.{'A' * 86}", ip="10.9.9.9")
    for _ in range(5):
        assert (await forged.get("/api/v1/me")).status_code == 401
    assert (await client(app, genuine).get("/api/v1/me")).status_code == 200


async def test_sign_in_is_limited_per_address_more_strictly(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(
        tokens,
        Clock(),
        tmp_path,
        rate_limit_sign_in_per_minute=2,
        rate_limit_anonymous_per_minute=5,
    )
    guesser, neighbour = client(app, ip="10.0.0.66"), client(app, ip="10.0.0.67")
    codes = [(await guesser.post("/api/v1/auth/login")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert (await neighbour.post("/api/v1/auth/login")).status_code == 200
    # Other endpoints without a token: the laxer per-address limit.
    codes = [(await guesser.get("/api/v1/me")).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


async def test_probes_are_never_limited_and_limits_can_be_off(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path, rate_limit_anonymous_per_minute=1)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {}

    probe = client(app)
    assert {(await probe.get("/healthz")).status_code for _ in range(5)} == {200}
    off = build(
        tokens, Clock(), tmp_path, rate_limit_enabled=False, rate_limit_anonymous_per_minute=1
    )
    assert {(await client(off).get("/api/v1/me")).status_code for _ in range(5)} == {401}


async def test_a_stream_counts_once_however_many_events_it_carries(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path, rate_limit_user_per_minute=2)
    alice = client(app, tokens.issue_access(user("alice", "t1")))
    async with alice.stream("GET", "/api/v1/events") as stream:
        assert stream.status_code == 200
        lines = [line async for line in stream.aiter_lines() if line.startswith("event:")]
    assert len(lines) == 5
    assert (await alice.get("/api/v1/me")).status_code == 200
    assert (await alice.get("/api/v1/events")).status_code == 429


async def test_a_domain_429_carries_retry_after_in_whole_seconds(
    tokens: TokenService, tmp_path: Path
) -> None:
    r = await client(build(tokens, Clock(), tmp_path)).get("/api/v1/busy")
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    assert_edge_headers(r)


# ------------------------------------------------------------------ body limits


async def test_a_declared_body_over_the_limit_is_refused_unread(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path, max_body_bytes=1000)
    c = client(app)
    assert (await c.post("/api/v1/echo", content=b"x" * 1000)).json() == {"received": 1000}
    r = await c.post("/api/v1/echo", content=b"x" * 1001)
    assert r.status_code == 413 and r.headers["content-type"] == PROBLEM
    assert r.json()["title"] == "Content too large"
    assert_edge_headers(r)
    assert app.state.calls == 1  # the route never ran for the large one


async def chunks(n: int, size: int = 256) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"y" * size


async def test_a_streamed_body_is_counted_as_it_arrives(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path, max_body_bytes=1000)
    c = client(app)
    small = await c.post("/api/v1/echo", content=chunks(3))  # no Content-Length: chunked
    assert small.json() == {"received": 768}
    for path in ("/api/v1/echo", "/api/v1/items"):  # read raw, and parsed by FastAPI
        r = await c.post(path, content=chunks(40), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == PROBLEM
        assert_edge_headers(r)


# ------------------------------------------------------------------ headers, CORS, ids


async def test_every_answer_has_the_security_headers_and_a_request_id(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path)
    c = client(app)
    for path, status in (("/api/v1/me", 401), ("/nowhere", 404), ("/api/v1/boom", 500)):
        r = await c.get(path)
        assert r.status_code == status and r.headers["content-type"] == PROBLEM
        assert_edge_headers(r)
        assert "strict-transport-security" not in r.headers  # public_url is http
    ok = await client(app, tokens.issue_access(user("alice", "t1"))).get("/api/v1/me")
    assert_edge_headers(ok)
    secure = build(tokens, Clock(), tmp_path, public_url="https://mail.example.com")
    hsts = (await client(secure).get("/api/v1/me")).headers["strict-transport-security"]
    assert hsts.startswith("max-age=31536000")


async def test_the_api_docs_page_may_load_exactly_what_it_uses(
    tokens: TokenService, tmp_path: Path
) -> None:
    r = await client(build(tokens, Clock(), tmp_path)).get("/api/docs")
    assert r.status_code == 200
    policy = dict(
        (d.split()[0], d.split()[1:]) for d in r.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    inline = [body for attrs, body in scripts if "src=" not in attrs]
    assert inline, "Swagger UI's page has an inline script"
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    for url in re.findall(r'<script src="([^"]+)"', r.text):
        assert any(url.startswith(origin + "/") for origin in policy["script-src"])
    for url in re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', r.text):
        assert any(url.startswith(origin + "/") for origin in policy["style-src"])
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'self'" in policy["connect-src"]  # it fetches /api/openapi.json


async def test_cors_allows_only_the_configured_origins(
    tokens: TokenService, tmp_path: Path
) -> None:
    preflight = {
        "Origin": "https://mail.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    closed = client(build(tokens, Clock(), tmp_path))
    r = await closed.options("/api/v1/me", headers=preflight)
    assert "access-control-allow-origin" not in r.headers

    app = build(
        tokens,
        Clock(),
        tmp_path,
        cors_origins="https://mail.example.com, https://admin.example.com",
        rate_limit_anonymous_per_minute=1,
    )
    c = client(app)
    r = await c.options("/api/v1/me", headers=preflight)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://mail.example.com"
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in r.headers
    evil = await c.options("/api/v1/me", headers={**preflight, "Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in evil.headers
    origin = {"Origin": "https://admin.example.com"}
    await c.get("/api/v1/me", headers=origin)
    limited = await c.get("/api/v1/me", headers=origin)  # a browser can read why and when
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == "https://admin.example.com"
    exposed = {
        h.strip().lower() for h in limited.headers["access-control-expose-headers"].split(",")
    }
    assert {"retry-after", "etag", "x-request-id"} <= exposed


async def test_a_well_formed_request_id_is_kept_bound_to_logs_and_returned(
    tokens: TokenService, tmp_path: Path
) -> None:
    app = build(tokens, Clock(), tmp_path, rate_limit_user_per_minute=1)
    alice = client(app, tokens.issue_access(user("alice", "t1")))
    r = await alice.get("/api/v1/me", headers={"X-Request-Id": "req-42.a:b"})
    assert r.headers["x-request-id"] == "req-42.a:b"
    assert r.json()["request_id"]["request_id"] == "req-42.a:b"  # bound for structlog
    limited = await alice.get("/api/v1/me", headers={"X-Request-Id": "req-43"})
    assert limited.status_code == 429 and limited.headers["x-request-id"] == "req-43"
    for bad in (b"has space", b"x" * 129, "new\u2028line".encode(), b"<script>", b"x\x01y"):
        r = await client(app).get("/api/v1/boom", headers={"X-Request-Id": bad})
        assert r.status_code == 500
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
