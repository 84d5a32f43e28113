"""Every error as RFC 9457 ``application/problem+json``; never a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from inboxhub.domain.errors import InboxhubError

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"
_TYPE_BASE = "https://inboxhub.dev/problems/"


def problem(
    status: int, title: str, detail: str, request: Request, extra: dict[str, Any] | None = None
) -> JSONResponse:
    body = {
        "type": _TYPE_BASE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **(extra or {}),
    }
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(InboxhubError)
    async def domain_error(request: Request, exc: InboxhubError) -> JSONResponse:
        extra = {k: v for k, v in exc.extra.items() if k != "www_authenticate"}
        return problem(exc.status, exc.title, exc.detail, request, extra)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(
            422,
            "Invalid request",
            "the request does not match the API",
            request,
            {"errors": errors},
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        return problem(exc.status_code, title, str(exc.detail), request)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", path=request.url.path)
        return problem(500, "Internal error", "an unexpected error occurred", request)
