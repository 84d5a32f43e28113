"""Starting, waiting for and stopping one server process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.processes import free_port, wait_for

VENV_BIN = Path(sys.executable).parent


class Unavailable(RuntimeError):
    """The server's program is not installed here (the message says how to get it)."""


def find_program(name: str, hint: str) -> str:
    """``name`` from the venv first, then ``PATH``."""
    local = VENV_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise Unavailable(f"{name} not found ({hint})")
    return found


def free_ports(n: int, spread: int = 0) -> list[int]:
    """``n`` free loopback ports; with ``spread``, each ``p + spread`` is free as well
    and no port is another's ``± spread`` (SeaweedFS binds port + 10000 for gRPC
    beside every port it is given)."""
    ports: list[int] = []
    while len(ports) < n:
        port = free_port()
        taken = {*ports, *(p + spread for p in ports), *(p - spread for p in ports)}
        if port in taken:
            continue  # SeaweedFS refuses a port that is another one's gRPC port
        if spread and not (port + spread < 65536 and _free(port + spread)):
            continue
        ports.append(port)
    return ports


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class ServerProcess:
    """One running server: its process, its log, and how to stop it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        workdir: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.env = {**os.environ, **(env or {})}
        self.user = user
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_port: int, timeout: float = 60.0) -> None:
        argv = ["runuser", "-u", self.user, "--", *self.argv] if self.user else self.argv
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(ready_port, timeout)

    def wait_ready(self, port: int, timeout: float = 60.0) -> None:
        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (
                f"{self.name} exited: {self.log_tail()}"
            )
            return port_open(port)

        wait_for(up, timeout=timeout, what=f"{self.name} on port {port}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the whole process group, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(os.getpgid(self.proc.pid), signal.SIGKILL)
            self.proc.wait()
