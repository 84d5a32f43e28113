"""The distributed deployment the fault tests break: every service its own process
on the real servers, processor and indexer with two instances each (the issue's
setup). Tests that kill services restart them before they end, so the deployment is
shared by the modules that only kill processes; the outage tests stop servers, and
bring their own (tests/faults/test_outages.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.support import Truth, assert_nothing_left
from tests.support.distributed import Deployment, Servers, deployment
from tests.support.servers.noida import Noida
from tests.support.servers.postgres import Postgres
from tests.support.servers.seaweedfs import SeaweedS3
from tests.support.servers.secantus import Secantus

SETTINGS = {
    "INBOXHUB_FETCHER_POLL_SECONDS": "3600",  # the import, not the fetcher, reads the Maildirs
    "INBOXHUB_CONSUMER_MAX_ATTEMPTS": "3",
}


@pytest.fixture(scope="session")
def faults_servers(
    postgres: Postgres, seaweedfs: SeaweedS3, noida: Noida, secantus: Secantus
) -> Servers:
    return Servers(postgres, seaweedfs, noida, secantus)


@pytest.fixture(scope="session")
def faults_deployment(
    tmp_path_factory: pytest.TempPathFactory, faults_servers: Servers
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("faults")
    try:
        # Dynamic members, as in production by default: on noida-db, static ones that
        # come back are handed the wrong partitions (test_kill9.py).
        with deployment(root, faults_servers, **SETTINGS) as d:
            yield d
    finally:
        assert_nothing_left(root)


@pytest.fixture
def truth(faults_deployment: Deployment) -> Iterator[Truth]:
    t = Truth.of(faults_deployment)
    try:
        yield t
    finally:
        t.close()
