"""Consumer services as child processes: they do the work, and a dead one is
reported instead of waited for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxhub.domain.events import EML_UPLOADED, INDEX_REQUESTED
from inboxhub.domain.search_query import MatchAll
from inboxhub.providers.base import FetchedMessage
from inboxhub.runtime import open_container
from inboxhub.services.consumer import wait_until_consumed
from inboxhub.services.consumer_processes import ConsumerDied, consumer_processes
from inboxhub.settings import Settings
from tests.support.messages import make_message


async def test_child_consumers_make_mail_searchable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", processor_workers=1)
    c = await open_container(settings)
    try:
        with consumer_processes(settings, ("processor", "indexer")) as children:
            fetched = [
                FetchedMessage(f"m{i}", make_message(f"Child {i}"), datetime.now(UTC))
                for i in range(20)
            ]
            await c.ingest().run("t1", "box", fetched)
            for group, topic in (("processor", EML_UPLOADED), ("indexer", INDEX_REQUESTED)):
                targets = await c.bus.end_offsets(topic)
                await wait_until_consumed(c.bus, group, topic, targets, 120)
            children.check()
        assert [p.exitcode for p in children.processes] == [0, 0], "stopped cleanly"
        assert (await c.search.search("t1", MatchAll(), ["box"], 1)).total == 20
    finally:
        await c.close()


async def test_a_dead_consumer_is_reported(tmp_path: Path) -> None:
    broken = Settings(data_dir=tmp_path / "data", bus_url="nosuch://bus")
    with (
        consumer_processes(broken, ("indexer",)) as children,
        pytest.raises(ConsumerDied, match="inboxhub-indexer"),
    ):
        await asyncio.wait_for(children.watch(), 60)
