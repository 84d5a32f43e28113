"""Search latency: p50/p99 over 50 fixed queries on FTS5, Elasticsearch and notmuch.

The corpus is ``bench/corpus.py``'s Maildir (``--messages``, 100,000 by default).
Each message is parsed as the processor parses it and described as the indexer
describes it (``processor.document.build`` → ``indexer.handler.search_document``),
then written straight into each SearchIndex adapter with ``index_many`` (not the
whole pipeline, to keep set-up time sane); notmuch indexes the same Maildir with
``notmuch new``. Indexes are kept in ``--workdir`` and reused while the corpus and
the index layout stay the same (``--fresh`` rebuilds them).

Each of the 50 queries (``QUERIES``: ours, and the same question in notmuch's
language) is run once to warm up and then ``--rounds`` times; FTS5 and notmuch take
turns query by query, so that the load of a shared machine weighs on both alike.
Ours is ``SearchIndex.search`` for 50 hits, newest first, with the total (exact up
to 10,000) and highlights, timed in process from the query string (parse included);
notmuch's is ``notmuch search --output=messages --sort=newest-first --limit=50``,
timed as the command it is (process start included). Elasticsearch is noida-db
0.2.3, the emulator the tests use (tests/support/servers/noida.py), timed alone
afterwards on the first ``--elastic-messages`` (1,000) of the corpus: it scans every
stored text at each search (seconds a query at 1,000 messages, growing with the
corpus), so it shows how our queries behave on an ES-API server, not what an
Elasticsearch cluster does.

One JSON line on stdout; progress on stderr. Usage:
python bench/search.py [--messages 100000] [--rounds 5] [--backends fts5,elastic,notmuch]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import GENERATOR_VERSION, write_corpus
from inboxhub.adapters.search_fts import FtsSearchIndex
from inboxhub.domain.events import EmlUploaded
from inboxhub.domain.folding import FOLD_VERSION
from inboxhub.domain.ids import sha256_hex
from inboxhub.domain.models import EmailDocument, SearchDocument
from inboxhub.domain.query_parser import parse_query
from inboxhub.mime.parse import ParseLimits
from inboxhub.ports import SearchIndex
from inboxhub.services.indexer.handler import search_document
from inboxhub.services.processor.document import Source, build

TENANT, BOX = "bench", "maildir"
LIMIT = 50
SEED = 42
CHUNK = 1_000  # messages per parse task and per index_many
FTS_LAYOUT = 2  # bump when search_fts's tables change, so a kept index is rebuilt
console = Console(stderr=True)

# (ours, notmuch's): the same question in each language. The corpus' words, people
# (first.last@example.com / @corp.test) and dates (2023-01-01 on, 17 minutes apart).
QUERIES: list[tuple[str, str]] = [
    ("budget", "budget"),
    ("invoice", "invoice"),
    ("security", "security"),
    ('"quarterly report"', '"quarterly report"'),
    ("budget review", "budget AND review"),
    ("from:alice", "from:alice"),
    ("from:alice.smith@example.com", "from:alice.smith@example.com"),
    ("to:bob", "to:bob"),
    ("subject:budget", "subject:budget"),
    ('subject:"security audit"', 'subject:"security audit"'),
    ("from:nowak subject:invoice", "from:nowak AND subject:invoice"),
    ("budget -invoice", "budget AND NOT invoice"),
    ("outage OR incident", "outage OR incident"),
    ("{webinar newsletter campaign}", "webinar OR newsletter OR campaign"),
    ("after:2024/03/01 before:2024/04/01", "date:2024-03-01..2024-03-31"),
    ("migration after:2025/01/01", "migration AND date:2025-01-01.."),
    ("filename:pdf", "attachment:pdf"),
    ("has:attachment from:grace", "tag:attachment AND from:grace"),
    ("subject:re from:carol", "subject:re AND from:carol"),
    ("to:corp.test -from:corp.test", "to:corp.test AND NOT from:corp.test"),
    ('"contract renewal"', '"contract renewal"'),
    ("pricing discount", "pricing AND discount"),
    ("deadline before:2023/06/01", "deadline AND date:..2023-05-31"),
    ("Zürich", "Zürich"),
    ("from:heidi to:frank", "from:heidi AND to:frank"),
    ("sprint backlog", "sprint AND backlog"),
    ('"release schedule"', '"release schedule"'),
    ("subject:(launch OR roadmap)", "subject:launch OR subject:roadmap"),
    ("escalation ticket support", "escalation AND ticket AND support"),
    ("-subject:re has:attachment", "NOT subject:re AND tag:attachment"),
    ("from:dave.rossi@corp.test", "from:dave.rossi@corp.test"),
    ("audit after:2024/01/01 before:2024/07/01", "audit AND date:2024-01-01..2024-06-30"),
    ("onboarding hiring", "onboarding AND hiring"),
    ("server outage postmortem", "server AND outage AND postmortem"),
    ("from:(erin OR frank) subject:proposal", "(from:erin OR from:frank) AND subject:proposal"),
    ("revenue forecast -budget", "revenue AND forecast AND NOT budget"),
    ("filename:zip", "attachment:zip"),
    ('subject:"budget review"', 'subject:"budget review"'),
    ("to:heidi.garcia@example.com", "to:heidi.garcia@example.com"),
    ("partner agreement renewal", "partner AND agreement AND renewal"),
    ("travel expense approval", "travel AND expense AND approval"),
    ("design feedback", "design AND feedback"),
    ("marketing campaign after:2025/06/01", "marketing AND campaign AND date:2025-06-01.."),
    ('"database migration"', '"database migration"'),
    ("customer delivery schedule", "customer AND delivery AND schedule"),
    ("from:grace.nowak@corp.test subject:re", "from:grace.nowak@corp.test AND subject:re"),
    ("invoice OR pricing OR discount", "invoice OR pricing OR discount"),
    ("webinar -from:example.com", "webinar AND NOT from:example.com"),
    ("café", "café"),
    ("project update before:2023/03/01", "project AND update AND date:..2023-02-28"),
]
assert len(QUERIES) == 50


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# ---------------------------------------------------------------- the documents


def _documents(paths: Sequence[str]) -> list[SearchDocument]:
    """Search documents of Maildir files, as the processor and indexer make them."""
    out = []
    for path in paths:
        raw = Path(path).read_bytes()
        upload = EmlUploaded(
            mailbox_id=BOX,
            provider_message_id=Path(path).name.split(":")[0],
            blob_key=f"t/{TENANT}/eml/{sha256_hex(raw)}",
            sha256=sha256_hex(raw),
            size=len(raw),
            received_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        built = build(Source(TENANT, upload), raw, ParseLimits())
        out.append(search_document(EmailDocument.model_validate_json(built.email.document_json)))
    return out


def documents(maildir: Path, count: int) -> Iterator[list[SearchDocument]]:
    """The corpus' search documents, ``CHUNK`` at a time, parsed on every core."""
    paths = sorted(str(p) for p in (maildir / "cur").iterdir())[:count]
    chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        yield from pool.map(_documents, chunks)


# ---------------------------------------------------------------- the indexes


def _stamp(*parts: object) -> str:
    """What a kept index was made of: when it changes, the index is made again."""
    return ":".join(map(str, [*parts, SEED, GENERATOR_VERSION]))


async def load(index: SearchIndex, maildir: Path, count: int, name: str) -> float:
    """Seconds to parse and index ``count`` messages into ``index``."""
    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"{name}: parse + index_many", total=count)
        for docs in documents(maildir, count):
            await index.index_many(docs)
            bar.advance(task, len(docs))
    return time.perf_counter() - start


async def open_fts(work: Path, maildir: Path, count: int, fresh: bool) -> tuple[Any, float]:
    path, done = work / f"fts-{count}.db", work / f"fts-{count}.complete"
    stamp = _stamp(count, FTS_LAYOUT, FOLD_VERSION)
    if fresh or not done.exists() or done.read_text() != stamp:
        for p in (
            path,
            done,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            p.unlink(missing_ok=True)
        index = FtsSearchIndex(path)
        took = await load(index, maildir, count, "FTS5")
        await index.db.run(lambda c: c.execute("INSERT INTO fts (fts) VALUES ('optimize')"))
        done.write_text(stamp)
        return index, took
    return FtsSearchIndex(path), 0.0


async def open_elastic(server: Any, maildir: Path, count: int) -> tuple[Any, float]:
    from inboxhub.adapters.search_elastic import ElasticSearchIndex

    url = f"elasticsearch://127.0.0.1:{server.elastic_port}?index_prefix=bench&refresh=false"
    index = ElasticSearchIndex.from_url(url, replicas=0, chunk_docs=250, request_timeout=600)
    took = await load(index, maildir, count, "Elasticsearch")
    await index.client.indices.refresh(index=index.index)
    return index, took


def open_notmuch(
    work: Path, maildir: Path, count: int, fresh: bool
) -> tuple[dict[str, str], float]:
    """The environment to run notmuch in (its database in the Maildir), and the
    seconds ``notmuch new`` took (0 when the database was kept)."""
    config, done = work / "notmuch-config", maildir / ".notmuch-complete"
    config.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Bench\nprimary_email=bench@example.com\n"
        "[new]\ntags=inbox;\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=true\n"
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config), "TZ": "UTC", "HOME": str(work)}
    stamp = _stamp(count)
    if not fresh and done.exists() and done.read_text() == stamp:
        return env, 0.0
    shutil.rmtree(maildir / ".notmuch", ignore_errors=True)
    with progress() as bar:
        bar.add_task(f"notmuch new ({count} messages)", total=None)
        start = time.perf_counter()
        subprocess.run(["notmuch", "new", "--quiet"], env=env, check=True, capture_output=True)
        took = time.perf_counter() - start
    done.write_text(stamp)
    return env, took


# ---------------------------------------------------------------- timing


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], 2),
        "max_ms": round(ms[-1], 2),
    }


Timer = Callable[[int], Awaitable[float]]  # runs query i of QUERIES; its seconds


def ours(index: SearchIndex) -> Timer:
    async def one(i: int) -> float:
        start = time.perf_counter()
        await index.search(TENANT, parse_query(QUERIES[i][0]), [BOX], LIMIT, order="date")
        return time.perf_counter() - start

    return one


def notmuchs(env: dict[str, str]) -> Timer:
    cmd = ["notmuch", "search", "--output=messages", "--sort=newest-first", f"--limit={LIMIT}"]

    async def one(i: int) -> float:
        start = time.perf_counter()
        subprocess.run([*cmd, QUERIES[i][1]], env=env, check=True, capture_output=True)
        return time.perf_counter() - start

    return one


async def timed(timers: dict[str, Timer], rounds: int) -> dict[str, list[float]]:
    """Seconds of each query on each contender, after a warm-up round. The contenders
    take turns query by query, so that whatever else the machine does at a moment
    weighs on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in timers}
    with progress() as bar:
        task = bar.add_task(
            f"{' + '.join(timers)}: queries", total=len(QUERIES) * (rounds + 1) * len(timers)
        )
        for round_ in range(rounds + 1):
            for i in range(len(QUERIES)):
                for name, one in timers.items():
                    took = await one(i)
                    if round_:  # round 0 warms the caches up
                        samples[name].append(took)
                    bar.advance(task)
    return samples


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> dict[str, Any]:
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    with progress() as bar:
        bar.add_task(f"corpus: {args.messages} messages", total=None)
        maildir = write_corpus(work / f"maildir-{args.messages}", args.messages, seed=SEED)
    result: dict[str, Any] = {
        "bench": "search",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "messages": args.messages,
        "queries": len(QUERIES),
        "rounds": args.rounds,
        "limit": LIMIT,
    }
    backends = set(args.backends.split(","))
    timers: dict[str, Timer] = {}
    fts = None
    if "fts5" in backends:
        fts, took = await open_fts(work, maildir, args.messages, args.fresh)
        timers["fts5"] = ours(fts)
        result["fts5"] = {"index_seconds": round(took, 1) or None}
    if "notmuch" in backends:
        if shutil.which("notmuch"):
            env, took = open_notmuch(work, maildir, args.messages, args.fresh)
            version = subprocess.run(["notmuch", "--version"], capture_output=True, text=True)
            timers["notmuch"] = notmuchs(env)
            result["notmuch"] = {"index_seconds": round(took, 1) or None}
            result["notmuch"]["version"] = version.stdout.strip()
        else:
            console.print("notmuch is not installed: bash bench/install-peers.sh")
    try:
        for name, samples in (await timed(timers, args.rounds)).items():
            result[name] = {**summary(samples), **result[name]}
    finally:
        if fts is not None:
            await fts.close()
    if "elastic" in backends:  # alone: the emulator is far too slow to take turns
        from tests.support.servers.noida import Noida

        count = min(args.elastic_messages, args.messages)
        server = Noida()
        server.start()
        try:
            es, took = await open_elastic(server, maildir, count)
            try:
                samples = (await timed({"elasticsearch": ours(es)}, args.rounds))["elasticsearch"]
            finally:
                await es.close()
        finally:
            server.stop()
        result["elasticsearch"] = {
            **summary(samples),
            "messages": count,
            "index_seconds": round(took, 1),
            "server": "noida-db 0.2.3 (ES 8 API emulator)",
        }
    peer = result.get("notmuch")
    for name in ("fts5", "elasticsearch"):
        if peer and name in result:
            result[f"{name}_p99_vs_notmuch"] = round(result[name]["p99_ms"] / peer["p99_ms"], 3)
            result[f"{name}_p50_vs_notmuch"] = round(result[name]["p50_ms"] / peer["p50_ms"], 3)
    return result


def main() -> None:
    # stopped by a signal, still stop the servers started (the finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--elastic-messages", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backends", default="fts5,elastic,notmuch")
    ap.add_argument("--workdir", type=Path, default=Path("bench/out"))
    ap.add_argument("--fresh", action="store_true", help="rebuild the kept indexes")
    print(json.dumps(asyncio.run(run(ap.parse_args()))))


if __name__ == "__main__":
    main()
