"""Every error as RFC 9457 ``application/problem+json``; never a stack trace."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inboxhub.domain.errors import InboxhubError
from inboxhub.services.gateway import request_ids

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"
_TYPE_BASE = "https://inboxhub.dev/problems/"


def problem(
    status: int, title: str, detail: str, request: Request, extra: dict[str, Any] | None = None
) -> JSONResponse:
    """The problem document; ``extra['retry_after']`` (seconds) also becomes the
    ``Retry-After`` header (RFC 9110 §10.2.3), rounded up to whole seconds."""
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
    retry_after = (extra or {}).get("retry_after")
    if isinstance(retry_after, int | float) and retry_after >= 0:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    # Errors the outermost error handler answers (a 500) pass no middleware of ours:
    # name the request here too.
    rid = getattr(request.state, "request_id", None)
    if rid:
        headers[request_ids.HEADER] = rid
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(
    app: FastAPI, answered: Callable[[Request, InboxhubError], Awaitable[None]] | None = None
) -> None:
    """``answered`` sees each domain error before it is answered (the audit trail
    records refusals: ``services/audit/refusals.py``); its own failure is logged."""
    document(app)

    @app.exception_handler(InboxhubError)
    async def domain_error(request: Request, exc: InboxhubError) -> JSONResponse:
        if answered is not None:
            try:
                await answered(request, exc)
            except Exception:
                log.exception("problem.hook_failed", path=request.url.path)
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
        title = {404: "Not found", 405: "Method not allowed", 413: "Content too large"}.get(
            exc.status_code, "HTTP error"
        )
        response = problem(exc.status_code, title, str(exc.detail), request)
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", path=request.url.path)
        return problem(500, "Internal error", "an unexpected error occurred", request)


class UnexpectedErrors:
    """Answers an exception no handler took with a 500 problem from inside our
    middleware, so that it gets the security headers and the request id like any
    other answer (the app's own last-resort handler sits outside all middleware).
    After the response started there is nothing to answer: the error goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            if started:
                raise
            request = Request(scope)
            log.exception("request.failed", path=request.url.path)
            response = problem(500, "Internal error", "an unexpected error occurred", request)
            await response(scope, receive, send)


# -- the OpenAPI document says so ------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; some add fields (errors, retry_after)",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
#: what every operation of a kind may answer, whatever its route declares
COMMON_PROBLEMS = {
    "401": "no valid credentials (bearer token, refresh token, code or ticket)",
    "403": "the caller's roles do not allow this",
    "404": "nothing of that id in the caller's tenant",
    "413": "the request body is too large",
    "422": "the request does not match the API, or the service refuses its content",
    "429": "a rate limit is exhausted: retry after Retry-After seconds",
}


def declares(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers one of the common problems although
    nothing in its signature says so (a 401 without a bearer token, say)."""
    return {status: {"description": COMMON_PROBLEMS[str(status)]} for status in statuses}


def _common(op: dict[str, Any], secured: bool) -> set[str]:
    params = op.get("parameters", [])
    statuses = {"429"}
    if "requestBody" in op:
        statuses |= {"413", "422"}
    if params:
        statuses.add("422")
    if any(p.get("in") == "path" or p["name"].endswith("_id") for p in params):
        statuses.add("404")  # an id in the path, or a query's mailbox_id...
    if secured:
        statuses |= {"401", "403"}
    return statuses


def document(app: FastAPI) -> None:
    """Errors in the OpenAPI document as they are sent: every 4xx/5xx as
    ``application/problem+json``, the statuses every route of a kind may answer
    (a token's 401/403, a path id's 404, a body's 413/422, the rate limits' 429).
    An operation takes a token if it says so (``security``: ``current_principal``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = generate()
        doc.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for item in doc.get("paths", {}).values():
            for op in item.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                responses = op["responses"]
                for status in _common(op, bool(op.get("security"))):
                    responses.setdefault(status, {"description": COMMON_PROBLEMS[status]})
                for status, response in responses.items():
                    if status[:1] in ("4", "5"):
                        response["content"] = content
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
