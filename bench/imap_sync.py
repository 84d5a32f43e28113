"""IMAP sync from a local Dovecot, through the product as a user runs it.

A real ``inboxhub run`` (embedded adapters), a Dovecot started by the test harness
with 10,000 generated messages in INBOX, and an IMAP mailbox connected through
``POST /api/v1/mailboxes``. Measured:

* first sync: seconds from connecting the mailbox until the fetcher has fetched,
  stored and announced every message (``messages_synced``), and until every message
  is searchable (the processor and indexer, in the same process, done);
* mbsync (isync, Debian) pulling the same folder into a Maildir in the same run,
  the peer of DESIGN §8 (it only copies; it does not parse or index);
* new mail: seconds from APPENDing a message (to Sent, not INBOX) until the search
  API finds it, over IDLE/NOTIFY, repeated.

Prints one JSON line. ``python bench/imap_sync.py --messages 10000``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import write_corpus  # noqa: E402
from tests.support.processes import running_server, wait_for  # noqa: E402
from tests.support.servers.dovecot import Dovecot  # noqa: E402

PASSWORD = "bench-pass-123"


def login(base: str) -> httpx.Client:
    r = httpx.post(
        f"{base}/api/v1/auth/login", json={"email": "admin@example.com", "password": PASSWORD}
    )
    r.raise_for_status()
    token = r.json()["access_token"]
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def first_sync(api: httpx.Client, dovecot: Dovecot, user: str, n: int) -> tuple[float, float]:
    """Seconds until every message is fetched (stored and announced), and until every
    message is searchable, from connecting the mailbox."""
    settings = {
        "host": "127.0.0.1",
        "port": dovecot.imap_port,
        "security": "none",
        "username": user,
        "password": dovecot.passwords[user],
        "folders": ["INBOX", "Sent"],
    }
    start = time.perf_counter()
    body = {"name": "bench", "provider": "imap", "settings": settings}
    r = api.post("/api/v1/mailboxes", json=body)
    r.raise_for_status()
    url = f"/api/v1/mailboxes/{r.json()['id']}"

    def fetched() -> bool:
        return bool(api.get(url).json()["sync"]["messages_synced"] >= n)

    wait_for(fetched, 3600, "the first sync", every=0.1)
    fetched = time.perf_counter() - start
    wait_for(lambda: search_total(api, "") >= n, 3600, "all searchable", every=0.2)
    return fetched, time.perf_counter() - start


def search_total(api: httpx.Client, q: str) -> int:
    return int(api.get("/api/v1/search", params={"q": q, "limit": 1}).json()["total"])


def found(api: httpx.Client, token: str) -> bool:
    return search_total(api, token) == 1


def new_mail_latency(api: httpx.Client, dovecot: Dovecot, user: str, samples: int) -> list[float]:
    latencies = []
    for i in range(samples):
        token = f"zq{uuid.uuid4().hex[:12]}"
        raw = (
            f"From: a@example.com\r\nTo: {user}@example.com\r\nSubject: ping {token}\r\n"
            f"Message-ID: <{token}@bench>\r\n"
            f"Date: {datetime.now(UTC):%a, %d %b %Y %H:%M:%S +0000}\r\n"
            f"\r\nnew mail {token}\r\n"
        ).encode()
        time.sleep(0.5)
        start = time.perf_counter()
        dovecot.append(user, "Sent" if i % 2 else "INBOX", raw)
        wait_for(partial(found, api, token), 120, "the new mail", every=0.02)
        latencies.append(time.perf_counter() - start)
    return latencies


def run_mbsync(dovecot: Dovecot, user: str, work: Path) -> float | None:
    if not shutil.which("mbsync"):
        return None
    target = work / "mbsync-maildir"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    config = work / "mbsyncrc"
    config.write_text(
        f"IMAPAccount bench\nHost 127.0.0.1\nPort {dovecot.imap_port}\nUser {user}\n"
        f"Pass {dovecot.passwords[user]}\nSSLType None\nAuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {target}/\nInbox {target}/INBOX\n\n"
        "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\n"
        "SyncState *\n"  # in the fresh Maildir, not ~/.mbsync: every run starts clean
    )
    os.sync()
    start = time.perf_counter()
    subprocess.run(["mbsync", "-q", "-c", str(config), "-a"], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="inboxhub-bench-imap-"))
    corpus = write_corpus(work / f"corpus-{args.messages}", args.messages)
    messages = [p.read_bytes() for p in sorted((corpus / "cur").iterdir())]
    messages += [p.read_bytes() for p in sorted((corpus / "new").iterdir())]

    dovecot = Dovecot().start()
    try:
        user, _ = dovecot.new_user("bench")
        dovecot.bulk_load(user, "INBOX", messages[: args.messages])
        peer = run_mbsync(dovecot, user, work)
        env = {"INBOXHUB_ADMIN_PASSWORD": PASSWORD, "INBOXHUB_ALLOW_PRIVATE_MAIL_HOSTS": "true"}
        with running_server(work / "data", **env) as base:
            api = login(base)
            fetched_s, searchable_s = first_sync(api, dovecot, user, args.messages)
            latencies = new_mail_latency(api, dovecot, user, args.samples)
    finally:
        dovecot.stop()
    n = args.messages
    result = {
        "bench": "imap_first_sync",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "messages": n,
        "fetched_msgs_per_s": round(n / fetched_s, 1),
        "searchable_msgs_per_s": round(n / searchable_s, 1),
        "mbsync_msgs_per_s": round(n / peer, 1) if peer else None,
        "ratio_searchable_vs_mbsync": round(peer / searchable_s, 2) if peer else None,
        "new_mail_to_searchable_s": {
            "samples": len(latencies),
            "p50": round(statistics.median(latencies), 3),
            "max": round(max(latencies), 3),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
