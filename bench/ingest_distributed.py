"""Ingest throughput of the distributed deployment, next to the embedded mode.

Starts the real servers of ../shared/infra.md (PostgreSQL, SeaweedFS, noida-db for
Kafka and Elasticsearch, SecantusDB), then for 1, 2 and 4 processor instances runs the
whole distributed deployment (every service its own process, Traefik in front) and
times `inboxhub import` of one Maildir until every message is searchable, with the
CPU seconds and the peak RSS of each part. The embedded mode and `notmuch new` take
the same Maildir in the same run. One JSON line on stdout.

The servers here are emulators and beta servers on a 2-core machine shared by every
process: the numbers show how the distributed mode behaves and scales relative to
the embedded one on the same box, not what Kafka/MongoDB/Elasticsearch clusters do.

Usage: python bench/ingest_distributed.py [--count 2000] [--workdir bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import write_corpus
from bench.ingest import run_inboxhub, run_notmuch
from tests.faults.support import Truth
from tests.support.distributed import Deployment, Servers, deployment
from tests.support.servers.noida import Noida
from tests.support.servers.postgres import Postgres
from tests.support.servers.seaweedfs import SeaweedS3
from tests.support.servers.secantus import Secantus


def family(pid: int) -> list[int]:
    """A process and its live descendants (parse workers), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants."""
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mib(pid: int) -> float:
    """The highest peak resident set (VmHWM) of a process or one of its descendants."""
    peak = 0
    for member in family(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def searchable(d: Deployment) -> int:
    """Emails in the search index, counted by Elasticsearch itself (the API's search
    totals stop counting at 10,000); slow on the emulator at 100,000, hence the wait."""
    truth = Truth.of(d)
    truth.close()
    r = httpx.post(f"{truth.elastic}/{truth.index}/_count", json={}, timeout=1800)
    r.raise_for_status()
    return int(r.json()["count"])


def distributed(
    maildir: Path, count: int, root: Path, servers: Servers, processors: int
) -> tuple[float, dict[str, float], dict[str, float]]:
    """Seconds the import took, the CPU seconds each part spent during it, and each
    kind of part's largest peak RSS (MiB; the servers' since they started)."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    replicas = {"processor": processors, "indexer": processors}
    with deployment(root, servers, replicas) as d:
        parts = {f"{s.name}-{i}": s.process.pid for i, s in enumerate(d.services)}
        parts |= {s.server.name: s.server.proc.pid for s in servers.all()}
        before = {name: cpu_seconds(pid) for name, pid in parts.items()}
        start = time.perf_counter()
        # ~30 emails/s on the emulators: give a large import the time it needs.
        done = d.import_maildir(maildir, "bench", timeout=max(300.0, count / 10))
        took = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"import failed: {done.stderr[-2000:]}")
        cpu: dict[str, float] = {}
        peak: dict[str, float] = {}
        for name, pid in parts.items():
            kind = name.rsplit("-", 1)[0]
            cpu[kind] = cpu.get(kind, 0.0) + cpu_seconds(pid) - before[name]
            peak[kind] = max(peak.get(kind, 0.0), peak_rss_mib(pid))
        found = searchable(d)  # minutes on the emulator at 100,000: asked once
        if found < count:
            raise SystemExit(f"only {found} searchable")
    by_cpu = {k: round(v, 1) for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])}
    return took, by_cpu, dict(sorted(peak.items(), key=lambda kv: -kv[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2_000)
    ap.add_argument(
        "--processors", default="1,2,4", help="processor (and indexer) instances per run"
    )
    ap.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    maildir = write_corpus(work / f"maildir-{args.count}", args.count)

    rates: dict[str, Any] = {}
    embedded, peak_kib = run_inboxhub(maildir, work / "data")
    rates["embedded_emails_per_s"] = round(args.count / embedded, 1)
    rates["embedded_peak_rss_mib"] = round(peak_kib / 1024, 1)
    peer = run_notmuch(maildir, work)
    if peer:
        rates["notmuch_emails_per_s"] = round(args.count / peer, 1)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped
    started: list[Any] = []
    try:
        for server in (Postgres, SeaweedS3, Noida, Secantus):
            started.append(server().start())
        servers = Servers(*started)  # type: ignore[arg-type]
        for n in (int(x) for x in args.processors.split(",")):
            root = work / f"distributed-{n}"
            took, cpu, peak = distributed(maildir, args.count, root, servers, n)
            rates[f"distributed_{n}_processors_emails_per_s"] = round(args.count / took, 1)
            rates[f"distributed_{n}_processors_cpu_seconds"] = cpu
            rates[f"distributed_{n}_processors_peak_rss_mib"] = peak
    finally:
        for server in started:
            server.stop()
    print(
        json.dumps(
            {
                "bench": "ingest_distributed",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "messages": args.count,
                "servers": "noida-db 0.2.3 (Kafka, ES), SeaweedFS 4.48, SecantusDB 0.7, "
                "PostgreSQL 18",
                **rates,
            }
        )
    )


if __name__ == "__main__":
    main()
