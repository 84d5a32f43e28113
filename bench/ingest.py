"""Ingest throughput, end to end: a Maildir → `inboxhub import` → every message searchable.

Runs `notmuch new` on the same Maildir in the same run and prints the ratio. One JSON
line on stdout. Usage: python bench/ingest.py [--count 20000] [--workdir bench/out]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import write_corpus
from tests.support.processes import run_with_peak

INBOXHUB = str(Path(sys.executable).with_name("inboxhub"))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Seconds the command took, and its peak RSS in KiB. Pending writes (the corpus
    just generated, the data of an earlier run just deleted) are flushed first, so
    neither contender pays for them."""
    os.sync()
    start = time.perf_counter()
    done, peak_kib = run_with_peak(cmd, env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{cmd[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return took, peak_kib


def run_inboxhub(maildir: Path, data: Path) -> tuple[float, int]:
    shutil.rmtree(data, ignore_errors=True)
    env = {**os.environ, "INBOXHUB_DATA_DIR": str(data), "INBOXHUB_LOG_LEVEL": "WARNING"}
    return timed([INBOXHUB, "import", str(maildir), "--mailbox", "bench"], env)


def run_notmuch(maildir: Path, work: Path) -> float | None:
    if not shutil.which("notmuch"):
        return None
    db = maildir / ".notmuch"
    shutil.rmtree(db, ignore_errors=True)
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Bench\n"
        "primary_email=bench@example.com\n[new]\ntags=unread;inbox;\n"
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}
    took, _ = timed(["notmuch", "new", "--quiet"], env)
    shutil.rmtree(db, ignore_errors=True)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=Path("bench/out"))
    args = ap.parse_args()
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    maildir = write_corpus(work / f"maildir-{args.count}", args.count)
    size = sum(p.stat().st_size for p in (maildir / "cur").iterdir())
    ours, peak_kib = run_inboxhub(maildir, work / "data")
    peer = run_notmuch(maildir, work)
    rate = args.count / ours
    print(
        json.dumps(
            {
                "bench": "ingest",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(),
                "messages": args.count,
                "mean_bytes": round(size / args.count),
                "seconds": round(ours, 2),
                "emails_per_s": round(rate, 1),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "notmuch_seconds": round(peer, 2) if peer else None,
                "notmuch_emails_per_s": round(args.count / peer, 1) if peer else None,
                "ratio_vs_notmuch": round(rate / (args.count / peer), 2) if peer else None,
            }
        )
    )


if __name__ == "__main__":
    main()
