"""inboxhub in process (embedded adapters) with two tenants, for the single sign-on
tests: ``acme`` (an admin, a member, a verified and an unverified domain) and
``other`` (an admin). Browsers are httpx clients that follow redirects by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from inboxhub.domain.events import AUDIT_ACTION
from inboxhub.runtime import Container, build_auth, open_container
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import Settings

PUBLIC = "http://inboxhub.test"
PASSWORD = "pass-word-123"
ADMIN, MEMBER, OTHER_ADMIN = "admin@acme.test", "member@acme.test", "admin@other.test"
VERIFIED, UNVERIFIED = "acme.test", "acme-unverified.test"


@dataclass
class Site:
    c: Container
    app: Any
    acme: str  # tenant ids
    other: str
    admin: httpx.AsyncClient
    member: httpx.AsyncClient
    other_admin: httpx.AsyncClient

    def browser(self) -> httpx.AsyncClient:
        """A client of inboxhub (in process) with no token."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=PUBLIC)

    async def audit(self, action: str) -> list[dict[str, Any]]:
        records = await self.c.bus.read(AUDIT_ACTION, limit=1000)
        return [
            {"tenant_id": r.envelope.tenant_id, **r.envelope.data}
            for r in records
            if r.envelope.data.get("action") == action
        ]


def local(url: str) -> str:
    """An inboxhub URL as the in-process client requests it (path and query)."""
    assert url.startswith(PUBLIC), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def sso_code(location: str) -> str:
    assert location.startswith(f"{PUBLIC}/#sso_code="), location
    return location.split("#sso_code=", 1)[1]


async def _login(app: Any, email: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)
    r = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    return client


@asynccontextmanager
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(
        data_dir=tmp_path / "data", public_url=PUBLIC, allow_private_mail_hosts=True
    )
    c = await open_container(settings)
    auth = await build_auth(c)
    ids = {}
    for slug, email, roles in (
        ("acme", ADMIN, ("owner", "admin")),
        ("acme", MEMBER, ("member",)),
        ("other", OTHER_ADMIN, ("owner", "admin")),
    ):
        done = await bootstrap(c.directory, c.bus, auth.hasher, slug, email, PASSWORD, roles)
        ids[slug] = done.tenant.id
    for domain in (VERIFIED, UNVERIFIED):
        await c.tenancy.add_domain(ids["acme"], domain)
    await c.tenancy.mark_domain_verified(ids["acme"], VERIFIED)
    app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
    clients = [await _login(app, e) for e in (ADMIN, MEMBER, OTHER_ADMIN)]
    try:
        yield Site(c, app, ids["acme"], ids["other"], *clients)
    finally:
        for client in clients:
            await client.aclose()
        await c.close()
