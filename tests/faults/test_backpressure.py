"""Backpressure: a producer much faster than the consumers does not make anyone's
memory grow with the backlog.

The processors are stopped, and ``INBOXHUB_FAULT_FLOOD`` messages (20,000 of 16 KB,
~330 MB of mail) are imported: the backlog piles up in the broker, not in a process.
Then two new processors work the backlog off while the indexers receive its
follow-ups. Peak resident memory (``VmHWM``, of each process and its parse workers)
is compared with the same process idle:

* the import reads, stores and publishes one batch (``INBOXHUB_CONSUMER_BATCH_SIZE``,
  1,024 messages, ~17 MB here) at a time, so it may grow by a few batches, never by
  the archive;
* a consumer fetches at most one batch ahead of the one it handles (``run_consumer``;
  aiokafka's fetch buffer is bounded by bytes per partition), and the processor holds
  at most 256 MB of raw mail in flight (``Processor.in_flight_bytes``) — far more
  than a batch of these messages ever needs.

``GROWTH`` (160 MB) is under half of the backlog: a process that buffered the backlog
(or a growing part of it) would exceed it, one that works batch by batch does not.
Only `make test-faults` runs it (marker ``faults``): the flood takes ~15 minutes here.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.faults.support import Truth, maildir_of, memory_kib, size
from tests.support.distributed import Deployment, Service
from tests.support.processes import INBOXHUB, env_for, run_with_peak, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(7200)]

FLOOD = size("INBOXHUB_FAULT_FLOOD", 20_000)
BODY = 16 * 1024
GROWTH_KIB = 160 * 1024


def family(pid: int) -> list[int]:
    """A process and its descendants (the processor's parse workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(d for c in map(int, children) for d in family(c))]


def peak_kib(service: Service) -> int:
    """The largest VmHWM among the service's process and its workers."""
    return max(memory_kib(pid)["VmHWM"] for pid in family(service.process.pid))


def now_kib(service: Service) -> int:
    return max(memory_kib(pid)["VmRSS"] for pid in family(service.process.pid))


def import_peak_kib(d: Deployment, maildir: Path, mailbox: str) -> int:
    """``inboxhub import --no-wait`` (it returns once all is published); its peak RSS."""
    settings = {k: v for k, v in d.env.items() if k.startswith("INBOXHUB_")}
    done, peak = run_with_peak(
        [INBOXHUB, "import", str(maildir), "--mailbox", mailbox, "--no-wait"],
        env_for(d.root, **settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 0, f"import failed ({done.returncode}): {done.stderr[-3000:]!r}"
    return peak


def test_a_flood_with_the_processors_stopped_grows_no_process_with_the_backlog(
    faults_deployment: Deployment, truth: Truth, tmp_path: Path
) -> None:
    d = faults_deployment
    small, small_ids = maildir_of(tmp_path, "flood-small", 100, body=BODY)
    import_idle = import_peak_kib(d, small, "Flood")  # the import's own size, 100 messages
    box = truth.mailbox_id(sorted(small_ids)[0]) or wait_for(
        lambda: truth.mailbox_id(sorted(small_ids)[0]), timeout=600, what="the first processed"
    )
    wait_for(lambda: truth.indexed_count(box) == 100, timeout=600, what="the small import done")

    idle = {s.process.pid: now_kib(s) for s in (*d.of("processor"), *d.of("indexer"))}
    processor_idle = max(idle[s.process.pid] for s in d.of("processor"))
    stopped = d.of("processor")
    processors: list[Service] = []
    try:
        for s in stopped:  # stopped: the flood waits in the broker
            s.process.send_signal(signal.SIGTERM)
            assert s.process.wait(60) == 0, s.log.read_text()[-3000:]
        flood, flood_ids = maildir_of(tmp_path, "flood", FLOOD, body=BODY)
        backlog_kib = sum(p.stat().st_size for p in flood.rglob("*") if p.is_file()) // 1024
        import_peak = import_peak_kib(d, flood, "Flood")
        assert truth.stored_count(box) == 100, "nothing processed with the processors down"
    finally:  # the deployment is shared: it gets its processors back whatever happens
        for s in stopped:
            if s.process.poll() is None:
                s.process.kill()
                s.process.wait()
            processors.append(d.start_service("processor", instance=s.instance))
    wait_for(
        lambda: truth.indexed_count(box) == FLOOD + 100,
        timeout=3600,
        what="the backlog worked off",
        every=1.0,
    )
    truth.assert_exactly_once(box, small_ids | flood_ids)

    report = {"import": (import_idle, import_peak)}
    report |= {f"processor-{s.port}": (processor_idle, peak_kib(s)) for s in processors}
    report |= {f"indexer-{s.port}": (idle[s.process.pid], peak_kib(s)) for s in d.of("indexer")}
    print(f"\nbacklog {backlog_kib // 1024} MB; (idle, peak) MB:", {
        k: (a // 1024, b // 1024) for k, (a, b) in report.items()
    })  # fmt: skip
    assert backlog_kib / 2 > GROWTH_KIB, "the flood is big enough to show unbounded growth"
    grown = {k: (peak - base) // 1024 for k, (base, peak) in report.items()}
    assert all(peak - base < GROWTH_KIB for base, peak in report.values()), grown
