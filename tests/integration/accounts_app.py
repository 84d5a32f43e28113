"""The app of the local-account tests: embedded adapters, the audit consumer, a tenant
with two users, and clients that call it over HTTP (in process) from chosen IPs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.runtime import Container, build_auth, open_container, start_consumers
from inboxhub.services.auth import AuthService
from inboxhub.services.consumer import wait_until_consumed
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import Settings

ADA, BOB = "ada@acme.test", "bob@acme.test"
PASSWORD = "first-password-1"


@dataclass
class Accounts:
    c: Container
    auth: AuthService
    app: FastAPI
    tenant_id: str

    def client(self, ip: str = "192.0.2.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    async def login(
        self, email: str = ADA, password: str = PASSWORD, ip: str = "192.0.2.1"
    ) -> httpx.Response:
        async with self.client(ip) as client:
            return await client.post(
                "/api/v1/auth/login", json={"email": email, "password": password}
            )

    async def tokens(self, email: str = ADA, password: str = PASSWORD) -> dict[str, Any]:
        r = await self.login(email, password)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def user_id(self, email: str) -> str:
        [(user, _)] = await self.c.directory.find_users_by_email(email)
        return user.id

    async def audit(self) -> list[dict[str, object]]:
        end = await self.c.bus.end_offsets(AUDIT_ACTION)
        await wait_until_consumed(self.c.bus, "audit", AUDIT_ACTION, end, 60)
        return await self.c.directory.list_audit(self.tenant_id, limit=500)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def accounts_app(data_dir: Path, **settings: Any) -> AsyncIterator[Accounts]:
    options: dict[str, Any] = {
        "login_max_failures": 3,
        "login_max_failures_per_ip": 6,
        "login_lockout_seconds": 60,
        **settings,
    }
    c = await open_container(Settings(data_dir=data_dir, **options))
    stop = asyncio.Event()
    tasks = start_consumers(c, ("audit",), stop)
    try:
        auth = await build_auth(c)
        boot = await bootstrap(c.directory, c.bus, auth.hasher, "acme", ADA, PASSWORD, ("admin",))
        await bootstrap(c.directory, c.bus, auth.hasher, "acme", BOB, PASSWORD, ("member",))
        app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
        yield Accounts(c, auth, app, boot.tenant.id)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await c.close()
