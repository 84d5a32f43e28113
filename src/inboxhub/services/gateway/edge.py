"""What every request passes through before a route, in this order (outermost
first): request id, security headers, last-resort 500, CORS, metrics, rate
limit, body limit.

The request id and the headers come first so that every answer (a 429, a 413, a
500, a CORS refusal) carries them; CORS is outside the limits so a browser can
read a 429's Retry-After; the rate limit is checked before any body is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI

from inboxhub.services.gateway import headers, health, problems, request_ids
from inboxhub.services.gateway.bodylimit import BodyLimitMiddleware
from inboxhub.services.gateway.ratelimit import Limits, RateLimitMiddleware
from inboxhub.settings import Settings


def install(app: FastAPI, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
    # Starlette wraps each added middleware around those added before it.
    # Uploads of attachments to send (services/sender/uploads.py) may be larger.
    uploads = {"/api/v1/uploads": settings.upload_max_bytes + 64 * 1024}
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes, larger=uploads)
    if settings.rate_limit_enabled:
        app.add_middleware(RateLimitMiddleware, limits=Limits.from_settings(settings, clock))
    health.install_metrics(app)
    headers.install_cors(app, settings.cors_origins)
    app.add_middleware(problems.UnexpectedErrors)
    app.add_middleware(
        headers.SecurityHeadersMiddleware,
        hsts=settings.public_url.startswith("https://"),
        page_policies=headers.docs_policies(app),
    )
    request_ids.install(app)
