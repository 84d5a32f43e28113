"""Request ids: every response carries ``X-Request-Id``, and every log line of the
request has it. A well-formed id from the caller (Traefik forwards the client's)
is kept so a request can be followed across services; otherwise one is made."""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from fastapi import FastAPI, Request

HEADER = "X-Request-Id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(request: Request) -> str:
    given = request.headers.get(HEADER, "")
    return given if _ACCEPTABLE.fullmatch(given) else uuid.uuid4().hex


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Any:
        rid = request_id(request)
        request.state.request_id = rid
        with structlog.contextvars.bound_contextvars(request_id=rid):
            response = await call_next(request)
        response.headers[HEADER] = rid
        return response
