"""kill -9 of each consumer service in the middle of an import, then a restart: every
message stored once in MongoDB and indexed once in Elasticsearch, no more, no less.

One import of ``INBOXHUB_FAULT_MESSAGES`` messages (5,000 in `make test-faults`)
into the distributed deployment (processor and indexer two instances each). In turn,
while it runs: the import itself is killed while it publishes and run again (as an
operator would), then one processor, one indexer, the audit consumer and the
notifications service are each killed and started again. Each kill is checked to
have happened mid-way (the pipeline not finished), so the test cannot pass vacuously.

Whether a killed member's partitions come back is the group coordinator's doing, so
the test runs once per bus: the embedded bus (one SQLite file shared by the
processes; its groups expire a dead member after the session timeout) and Kafka.
On noida-db, the only Kafka-protocol broker here that keeps offsets right, a killed
member never expires and a static one that returns is given another member's
partitions (``test_event_bus.py`` pins that down), so the Kafka run is skipped.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests.faults.conftest import SETTINGS
from tests.faults.support import (
    Truth,
    assert_nothing_left,
    background_import,
    finished,
    kill_9,
    maildir_of,
    size,
    start_import,
)
from tests.support.distributed import Deployment, Servers, deployment
from tests.support.processes import wait_for

# On the embedded bus in CI too (1,000 messages, about a minute); 5,000 in
# `make test-faults`.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

MESSAGES = size("INBOXHUB_FAULT_MESSAGES", 1000)
NOIDA_GROUPS = (
    "noida-db 0.2.3 never expires a killed group member, and hands a returning static "
    "member another member's partitions (docs/operations.md): on it the pipeline stalls "
    "whatever the consumers do"
)


@pytest.fixture(scope="module")
def embedded_bus_deployment(
    tmp_path_factory: pytest.TempPathFactory, faults_servers: Servers
) -> Iterator[Deployment]:
    """The faults deployment with the embedded bus in place of Kafka: every process
    opens the same SQLite file; the stores are the real servers as before."""
    root = tmp_path_factory.mktemp("faults-embedded-bus")
    bus = f"sqlite:///{root / 'data' / 'bus.db'}"
    try:
        with deployment(root, faults_servers, None, False, **SETTINGS, INBOXHUB_BUS_URL=bus) as d:
            yield d
    finally:
        assert_nothing_left(root)


@pytest.fixture(
    params=[
        "embedded_bus",
        pytest.param("kafka", marks=[pytest.mark.faults, pytest.mark.skip(reason=NOIDA_GROUPS)]),
    ]
)
def kill9_deployment(request: pytest.FixtureRequest) -> Deployment:
    name = "embedded_bus_deployment" if request.param == "embedded_bus" else "faults_deployment"
    return request.getfixturevalue(name)


@pytest.fixture
def truth(kill9_deployment: Deployment) -> Iterator[Truth]:
    """The stores of whichever deployment the test runs on (conftest's is Kafka's)."""
    with closing(Truth.of(kill9_deployment)) as t:
        yield t


def mailbox_id(d: Deployment, name: str) -> str | None:
    boxes = d.login().get("/api/v1/mailboxes").json()["items"]
    return next((b["id"] for b in boxes if b["name"] == name), None)


def kill_and_restart(d: Deployment, name: str) -> None:
    """kill -9 one running instance of ``name`` and start it again, as a supervisor
    (systemd, a StatefulSet) would: under the same instance id, if it has one."""
    victim = d.of(name)[0]
    kill_9(victim.process.pid)
    assert victim.process.wait(30) == -signal.SIGKILL
    d.start_service(name, instance=victim.instance)


def test_kill_9_of_each_consumer_mid_import_then_restart_gives_each_message_once(
    kill9_deployment: Deployment, truth: Truth, tmp_path: Path
) -> None:
    d = kill9_deployment
    maildir, expected = maildir_of(tmp_path, "kill9", MESSAGES)
    name = "Kill nine"

    # The import, killed while it stores and publishes.
    first = start_import(d, maildir, name)
    try:
        box = wait_for(lambda: mailbox_id(d, name), timeout=300, what="the mailbox created")

        def publishing() -> bool:
            assert first.poll() is None, f"the import ended before it was killed: {first.stderr}"
            return truth.stored_count(box) > 0

        wait_for(publishing, timeout=300, what="the first messages processed", every=0.2)
    finally:
        kill_9(first.pid)
        first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert truth.stored_count(box) < MESSAGES, "killed mid-way"

    with background_import(d, maildir, name) as again:

        def reached(count: int, what: str) -> None:
            def there() -> bool:
                assert again.poll() is None or again.returncode == 0, again.stderr
                return (truth.stored_count if what == "stored" else truth.indexed_count)(
                    box
                ) >= count

            wait_for(there, timeout=600, what=f"{count} {what}", every=0.2)

        reached(MESSAGES // 4, "stored")
        assert truth.stored_count(box) < MESSAGES, "the processor is killed mid-way"
        kill_and_restart(d, "processor")

        reached(MESSAGES // 2, "indexed")
        assert truth.indexed_count(box) < MESSAGES, "the indexer is killed mid-way"
        kill_and_restart(d, "indexer")
        for name_ in ("audit", "notifications"):
            kill_and_restart(d, name_)

        finished(again, timeout=1800, progress=lambda: truth.indexed_count(box))

    truth.assert_exactly_once(box, expected)
    # The restarted instances joined their groups and take part. The survivors may
    # have worked off the rest before the restarted ones were in (the dead members'
    # sessions run out first), so more mail comes now, spread over every partition.
    for group in ("processor", "indexer"):
        assert len(d.of(group)) == 2
    newest = d.of("processor")[-1]
    later, later_ids = maildir_of(tmp_path, "kill9-later", 200)
    with background_import(d, later, name) as more:
        finished(more, timeout=600, progress=lambda: truth.indexed_count(box))
    truth.assert_exactly_once(box, expected | later_ids)
    assert d.metric(newest, "inboxhub_consumer_records_total", group="processor") > 0
