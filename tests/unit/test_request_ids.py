"""Every response names its request; a caller's well-formed id is kept."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from inboxhub.services.gateway import request_ids


def app() -> FastAPI:
    a = FastAPI()
    request_ids.install(a)

    @a.get("/echo")
    async def echo() -> dict[str, str]:
        return {}

    return a


async def test_ids_are_made_or_kept() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app()), base_url="http://t"
    ) as client:
        made = (await client.get("/echo")).headers["x-request-id"]
        assert len(made) == 32
        assert (await client.get("/echo")).headers["x-request-id"] != made
        kept = await client.get("/echo", headers={"X-Request-Id": "abc-123"})
        assert kept.headers["x-request-id"] == "abc-123"
        forged = await client.get("/echo", headers={"X-Request-Id": "x\u0001" + "y" * 300})
        assert forged.headers["x-request-id"] not in ("", "x\u0001" + "y" * 300)
