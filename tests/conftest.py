"""Session-wide real servers for the production adapters (started on first use).

A test that needs one asks for its fixture; when the server's program is missing on
this machine the test skips with the reason, which `-ra` prints at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.servers.base import Unavailable
from tests.support.servers.dovecot import Dovecot
from tests.support.servers.noida import Noida
from tests.support.servers.postgres import Postgres
from tests.support.servers.seaweedfs import SeaweedS3
from tests.support.servers.secantus import Secantus


def _serve(make: Callable[[], Any]) -> Iterator[Any]:
    try:
        server = make()
    except Unavailable as exc:
        pytest.skip(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    yield from _serve(Postgres)


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedS3]:
    yield from _serve(SeaweedS3)


@pytest.fixture(scope="session")
def noida() -> Iterator[Noida]:
    yield from _serve(Noida)


@pytest.fixture(scope="session")
def secantus() -> Iterator[Secantus]:
    yield from _serve(Secantus)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from _serve(Dovecot)
