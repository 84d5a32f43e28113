"""What authentication costs: a password login, a token check, and an authenticated
request through the gateway compared with one that needs no token.

Runs the embedded defaults in a temp dir, in process (httpx over ASGI: no sockets,
so what is timed is inboxhub's own work):

* ``argon2id_verify_ms``: one password check (RFC 9106 low-memory profile), the
  floor of every login;
* ``login_ms``: ``POST /api/v1/auth/login`` (lockout bookkeeping, the check,
  a token pair, audit);
* ``verify_token_us``: one EdDSA access-token verification;
* ``me_ms`` vs ``healthz_ms``: ``GET /api/v1/users/me`` (verify, tenant gate,
  revocation check, rate limits, one row read) against ``GET /healthz`` (the
  middleware alone), p50/p99 over ``--requests`` sequential requests each.

One JSON line on stdout. Usage: python bench/auth.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inboxhub.runtime import build_auth, open_container
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import load_settings

EMAIL, PASSWORD = "bench@example.com", "a long bench password"


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 3),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


async def _timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def main(requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), rate_limit_user_per_minute=10**9)
        c = await open_container(settings)
        try:
            auth = await build_auth(c)
            await bootstrap(c.directory, c.bus, auth.hasher, "bench", EMAIL, PASSWORD)
            app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                body = {"email": EMAIL, "password": PASSWORD}

                async def login() -> None:
                    r = await client.post("/api/v1/auth/login", json=body)
                    assert r.status_code == 200, r.text

                logins = await _timed(20, login)
                r = await client.post("/api/v1/auth/login", json=body)
                token = r.json()["access_token"]
                client.headers["Authorization"] = f"Bearer {token}"

                async def get(path: str) -> None:
                    assert (await client.get(path)).status_code == 200

                await _timed(50, lambda: get("/api/v1/users/me"))  # warm up
                me = await _timed(requests, lambda: get("/api/v1/users/me"))
                health = await _timed(requests, lambda: get("/healthz"))
            hashed = auth.hasher.hash(PASSWORD)
            argon = [_once(lambda: auth.hasher.verify(hashed, PASSWORD)) for _ in range(20)]
            verify = [_once(lambda: auth.tokens.verify_access(token)) for _ in range(2000)]
        finally:
            await c.close()
    return {
        "bench": "auth",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "argon2id_verify_ms": round(statistics.median(argon) * 1000, 1),
        "login_ms": _ms(logins),
        "verify_token_us": round(statistics.median(verify) * 1e6, 1),
        "me_ms": _ms(me),
        "healthz_ms": _ms(health),
        "requests": requests,
    }


def _once(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.requests))))
