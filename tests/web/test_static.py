"""How inboxhub serves the web app: its CSP, caching, the app's own paths, and a clear
page when it is not built."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from inboxhub.services.gateway.headers import UI_POLICY
from inboxhub.services.web import static
from tests.web.conftest import Site

pytestmark = pytest.mark.e2e


def test_the_app_is_served_with_its_policy_and_cache_rules(site: Site) -> None:
    index = httpx.get(site.base + "/")
    assert index.status_code == 200 and '<div id="app">' in index.text
    assert index.headers["content-security-policy"] == UI_POLICY
    directives = dict((d.split()[0], d.split()[1:]) for d in UI_POLICY.split(";") if d.strip())
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert index.headers["cache-control"] == "no-cache"
    asset = next((static.DIST / "assets").glob("*.js")).name
    bundle = httpx.get(f"{site.base}/assets/{asset}")
    assert bundle.status_code == 200
    assert bundle.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "<script>" not in index.text  # no inline script: the policy would refuse it
    deep = httpx.get(site.base + "/thread/some-conversation")
    assert deep.status_code == 200 and deep.text == index.text
    api = httpx.get(site.base + "/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.headers["content-security-policy"].startswith("default-src 'none'")
    assert httpx.get(site.base + "/api/v1/auth/login").status_code == 405
    assert httpx.post(site.base + "/thread/x").status_code in (404, 405)


def test_without_a_build_the_page_says_how_to_build(tmp_path: Path) -> None:
    app = FastAPI()
    static.install(app, dist=tmp_path / "missing")
    with TestClient(app) as client:  # its own event loop: Playwright's may be running
        page = client.get("/")
        assert page.status_code == 503
        assert "npm ci" in page.text and "make run" in page.text
        assert client.get("/assets/index.js").status_code == 404
