"""Security headers on every response, and CORS from settings.

API responses are JSON that no browser should render, frame or let load anything:
``Content-Security-Policy: default-src 'none'``. The Swagger UI page (/api/docs)
is the one HTML page; it loads its script and stylesheet from a CDN and runs one
inline script, so it gets a policy naming exactly those (the inline script by its
hash, computed from the page FastAPI serves). A route that sets its own CSP (an
HTML page of a sign-on flow, say) keeps it; the other headers are always set.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inboxhub.services.gateway import request_ids

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The web inbox (services/web/): its own scripts and stylesheets only, no inline
# script. A message is shown in a sandboxed srcdoc iframe, which inherits this policy
# and narrows it with its own: style attributes are what mail is styled with, and
# remote images (http: https:) load only after the reader allows them for that
# message; blob: serves attachment previews fetched with the bearer token. 'self' in
# connect-src covers the same origin's ws:/wss: (CSP Level 3).
UI_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data: blob: https: http:; font-src 'self' data:; media-src blob:; "
    "frame-src 'self' blob:; child-src 'self' blob:; connect-src 'self'; "
    "manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), microphone=(), "
        "payment=(), usb=()"
    ),
}
HSTS = "max-age=31536000; includeSubDomains"

_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.S | re.I)
_SRC = re.compile(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)["']""", re.I)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_policy(html: str) -> str:
    """A CSP allowing what one HTML page loads: the origins of its external scripts,
    stylesheets and icons, its inline scripts by hash, requests to its own origin."""
    origins = " ".join(sorted({_origin(u) for u in _SRC.findall(html)}))
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m["body"].encode()).digest()).decode() + "'"
        for m in _SCRIPT.finditer(html)
        if "src" not in m["attrs"].lower()
    )
    return (
        f"default-src 'none'; script-src {origins} {hashes}; "
        # Swagger UI styles its elements inline and draws icons as data: images.
        f"style-src {origins} 'unsafe-inline'; img-src {origins} data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def docs_policies(app: FastAPI) -> dict[str, str]:
    """Path → CSP of the documentation pages, from the HTML FastAPI will serve."""
    if not app.docs_url or not app.openapi_url:
        return {}
    redirect = app.swagger_ui_oauth2_redirect_url
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=redirect,
        init_oauth=app.swagger_ui_init_oauth,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    policies = {app.docs_url: page_policy(bytes(page.body).decode())}
    if redirect:
        policies[redirect] = page_policy(bytes(get_swagger_ui_oauth2_redirect_html().body).decode())
    return policies


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts: bool, page_policies: dict[str, str]) -> None:
        self.app, self.hsts, self.page_policies = app, hsts, page_policies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.page_policies.get(scope["path"], API_POLICY)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
                headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, secured)


def install_cors(app: FastAPI, origins: list[str]) -> None:
    """Browsers on these origins may call the API with a bearer token (no cookies:
    credentials stay off) and read the headers a client needs."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            "Last-Event-ID",
            request_ids.HEADER,
        ],
        expose_headers=["Retry-After", "ETag", "Location", request_ids.HEADER],
        max_age=600,
    )
