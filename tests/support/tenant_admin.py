"""An in-process gateway with a platform operator, for the tenant administration
tests: log people in, read the events and audit entries the API left behind, and
the invitation mails the pickup mailer wrote."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
from fastapi import FastAPI

from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.runtime import Container, build_auth
from inboxhub.services.auth import AuthService
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import ADMIN_ROLES, PLATFORM_ADMIN, bootstrap

OPERATOR = "operator@platform.test"
PASSWORD = "pass-word-123"
TOKEN_IN_MAIL = re.compile(r"token=([A-Za-z0-9_-]{20,})")


@dataclass
class Platform:
    c: Container
    auth: AuthService
    app: FastAPI
    operator: httpx.AsyncClient = field(init=False)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self) -> httpx.AsyncClient:
        made = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://t")
        self.clients.append(made)
        return made

    async def login(
        self, email: str, password: str = PASSWORD, tenant: str | None = None
    ) -> httpx.AsyncClient:
        made = self.client()
        body = {"email": email, "password": password, "tenant": tenant}
        r = await made.post("/api/v1/auth/login", json=body)
        assert r.status_code == 200, r.text
        made.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return made

    async def new_tenant(self, name: str, admin_email: str, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "admin_email": admin_email, "admin_password": PASSWORD, **extra}
        r = await self.operator.post("/api/v1/tenants", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def events(self, topic: str) -> list[Any]:
        return [r.envelope for r in await self.c.bus.read(topic, 10_000)]

    async def audits(self, action: str) -> list[Any]:
        return [e for e in await self.events(AUDIT_ACTION) if e.data["action"] == action]

    def mails(self) -> list[EmailMessage]:
        folder = self.c.settings.data_dir / "system-mail"
        files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]  # type: ignore[misc]


def token_of(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    found = TOKEN_IN_MAIL.search(body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


async def platform(c: Container) -> AsyncIterator[Platform]:
    """The ``default`` tenant with its operator, as ``inboxhub run`` bootstraps it."""
    auth = await build_auth(c)
    await bootstrap(
        c.directory,
        c.bus,
        auth.hasher,
        "default",
        OPERATOR,
        PASSWORD,
        (*ADMIN_ROLES, PLATFORM_ADMIN),
    )
    app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
    p = Platform(c, auth, app)
    p.operator = await p.login(OPERATOR)
    yield p
    for client in p.clients:
        await client.aclose()
