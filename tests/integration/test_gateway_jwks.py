"""A service run apart verifies tokens against the Auth service's JWKS, fetched
over HTTP from a real uvicorn serving the Auth app on a loopback port: cached,
fetched again after a key rotation (a token with an unknown kid), throttled
against made-up kids, kept when the Auth service is down, and the fetch carries
the id of the request that caused it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import jwt
import pytest
import uvicorn
from fastapi import Depends, FastAPI

from inboxhub.domain.errors import Unauthorized, Unavailable
from inboxhub.domain.models import User
from inboxhub.runtime import Container, build_auth
from inboxhub.services.auth import AuthService
from inboxhub.services.gateway import problems, request_ids
from inboxhub.services.gateway.app import create_app
from inboxhub.services.gateway.jwks import RemoteJwks
from inboxhub.services.gateway.security import Principal, current_principal
from tests.support.processes import free_port

USER = User(
    id="u1", tenant_id="t1", email="a@t.test", roles=["member"], created_at=datetime.now(UTC)
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class AuthServer:
    auth: AuthService
    url: str
    seen_request_ids: list[str | None]
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


@pytest.fixture()
async def auth_server(container: Container) -> AsyncIterator[AuthServer]:
    auth = await build_auth(container)
    app = create_app(container, auth.tokens.verify_access, ("auth",), auth)
    seen: list[str | None] = []

    async def recording(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"] == "/.well-known/jwks.json":
            seen.append(dict(scope["headers"]).get(b"x-request-id", b"").decode() or None)
        await app(scope, receive, send)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(recording, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    running = AuthServer(auth, f"http://127.0.0.1:{port}/.well-known/jwks.json", seen, server, task)
    yield running
    await running.stop()


def remote(a: AuthServer, clock: Clock) -> RemoteJwks:
    s = a.auth.tokens
    return RemoteJwks(a.url, s.issuer, s.audience, max_age=300, min_interval=10, clock=clock)


async def test_a_rotation_is_picked_up_from_the_jwks_once(auth_server: AuthServer) -> None:
    clock = Clock()
    jwks = remote(auth_server, clock)
    tokens = auth_server.auth.tokens
    first = tokens.issue_access(USER)
    assert (await jwks.verify(first)).user_id == "u1"
    assert (await jwks.verify(first)).user_id == "u1"
    assert jwks.fetches == 1  # cached

    await tokens.rotate()
    clock.now += 11
    rotated = tokens.issue_access(USER)
    assert jwt.get_unverified_header(rotated)["kid"] not in jwks.verifier.public_keys
    assert (await jwks.verify(rotated)).user_id == "u1"
    assert (await jwks.verify(first)).user_id == "u1"  # the old key still verifies
    assert jwks.fetches == 2
    await jwks.aclose()


async def test_made_up_kids_cannot_hammer_the_auth_service(auth_server: AuthServer) -> None:
    clock = Clock()
    jwks = remote(auth_server, clock)
    genuine = auth_server.auth.tokens.issue_access(USER)
    await jwks.verify(genuine)
    key = auth_server.auth.tokens.keys[0].private
    for i in range(50):
        bogus = jwt.encode({"sub": "x"}, key, algorithm="EdDSA", headers={"kid": f"made-up-{i}"})
        with pytest.raises(Unauthorized):
            await jwks.verify(bogus)
    assert jwks.fetches == 1  # within min_interval of the first fetch: none
    clock.now += 10
    flood = [
        jwks.verify(jwt.encode({"sub": "x"}, key, algorithm="EdDSA", headers={"kid": f"k{i}"}))
        for i in range(20)
    ]
    results = await asyncio.gather(*flood, return_exceptions=True)
    assert all(isinstance(r, Unauthorized) for r in results)
    assert jwks.fetches == 2  # twenty at once: one fetch
    await jwks.aclose()


async def test_the_keys_outlive_an_auth_outage_and_none_means_unavailable(
    auth_server: AuthServer,
) -> None:
    clock = Clock()
    jwks = remote(auth_server, clock)
    token = auth_server.auth.tokens.issue_access(USER)
    await jwks.verify(token)
    await auth_server.stop()
    clock.now += 301  # stale: a fetch is attempted, fails, the cached keys serve
    assert (await jwks.verify(token)).user_id == "u1"
    assert jwks.fetches == 2
    never = RemoteJwks("http://127.0.0.1:9/nothing", "inboxhub", "inboxhub-api", clock=clock)
    with pytest.raises(Unavailable):
        await never.verify(token)
    with pytest.raises(Unauthorized):  # not a token at all: refused, nothing fetched
        await never.verify("not-a-token")
    assert never.fetches == 1
    await jwks.aclose()
    await never.aclose()


async def test_a_service_verifies_through_the_jwks_and_forwards_the_request_id(
    auth_server: AuthServer,
) -> None:
    jwks = remote(auth_server, Clock())
    service = FastAPI()
    service.state.verify_token = jwks.verify

    async def active(tenant_id: str) -> None:
        return None

    service.state.require_active_tenant = active
    problems.install(service)
    request_ids.install(service)

    @service.get("/whoami")
    async def whoami(p: Principal = Depends(current_principal)) -> dict[str, str]:
        return {"user": p.user_id, "tenant": p.tenant_id}

    token = auth_server.auth.tokens.issue_access(USER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service), base_url="http://svc"
    ) as client:
        r = await client.get(
            "/whoami", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-jwks-1"}
        )
        assert r.status_code == 200 and r.json() == {"user": "u1", "tenant": "t1"}
        bad = await client.get("/whoami", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
    assert auth_server.seen_request_ids == ["req-jwks-1"]
    await jwks.aclose()
