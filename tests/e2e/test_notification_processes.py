"""Two ``inboxhub serve notifications`` processes on one Kafka bus (noida-db): each
pushes every event to its own WebSocket clients, and a client that leaves one and
reconnects to the other with its cursor gets exactly what it missed, then live
events."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from inboxhub.domain.events import EMAIL_PROCESSED, EmailProcessed, message_key
from inboxhub.runtime import build_auth, open_container
from inboxhub.services.tenants.bootstrap import bootstrap
from inboxhub.settings import Settings
from tests.support.live import Socket
from tests.support.processes import INBOXHUB, env_for, free_port, wait_for
from tests.support.servers.noida import Noida

pytestmark = pytest.mark.e2e
BOX = "box1"


@contextmanager
def serving_notifications(data_dir: Path, bus_url: str) -> Iterator[str]:
    port = free_port()
    log = data_dir.parent / f"notifications-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [INBOXHUB, "serve", "notifications", "--port", str(port)],
            env=env_for(data_dir, INBOXHUB_BUS_URL=bus_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert process.poll() is None, log.read_text()[-3000:]
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200

        wait_for(healthy, timeout=120, what="inboxhub serve notifications")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture()
async def world(noida: Noida, tmp_path: Path) -> AsyncIterator[tuple[Settings, str, str]]:
    """Settings on the Kafka bus (the rest embedded, shared through the data dir), a
    tenant with an admin, and the admin's access token."""
    bus_url = f"kafka://{noida.bootstrap}?topic_prefix={tmp_path.name}."
    settings = Settings(data_dir=tmp_path / "data", bus_url=bus_url)
    c = await open_container(settings)
    try:
        auth = await build_auth(c)
        await bootstrap(c.directory, c.bus, auth.hasher, "acme", "a@acme.test", "pass-word-123")
        [(user, _)] = await c.directory.find_users_by_email("a@acme.test")
        auth.tokens.access_ttl = 3600
        yield settings, user.tenant_id, auth.tokens.issue_access(user)
    finally:
        await c.close()


async def publish(settings: Settings, tenant_id: str, *names: str) -> None:
    c = await open_container(settings)
    try:
        events = [
            EmailProcessed(mailbox_id=BOX, email_id=n).envelope(
                tenant_id, message_key(tenant_id, BOX, n)
            )
            for n in names
        ]
        await c.bus.publish(EMAIL_PROCESSED, events)
    finally:
        await c.close()


def email_id(event: dict[str, object]) -> str:
    data = event["data"]
    assert isinstance(data, dict)
    return str(data["email_id"])


async def test_a_cursor_from_one_process_resumes_on_the_other(
    world: tuple[Settings, str, str],
) -> None:
    settings, tenant_id, token = world
    with (
        serving_notifications(settings.data_dir, settings.bus_url) as one,
        serving_notifications(settings.data_dir, settings.bus_url) as two,
    ):
        leaving = await Socket.open(one, first={"type": "auth", "token": token})
        watcher = await Socket.open(two, token)
        await leaving.ready()
        await watcher.ready()
        await publish(settings, tenant_id, "before")
        cursor = (await leaving.event())["cursor"]
        await leaving.close()
        await watcher.event()
        await publish(settings, tenant_id, "m1", "m2", "m3")
        missed = sorted([email_id((await watcher.event())["event"]) for _ in range(3)])
        assert missed == ["m1", "m2", "m3"]
        moved = await Socket.open(two, token, query=f"cursor={cursor}")
        await moved.ready()
        assert sorted(email_id(e) for e in moved.events()) == missed
        await publish(settings, tenant_id, "after")
        assert email_id((await moved.event())["event"]) == "after"
        assert len(moved.events()) == 4
        await asyncio.gather(moved.close(), watcher.close())
