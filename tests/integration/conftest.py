"""Fixtures for services wired on real adapters (the embedded ones here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.domain.events import EML_UPLOADED, INDEX_REQUESTED
from inboxhub.runtime import Container, open_container, start_consumers
from inboxhub.services.consumer import wait_until_consumed
from inboxhub.settings import Settings

TENANT = "t1"


@pytest.fixture()
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    settings = Settings(
        data_dir=tmp_path / "data",
        processor_workers=1,
        consumer_backoff_seconds=0.01,
        consumer_max_attempts=2,
    )
    c = await open_container(settings)
    stop = asyncio.Event()
    tasks = start_consumers(c, ("processor", "indexer"), stop)
    yield c
    stop.set()
    await asyncio.gather(*tasks)
    await c.close()


async def settle(c: Container) -> None:
    for group, topic in (("processor", EML_UPLOADED), ("indexer", INDEX_REQUESTED)):
        await wait_until_consumed(c.bus, group, topic, await c.bus.end_offsets(topic), 300)
