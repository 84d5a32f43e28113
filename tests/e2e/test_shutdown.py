"""SIGTERM (what systemd, Kubernetes and Ctrl-C's cousin send) stops a process cleanly:
HTTP first, then the consumers finish their batch and the adapters close, exit 0.

uvicorn, once stopped, raises the signal again for the handler it found; with the
default one there the process died of it (exit -15) before any of that ran.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.processes import INBOXHUB, env_for, free_port, wait_for

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command", [["run"], ["serve", "processor"], ["serve", "api"]], ids=" ".join
)
def test_sigterm_stops_the_process_cleanly(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    data = tmp_path / "data"
    if command != ["run"]:  # one service alone: the schema exists already
        migrated = subprocess.run(
            [INBOXHUB, "migrate"], env=env_for(data), capture_output=True, timeout=120
        )
        assert migrated.returncode == 0, migrated.stderr.decode()
        command = [*command, "--port", str(port)]
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [INBOXHUB, *command],
            env=env_for(data, INBOXHUB_PORT=str(port), INBOXHUB_LOG_LEVEL="INFO"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200

        wait_for(healthy, timeout=120, what=" ".join(command))
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = log.read_text()
    assert code == 0, said[-3000:]
    assert "inboxhub.stopped" in said, said[-3000:]
