"""Liveness, readiness (every port answers) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("inboxhub_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("inboxhub_http_request_seconds", "HTTP request latency", ["method", "route"])

Check = Callable[[], Awaitable[None]]


def build_router(checks: dict[str, Check]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        async def one(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), 2.0)
                return "ok"
            except Exception as exc:
                return f"error: {type(exc).__name__}: {exc}"[:300]

        results = dict(zip(checks, await asyncio.gather(*map(one, checks.values())), strict=True))
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def install_metrics(app: FastAPI) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Any) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        LATENCY.labels(request.method, path).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        return response
