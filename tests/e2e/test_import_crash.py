"""A crash at any point of an import loses nothing and duplicates nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_pipeline import ADMIN, all_items, login
from tests.support.messages import dated, make_message, write_maildir
from tests.support.processes import INBOXHUB, cli, env_for, running_server, wait_for

pytestmark = pytest.mark.e2e
COUNT = 600


def stored_blobs(data: Path) -> int:
    """Messages the embedded blob store has committed so far (its index)."""
    index = data / "blobs" / "index.db"
    if not index.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{index}?mode=ro", uri=True)) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM blobs").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is being created
            return 0


def descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [d for c in map(int, children) for d in (c, *descendants(c))]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_kill_9_mid_import_then_rerun_gives_each_message_once(tmp_path: Path) -> None:
    messages = [make_message(f"Message {i} about kiwis", date=dated(i)) for i in range(COUNT)]
    maildir = write_maildir(tmp_path / "Maildir", messages)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [INBOXHUB, "import", str(maildir), "--mailbox", "Inbox"],
        env=env_for(data, **ADMIN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill it once part of the archive is stored, before the pipeline can have finished.
    wait_for(lambda: stored_blobs(data) >= 50 or proc.poll() is not None, what="import under way")
    helpers = descendants(proc.pid)  # the consumer processes and their parse workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the import was killed mid-way"
    assert helpers, "the import runs its consumers as child processes"
    wait_for(lambda: not any(alive(pid) for pid in helpers), what="helpers gone with the import")

    rerun = cli(data, "import", str(maildir), "--mailbox", "Inbox", **ADMIN)
    assert rerun.returncode == 0, rerun.stderr

    with running_server(data, **ADMIN) as base:
        client = login(base, "admin@example.com", "s3cret-pass")
        items = all_items(client)
        assert len(items) == COUNT and len({i["id"] for i in items}) == COUNT
        assert {i["subject"] for i in items} == {f"Message {i} about kiwis" for i in range(COUNT)}
        found = client.get("/api/v1/search", params={"q": "kiwis", "limit": 1}).json()
        assert found["total"] == COUNT
