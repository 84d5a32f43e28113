"""What the fault tests share: messages with known Message-IDs, an import running in
the background, the truth read straight from MongoDB and Elasticsearch, outages of
one server, memory of a process, and a check that nothing is left running.

Sizes come from the environment so `make test-faults` runs the issue's full sizes
and the CI run (`make test`) smaller ones: ``INBOXHUB_FAULT_MESSAGES`` (messages of
the kill -9 import), ``INBOXHUB_FAULT_OUTAGE_SECONDS`` (how long a server stays
down), ``INBOXHUB_FAULT_FLOOD`` (messages of the backpressure import).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

import httpx
import pymongo

from tests.support.distributed import Deployment
from tests.support.messages import dated, make_message, write_maildir
from tests.support.processes import INBOXHUB, env_for, wait_for
from tests.support.servers.base import ServerProcess


def size(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def message_ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i}@faults.example" for i in range(count)]


def maildir_of(root: Path, prefix: str, count: int, body: int = 0) -> tuple[Path, set[str]]:
    """A Maildir of ``count`` messages whose Message-IDs are ``<prefix-i@…>``; those ids."""
    ids = message_ids(prefix, count)
    text = "Faults survived, line {i}.\n" + "padding " * (body // 8)
    mail = [
        make_message(f"{prefix} {i}", date=dated(i), message_id=f"<{mid}>", text=text.format(i=i))
        for i, mid in enumerate(ids)
    ]
    return write_maildir(root / prefix, mail), set(ids)


@contextmanager
def background_import(
    d: Deployment, maildir: Path, mailbox: str
) -> Iterator[subprocess.Popen[str]]:
    """``inboxhub import`` against the deployment, running while the test goes on;
    killed (and reaped) on the way out if it still runs."""
    proc = start_import(d, maildir, mailbox)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def start_import(d: Deployment, maildir: Path, mailbox: str) -> subprocess.Popen[str]:
    settings = {k: v for k, v in d.env.items() if k.startswith("INBOXHUB_")}
    return subprocess.Popen(
        [INBOXHUB, "import", str(maildir), "--mailbox", mailbox],
        env=env_for(d.root, **settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(
    proc: subprocess.Popen[str],
    timeout: float,
    progress: Callable[[], int] | None = None,
    stall: float = 300,
) -> str:
    """Wait for an import; its stderr (the test fails with it if the import did). With
    ``progress`` (a count that grows while the pipeline works) a stuck pipeline fails
    once the count has not moved for ``stall`` seconds, not at ``timeout``."""
    deadline = time.monotonic() + timeout
    seen, moved = progress() if progress else 0, time.monotonic()
    while True:
        try:
            _, err = proc.communicate(timeout=5)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if progress and (count := progress()) != seen:
            seen, moved = count, now
        if now > deadline:
            _give_up(proc, f"import still running after {timeout}s")
        if progress and now - moved > stall:
            _give_up(proc, f"no progress for {stall}s at {seen}")
    assert proc.returncode == 0, f"import failed ({proc.returncode}): {err[-3000:]}"
    return err


def _give_up(proc: subprocess.Popen[str], why: str) -> NoReturn:
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"{why}: {err[-3000:]}")


# ---------------------------------------------------------------- the truth


@dataclass
class Truth:
    """The deployment's stores read directly, not through inboxhub."""

    mongo: pymongo.MongoClient[dict[str, Any]]
    database: str
    elastic: str  # http://host:port
    index: str

    @classmethod
    def of(cls, d: Deployment) -> Truth:
        docs = urlsplit(d.env["INBOXHUB_DOCUMENTS_URL"])
        search = urlsplit(d.env["INBOXHUB_SEARCH_URL"])
        prefix = parse_qs(search.query)["index_prefix"][0]
        return cls(
            pymongo.MongoClient(f"mongodb://{docs.netloc}", serverSelectionTimeoutMS=3000),
            docs.path.strip("/"),
            f"http://{search.netloc}",
            f"{prefix}-emails",
        )

    def close(self) -> None:
        self.mongo.close()

    def mailbox_id(self, message_id: str) -> str | None:
        doc = self.mongo[self.database]["emails"].find_one(
            {"message_id": {"$in": [message_id, f"<{message_id}>"]}}, {"mailbox_id": 1}
        )
        return None if doc is None else str(doc["mailbox_id"])

    def stored(self, mailbox_id: str) -> list[str]:
        """The Message-ID of every document of the mailbox (one per document)."""
        cursor = self.mongo[self.database]["emails"].find(
            {"mailbox_id": mailbox_id}, {"message_id": 1}
        )
        return [_bare(d.get("message_id") or "") for d in cursor]

    def stored_count(self, mailbox_id: str) -> int:
        return self.mongo[self.database]["emails"].count_documents({"mailbox_id": mailbox_id})

    def indexed(self, mailbox_id: str) -> list[str]:
        """The Message-ID of every index entry of the mailbox (one per entry)."""
        httpx.post(f"{self.elastic}/{self.index}/_refresh", timeout=30)
        found: list[str] = []
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "size": 1000,
                "query": {"term": {"mailbox_id": mailbox_id}},
                "_source": ["message_id"],
                "sort": [{"id": "asc"}],
            }
            if after is not None:
                body["search_after"] = after
            r = httpx.post(f"{self.elastic}/{self.index}/_search", json=body, timeout=60)
            r.raise_for_status()
            hits = r.json()["hits"]["hits"]
            found += [_bare(h["_source"].get("message_id") or "") for h in hits]
            if len(hits) < 1000:
                return found
            after = hits[-1]["sort"]

    def indexed_count(self, mailbox_id: str) -> int:
        r = httpx.post(
            f"{self.elastic}/{self.index}/_count",
            json={"query": {"term": {"mailbox_id": mailbox_id}}},
            timeout=30,
        )
        return int(r.json()["count"]) if r.status_code == 200 else 0

    def assert_exactly_once(self, mailbox_id: str, expected: set[str]) -> None:
        """Every message of ``expected`` stored once and indexed once, nothing else."""
        for where, ids in (("MongoDB", self.stored(mailbox_id)), ("ES", self.indexed(mailbox_id))):
            missing, extra = expected - set(ids), set(ids) - expected
            dupes = len(ids) - len(set(ids))
            assert not missing and not extra and not dupes, (
                f"{where}: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
                f"{len(extra)} unexpected (e.g. {sorted(extra)[:3]}), {dupes} duplicates"
            )


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


# ---------------------------------------------------------------- faults


def kill_9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def stop_server(server: ServerProcess, crash: bool = True) -> None:
    """The server goes away, as a crash would (SIGKILL to its process group) or
    stopped (SIGTERM); its data stays on disk for the restart."""
    if crash:
        server.kill()
    else:
        server.stop()


def restart_server(server: ServerProcess, port: int, *more_ports: int) -> None:
    server.start(port, timeout=120)
    for p in more_ports:
        server.wait_ready(p, timeout=120)


def readiness(base_url: str) -> tuple[int, dict[str, str]]:
    r = httpx.get(f"{base_url}/readyz", timeout=10)
    return r.status_code, r.json().get("checks", {})


def hold_outage(base_url: str, dependency: str, seconds: float) -> list[tuple[int, dict[str, str]]]:
    """Keep the outage for ``seconds`` while watching ``/readyz``; what it said."""
    seen: list[tuple[int, dict[str, str]]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen.append(readiness(base_url))
        except (httpx.HTTPError, ValueError) as exc:
            seen.append((0, {"gateway": repr(exc)}))
        time.sleep(1.0)  # the outage's length is the point here, not a wait
    return seen


# ---------------------------------------------------------------- processes


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def processes_of(root: Path) -> list[int]:
    """Live processes started for a deployment under ``root`` (they all carry its data
    dir in their environment, orphaned grandchildren included)."""
    mark = f"INBOXHUB_DATA_DIR={root}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if any(v.startswith(mark) for v in environ.read_bytes().split(b"\0")):
                stat = environ.with_name("stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] != "Z":
                    found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def assert_nothing_left(root: Path) -> None:
    """Fail (after killing them, so the next test starts clean) if any process of the
    deployment under ``root`` outlived it."""
    try:
        wait_for(lambda: not processes_of(root), timeout=30, what=f"processes of {root} gone")
    except TimeoutError:
        left = processes_of(root)
        names = {}
        for pid in left:
            with contextlib.suppress(OSError):
                names[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200]
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"processes left running: {names}") from None
