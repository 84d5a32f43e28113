"""API throughput and latency: list, view and search with 50 concurrent clients.

Imports a generated Maildir into a fresh data dir, starts `inboxhub run` (the
gateway and every service in one process, embedded adapters), signs in as the
bootstrap admin and drives three scenarios with wrk (Debian's `wrk`), 50
connections each, through the same HTTP front the web inbox uses:

* list:   GET /api/v1/emails?limit=50 (newest first, all inboxes)
* view:   GET /api/v1/emails/{id}, rotating over 500 ids
* search: GET /api/v1/search?q=…, rotating over a fixed set of queries (by relevance,
  the default)
* search_newest: the same queries, newest first (``order=date``)

The gateway's rate limits are switched off for the run (they would answer most of
these requests with 429: one user sends them all). wrk and the server share the
machine's cores. One JSON line on stdout.

Usage: python bench/api.py [--count 10000] [--seconds 20] [--connections 50] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import write_corpus
from bench.ingest import run_inboxhub

INBOXHUB = str(Path(sys.executable).with_name("inboxhub"))
ADMIN, PASSWORD = "bench@example.com", "bench-password-1"
QUERIES = (
    "meeting",
    "from:alice",
    "subject:report",
    "has:attachment",
    '"quarterly numbers"',
    "invoice OR receipt",
    "newer_than:3650d budget",
    "-is:read project",
)

# wrk calls request() per request and done() once; done() prints one JSON object.
WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer %s"})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%.3f, "non_2xx": %%d, "timeouts": %%d, "socket_errors": %%d, '
    .. '"p50_ms": %%.2f, "p99_ms": %%.2f}\\n',
    summary.requests, summary.duration / 1e6, e.status, e.timeout, e.connect + e.read + e.write,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(data: Path, port: int):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "INBOXHUB_DATA_DIR": str(data),
        "INBOXHUB_LOG_LEVEL": "WARNING",
        "INBOXHUB_ADMIN_EMAIL": ADMIN,
        "INBOXHUB_ADMIN_PASSWORD": PASSWORD,
        "INBOXHUB_RATE_LIMIT_ENABLED": "false",
    }
    proc = subprocess.Popen(
        [INBOXHUB, "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("inboxhub run did not become ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def wrk(base: str, token: str, paths: list[str], args: argparse.Namespace, work: Path) -> Any:
    script = work / "wrk.lua"
    quoted = ", ".join(json.dumps(p) for p in paths)
    script.write_text(WRK_SCRIPT % (quoted, token))
    # A long timeout: wrk's default (2 s) drops the slowest requests from the latencies.
    load = ["-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "30s", "--latency"]
    out = subprocess.run(
        ["wrk", *load, "-s", str(script), base],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["requests_per_s"] = round(result["requests"] / result["seconds"], 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--workdir", type=Path, default=Path("bench/out"))
    ap.add_argument("--reuse", action="store_true", help="keep the last run's import")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: bench/install-peers.sh installs it (Debian's wrk)")
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    maildir = write_corpus(work / f"maildir-{args.count}", args.count)
    data = work / "api-data"
    os.environ["INBOXHUB_ADMIN_EMAIL"] = ADMIN  # the import creates the tenant and admin
    os.environ["INBOXHUB_ADMIN_PASSWORD"] = PASSWORD
    if not (args.reuse and (data / "imported").exists()):
        run_inboxhub(maildir, data)
        (data / "imported").write_text(str(args.count))
    with server(data, free_port()) as base:
        login = httpx.post(f"{base}/api/v1/auth/login", json={"email": ADMIN, "password": PASSWORD})
        login.raise_for_status()
        token = login.json()["access_token"]
        page = httpx.get(
            f"{base}/api/v1/emails",
            params={"limit": 500},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        ids = [item["id"] for item in page["items"]]
        scenarios = {
            "list": ["/api/v1/emails?limit=50"],
            "view": [f"/api/v1/emails/{i}" for i in ids],
            "search": [f"/api/v1/search?q={quote(q)}&limit=50" for q in QUERIES],
            "search_newest": [f"/api/v1/search?q={quote(q)}&limit=50&order=date" for q in QUERIES],
        }
        results = {name: wrk(base, token, paths, args, work) for name, paths in scenarios.items()}
    print(
        json.dumps(
            {
                "bench": "api",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "messages": args.count,
                "connections": args.connections,
                "seconds_per_scenario": args.seconds,
                **results,
            }
        )
    )


if __name__ == "__main__":
    main()
