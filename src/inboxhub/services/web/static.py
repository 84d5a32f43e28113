"""Serving the built web app (``web/`` → ``dist/`` here, by ``npm run build``).

Hashed bundles under ``/assets/`` never change, so browsers keep them for a year;
``index.html`` names the current ones, so it is revalidated on every load. Any other
GET for a path the API does not know is the app's own route (``/search``,
``/thread/…``): it gets ``index.html`` and the app draws the page. Paths of the API
and of the operators' endpoints keep their usual 404 / 405.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from inboxhub.services.gateway.headers import UI_POLICY

DIST = Path(__file__).with_name("dist")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_THE_APP = ("/api/", "/.well-known/", "/healthz", "/readyz", "/metrics")

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>inboxhub: web inbox not built</title></head>
<body><h1>The web inbox is not built</h1>
<p>inboxhub serves its web app from <code>{dist}</code>, which holds no build.
Build it with Node.js 20+ and npm:</p>
<pre>make run</pre><p>or</p><pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>The REST API works without it: <a href="/api/docs">/api/docs</a>.</p></body></html>
"""


class _Assets(StaticFiles):
    """Hashed, immutable bundles."""

    async def check_config(self) -> None:
        if self.directory is not None and Path(self.directory).is_dir():
            await super().check_config()  # not built: a plain 404, not a 500

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["Content-Security-Policy"] = UI_POLICY
        return response


class _AppFallback:
    """What the router answers when no route matches: the app's page (or one of the
    files beside it) for a browser's GET, the router's own 404 for anything else."""

    def __init__(self, dist: Path, not_found: ASGIApp) -> None:
        self.dist, self.not_found = dist.resolve(), not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        browser_get = scope["type"] == "http" and scope["method"] in ("GET", "HEAD")
        if not browser_get or path.startswith(NOT_THE_APP):
            await self.not_found(scope, receive, send)
            return
        await self._page(path)(scope, receive, send)

    def _page(self, path: str) -> Response:
        index = self.dist / "index.html"
        if not index.is_file():
            body = NOT_BUILT.format(dist=self.dist)
            return _ui(HTMLResponse(body, status_code=503), REVALIDATE)
        file = (self.dist / path.lstrip("/")).resolve()
        if file != index and file.is_file() and file.is_relative_to(self.dist):
            return _ui(FileResponse(file), REVALIDATE)  # favicon and the like
        return _ui(FileResponse(index, media_type="text/html"), REVALIDATE)


def _ui(response: Response, cache: str) -> Response:
    response.headers["Cache-Control"] = cache
    response.headers["Content-Security-Policy"] = UI_POLICY
    return response


def install(app: FastAPI, dist: Path = DIST) -> None:
    """Serve the app at ``/``: call after every router is included."""
    app.mount("/assets", _Assets(directory=dist / "assets", check_dir=False), name="web-assets")
    router: Router = app.router
    router.default = _AppFallback(dist, router.default)
