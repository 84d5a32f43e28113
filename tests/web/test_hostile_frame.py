"""The message frame is a wall of its own: HTML that the API's sanitiser would never
let through (the email view's response is altered in the browser with
``page.route``) still runs nothing, loads nothing and navigates nowhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.processes import free_port, wait_for
from tests.web import corpus
from tests.web.conftest import Browsing
from tests.web.test_reading import open_conversation

pytestmark = pytest.mark.e2e
SUBJECT = "Weekly newsletter"


@dataclass
class Canary:
    """A loopback HTTP server that remembers every request made to it."""

    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"


@pytest.fixture()
def canary() -> Iterator[Canary]:
    server = Canary(free_port())

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            server.hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(corpus.PNG)))
            self.end_headers()
            self.wfile.write(corpus.PNG)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", server.port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield server
    httpd.shutdown()


def unsanitised(c: Canary) -> str:
    """Every way HTML could run, load or navigate; each reaches its own canary path."""
    pwn = "window.__pwned='{0}';try{{window.top.__pwned='{0}'}}catch(e){{}};"
    ping = "new Image().src='{0}';fetch('{0}');"

    def run(name: str) -> str:
        return pwn.format(name) + ping.format(c.url(name))

    return f"""
<p>harmless text</p>
<script>{run("script")}document.body.setAttribute('data-pwned','script');alert('script');</script>
<img alt="broken" src="data:image/png;base64,AAAA" onerror="{run("onerror")}alert('onerror')">
<svg onload="{run("svg")}"><circle r="1"/></svg>
<iframe title="inner" src="{c.url("iframe")}"></iframe>
<iframe title="inner-srcdoc" srcdoc="<script>{run("srcdoc")}</script>"></iframe>
<meta http-equiv="refresh" content="0;url={c.url("refresh")}">
<object data="{c.url("object")}"></object>
<link rel="stylesheet" href="{c.url("stylesheet")}">
<form action="{c.url("form")}" method="get"><input name="q" value="1">
<button type="submit">Send the form</button></form>
<a href="javascript:{run("javascript")}alert('js')">click me</a>
<p><img alt="allowed" src="{c.url("allowed-image")}"></p>
"""


def test_the_frame_runs_nothing_even_unsanitised(web: Browsing, canary: Canary) -> None:
    page = web.page
    hostile = unsanitised(canary)
    altered: list[str] = []

    def alter(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        if body.get("subject") == SUBJECT:
            body["html"] = hostile
            altered.append(body["id"])
        route.fulfill(response=response, json=body)

    def email_view(url: str) -> bool:
        path = url.split("?", 1)[0]
        return path.count("/") == 6 and "/api/v1/emails/" in path  # /api/v1/emails/{id}

    loaded: list[str] = []  # requests that got an answer (the ones CSP blocks fail)
    page.on("requestfinished", lambda r: loaded.append(r.url))
    popups: list[Any] = []
    page.context.on("page", lambda p: popups.append(p))
    page.route(email_view, alter)

    web.sign_in()
    open_conversation(web, SUBJECT)
    start = page.url
    frame = page.frame_locator("iframe.message-frame")
    expect(frame.locator("body")).to_contain_text("harmless text")
    assert altered, "the email view was not altered"
    frame.get_by_role("button", name="Send the form").click()
    frame.get_by_text("click me").click()
    # A control that can happen: allowing remote images loads the one image, so the
    # canary works and anything the rest had set off would have reached it by then.
    page.get_by_role("button", name="Show images").click()
    allowed = frame.get_by_role("img", name="allowed")
    expect(allowed).to_have_attribute("src", canary.url("allowed-image"))
    wait_for(lambda: "/allowed-image" in canary.hits, timeout=60, what="the allowed image")
    web.shot("25-unsanitised-message")

    assert canary.hits == ["/allowed-image"], canary.hits
    assert [u for u in loaded if str(canary.port) in u] == [canary.url("allowed-image")]
    assert web.dialogs == []
    assert popups == []
    assert page.url == start
    assert page.evaluate("window.__pwned") is None
    assert page.title() != "pwned"
    expect(frame.locator("body[data-pwned]")).to_have_count(0)
    message = next(f for f in page.frames if f.parent_frame == page.main_frame)
    assert message.url in ("about:srcdoc", ""), message.url  # not refreshed away
    assert not [f for f in page.frames if str(canary.port) in f.url]
    assert not [c for c in web.console if c.startswith("pageerror")]
    assert any("Refused to execute the redirect" in c for c in web.console)  # it was tried
