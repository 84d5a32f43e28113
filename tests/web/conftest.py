"""The web inbox in Debian's Chromium (Playwright, headless) against a real
``inboxhub run`` on a temporary data dir, with the mail of ``corpus.py`` imported
through the pipeline. Screenshots of each page go to ``test-output/screenshots/``
(or ``INBOXHUB_SCREENSHOTS``)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxhub.services.web.static import DIST
from tests.fakes.gmail import FakeGmail
from tests.fakes.gmail import serve as serve_gmail
from tests.idp.oidc import OidcIdp
from tests.support.processes import cli, free_port, running_server
from tests.web import corpus

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@example.com", "s3cret-pass-web"
AUDITOR_EMAIL, AUDITOR_PASSWORD = "auditor@example.com", "auditor-pass-web"
ADMIN = {"INBOXHUB_ADMIN_EMAIL": ADMIN_EMAIL, "INBOXHUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
SCREENSHOTS = Path(
    os.environ.get("INBOXHUB_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
)


@dataclass
class PixelServer:
    """A remote image host on loopback that remembers every request."""

    port: int
    hits: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/logo.png"


@pytest.fixture(scope="session")
def pixel() -> Iterator[PixelServer]:
    server = PixelServer(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(corpus.PNG)))
            self.end_headers()
            self.wfile.write(corpus.PNG)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", server.port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()


@dataclass
class Site:
    base: str
    data: Path

    def token(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        r = httpx.post(
            f"{self.base}/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def api(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token(email, password)}"}
        return httpx.Client(base_url=self.base, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def gmail() -> Iterator[FakeGmail]:
    """Google's consent screen, token endpoint and Gmail API (tests/fakes/gmail.py)."""
    with serve_gmail() as fake:
        yield fake


@pytest.fixture(scope="session")
def idp() -> Iterator[OidcIdp]:
    """A real OpenID Provider (authlib) on loopback (tests/idp/oidc.py)."""
    server = OidcIdp().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def extra_env(gmail: FakeGmail) -> dict[str, str]:
    """More settings for the site's ``inboxhub run``: Google points at the fake."""
    return {
        "INBOXHUB_GOOGLE_CLIENT_ID": gmail.client_id,
        "INBOXHUB_GOOGLE_CLIENT_SECRET": gmail.client_secret,
        "INBOXHUB_GOOGLE_AUTH_URL": gmail.auth_url,
        "INBOXHUB_GOOGLE_TOKEN_URL": gmail.token_url,
        "INBOXHUB_GMAIL_API_URL": gmail.url,
    }


@pytest.fixture(scope="session")
def site(
    tmp_path_factory: pytest.TempPathFactory, pixel: PixelServer, extra_env: dict[str, str]
) -> Iterator[Site]:
    if not (DIST / "index.html").is_file():
        pytest.skip(f"the web inbox is not built ({DIST}): `make test` builds it (npm ci, build)")
    root = tmp_path_factory.mktemp("web")
    data = root / "data"
    maildir = corpus.write(root / "Maildir", pixel.url)
    port = free_port()
    env = {
        **ADMIN,
        # the links of the platform's mail and the SSO / consent redirects come back here
        "INBOXHUB_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS": "true",  # the identity provider is on loopback
        **extra_env,
    }
    with running_server(data, port, **env) as base:
        done = cli(data, "import", str(maildir), "--mailbox", "Work", **ADMIN)
        assert done.returncode == 0, done.stderr
        site = Site(base, data)
        with site.api() as api:
            r = api.post(
                "/api/v1/users",
                json={"email": AUDITOR_EMAIL, "roles": ["auditor"], "password": AUDITOR_PASSWORD},
            )
            assert r.status_code == 201, r.text
        yield site


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (`make test` apt-installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (test extra) missing")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield browser
        browser.close()


@dataclass
class Browsing:
    """One browser context (its own storage) and what the page did."""

    page: Any
    site: Site
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def shot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")
        return path

    def sign_in(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
        from playwright.sync_api import expect

        self.page.goto(self.site.base + "/")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()


def _browsing(browser: Any, site: Site, **context: Any) -> Iterator[Browsing]:
    ctx = browser.new_context(accept_downloads=True, **context)
    page = ctx.new_page()
    b = Browsing(page, site)
    page.on("console", lambda m: b.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: b.console.append(f"pageerror: {e}"))

    def on_dialog(dialog: Any) -> None:
        b.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    yield b
    ctx.close()


@pytest.fixture()
def web(browser: Any, site: Site) -> Iterator[Browsing]:
    yield from _browsing(browser, site, viewport={"width": 1280, "height": 860})


@pytest.fixture()
def phone(browser: Any, site: Site) -> Iterator[Browsing]:
    yield from _browsing(
        browser, site, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
