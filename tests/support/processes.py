"""Running inboxhub as real processes, and waiting on conditions (never sleeping)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
INBOXHUB = str(Path(sys.executable).with_name("inboxhub"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(
    condition: Callable[[], T | None],
    timeout: float = 60.0,
    what: str = "condition",
    every: float = 0.05,
) -> T:
    """Poll ``condition`` every ``every`` s until it returns something truthy, or fail
    after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except AssertionError:
            raise  # the condition says waiting is pointless
        except Exception as exc:  # the thing waited for may not be up yet
            last_error = exc
        time.sleep(every)
    raise TimeoutError(f"{what} not reached in {timeout}s (last error: {last_error!r})")


async def wait_until(
    condition: Callable[[], Awaitable[T | None]], timeout: float = 30.0, what: str = "condition"
) -> T:
    """``wait_for`` for a coroutine condition, on the running event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout}s")
        await asyncio.sleep(0.1)


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOXHUB_")}
    env.update({"INBOXHUB_DATA_DIR": str(data_dir), "INBOXHUB_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def cli(
    data_dir: Path, *args: str, timeout: float = 300, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INBOXHUB, *args],
        env=env_for(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def running_server(data_dir: Path, port: int | None = None, **extra: str) -> Iterator[str]:
    """``inboxhub run`` as a child process; yields its base URL once it is ready."""
    port = port or free_port()
    log = (data_dir.parent / f"server-{port}.log").open("w")
    proc = subprocess.Popen(
        [INBOXHUB, "run"],
        env=env_for(data_dir, INBOXHUB_PORT=str(port), **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, f"inboxhub run exited: see {log.name}"
            return httpx.get(f"{base}/readyz").status_code == 200

        wait_for(ready, timeout=60, what="inboxhub run ready")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


# Linux counts the pages a forked child shares with its parent in the child's peak
# RSS, and exec keeps that peak (ru_maxrss): a command started from a test that has
# just generated 300 MB of mail "peaks" at 300 MB even if it is /bin/true. A launcher
# of a few MB forks the command instead, so the peak it reports is the command's own.
_PEAK_LAUNCHER = """
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):  # die of the same signal
    if os.WTERMSIG(status) != signal.SIGKILL:
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_with_peak(
    cmd: list[str], env: dict[str, str], **popen: object
) -> tuple[subprocess.CompletedProcess[bytes], int]:
    """Run ``cmd`` to its end; the finished process, and its peak RSS in KiB (its
    reaped descendants' included)."""
    fd, report = tempfile.mkstemp(prefix="peak-")
    os.close(fd)
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _PEAK_LAUNCHER, report, *cmd],
        env=env,
        start_new_session=True,  # so a failure here takes the command down with it
        **popen,  # type: ignore[call-overload]
    )
    try:
        out, err = proc.communicate()
        peak = int(Path(report).read_text() or 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.unlink(report)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak
