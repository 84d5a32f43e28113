"""Fixtures of the connector tests: a session-wide Dovecot (skipped with the reason
when it is not installed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers.base import Unavailable
from tests.support.servers.dovecot import Dovecot


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    try:
        server = Dovecot()
    except Unavailable as exc:
        pytest.skip(str(exc))
    server.start()
    try:
        yield server
    finally:
        server.stop()
