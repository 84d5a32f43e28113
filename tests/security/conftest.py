"""One world per test module: a container on the embedded adapters with its processor
and indexer running, the whole app (``create_app(..., ("gateway",))``) in process,
and two tenants full of objects (tests/security/world.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from inboxhub.runtime import build_auth, open_container, start_consumers
from inboxhub.services.gateway.app import create_app
from inboxhub.settings import Settings
from tests.security.world import World, build_world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    root = tmp_path_factory.mktemp("security")
    (root / "archives").mkdir()
    settings = Settings(
        data_dir=root / "data",
        processor_workers=1,
        consumer_backoff_seconds=0.01,
        consumer_max_attempts=2,
        local_mail_root=str(root / "archives"),
        rate_limit_enabled=False,
        google_client_id="security-suite.apps.googleusercontent.com",  # consent URLs
        google_client_secret="not-a-secret",  # thousands of calls a minute, by a few users
        webhook_allow_http=True,  # webhooks created through the API point at loopback
        webhook_allow_private_hosts=True,
    )
    c = await open_container(settings)
    stop = asyncio.Event()
    tasks = start_consumers(c, ("processor", "indexer"), stop)
    auth = await build_auth(c)
    app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield await build_world(c, auth, app, client, root)
    stop.set()
    await asyncio.gather(*tasks)
    await c.close()
