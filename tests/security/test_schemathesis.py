"""Schemathesis over every operation of the OpenAPI document: no 5xx, and every
response as documented (status code, content type, body schema).

The app runs in a real uvicorn on a loopback port, in a thread with its own event
loop (its adapters belong to that loop), on the embedded adapters, with a tenant
whose admin is also a platform operator so that every operation is reachable.
``INBOXHUB_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (a few by
default, to fit CI; thousands for a deep run, like ``make fuzz``).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inboxhub.providers.local import iter_local
from inboxhub.runtime import build_auth, open_container, start_consumers
from inboxhub.services.gateway.app import create_app
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import Settings
from tests.support.messages import make_message, write_maildir

EXAMPLES = int(os.environ.get("INBOXHUB_SCHEMATHESIS_EXAMPLES", "8"))
ADMIN, PASSWORD = "admin@fuzz.example", "pass-word-123-fuzz"
#: operations schemathesis cannot call: an endless event stream never completes
ENDLESS = ("/api/v1/events",)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """The app in uvicorn on its own thread and loop."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready = threading.Event()
        self.server: uvicorn.Server | None = None
        self.mint: Callable[[], str] | None = None  # a new access token of the admin
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start()
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        settings = Settings(
            data_dir=self.root / "data",
            processor_workers=1,
            consumer_backoff_seconds=0.01,
            consumer_max_attempts=2,
            rate_limit_enabled=False,
        )
        c = await open_container(settings)
        stop = asyncio.Event()
        tasks = start_consumers(c, ("processor", "indexer"), stop)
        auth = await build_auth(c)
        done = await bootstrap(c.directory, c.bus, auth.hasher, "fuzz", ADMIN, PASSWORD)
        users = await c.directory.find_users_by_email(ADMIN)
        self.mint = lambda: auth.tokens.issue_access(users[0][0])
        box = await c.directory.get_or_create_mailbox(done.tenant.id, "Inbox", "local")
        messages = [make_message(f"Fuzz {i}") for i in range(3)]
        await c.ingest().run(
            done.tenant.id, box.id, iter_local(write_maildir(self.root / "m", messages))
        )
        app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        serving = asyncio.create_task(self.server.serve())
        while not self.server.started and not serving.done():
            await asyncio.sleep(0.05)
        self.ready.set()
        await serving
        stop.set()
        await asyncio.gather(*tasks)
        await c.close()

    def start(self) -> None:
        self.thread.start()
        assert self.ready.wait(120), "the app did not start"
        if self.failure is not None:
            raise self.failure

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    app = Served(tmp_path_factory.mktemp("schemathesis"))
    app.start()
    yield app
    app.stop()


def _headers(served: Served) -> dict[str, str]:
    """A new token for every call: an earlier one may have logged the admin out."""
    assert served.mint is not None
    return {"Authorization": f"Bearer {served.mint()}"}


def _check(operation: Any, served: Served) -> str | None:
    """Runs the operation's examples; the first failure's report, if any."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def examples(case: Any) -> None:
        case.call_and_validate(headers=_headers(served), checks=CHECKS, timeout=30)

    try:
        examples()
    except (Exception, BaseExceptionGroup) as exc:  # schemathesis' report, with a curl to replay
        return f"{operation.label}: {exc}"
    return None


def test_every_operation_answers_as_documented(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json")
    failures, tried = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in ENDLESS:
            continue
        tried += 1
        if (failure := _check(operation, served)) is not None:
            failures.append(failure)
    assert tried > 50, "the OpenAPI document lost its operations"
    assert not failures, f"{len(failures)} of {tried} operations:\n\n" + "\n\n".join(failures)
