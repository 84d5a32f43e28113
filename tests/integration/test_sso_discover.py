"""``GET /api/v1/auth/sso/discover``: which sign-on a tenant offers, with nothing that
tells an unknown tenant from one without single sign-on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.idp.harness import site
from tests.idp.oidc import CLIENT_ID, CLIENT_SECRET, OidcIdp


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcIdp]:
    server = OidcIdp().start()
    yield server
    server.stop()


async def test_only_configured_protocols_and_the_same_answer_otherwise(
    tmp_path: Path, idp: OidcIdp
) -> None:
    async with site(tmp_path) as s:
        body = {"issuer": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        assert (await s.admin.put("/api/v1/sso/oidc", json=body)).status_code == 200
        async with s.browser() as browser:

            async def offer(tenant: str) -> object:
                r = await browser.get("/api/v1/auth/sso/discover", params={"tenant": tenant})
                assert r.status_code == 200, r.text
                assert r.json()["tenant"] == tenant
                return r.json()["methods"]

            assert await offer("acme") == [
                {"protocol": "oidc", "login_url": "/api/v1/auth/sso/acme/oidc/login"}
            ]
            text = (await browser.get("/api/v1/auth/sso/discover?tenant=acme")).text
            assert CLIENT_ID not in text and idp.issuer not in text  # no configuration
            for nothing in ("other", "unknown", "ACME/../x", "a" * 100):
                assert await offer(nothing) == []
            await s.c.tenancy.update_tenant(s.acme, status="suspended")
            assert await offer("acme") == []
            too_long = await browser.get("/api/v1/auth/sso/discover", params={"tenant": "a" * 101})
            assert too_long.status_code == 422
