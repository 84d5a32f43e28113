"""How the processor splits a batch: concurrency bounded by bytes, one message's
events kept together and in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from inboxhub.domain.events import EmlUploaded
from inboxhub.ports import Record
from inboxhub.services.processor.handler import ByteBudget, Processor


def record(offset: int, provider_id: str, size: int = 100) -> Record:
    upload = EmlUploaded(
        mailbox_id="mb",
        provider_message_id=provider_id,
        blob_key="t/t1/eml/" + "ab" * 32,
        sha256="ab" * 32,
        size=size,
        received_at=datetime(2024, 1, 1, tzinfo=UTC),
    )
    return Record("email.eml.uploaded", 0, offset, upload.envelope("t1", "t1:mb"), {})


def test_a_message_s_events_share_a_chunk_in_order() -> None:
    processor = Processor(None, None, None, None, chunk=2)  # type: ignore[arg-type]
    ids = ["a", "b", "c", "a", "d", "a"]
    chunks = processor._chunks([record(i, p) for i, p in enumerate(ids)])
    assert [[r.offset for r in c] for c in chunks] == [[0, 1, 3, 5], [2, 4]]


async def test_the_byte_budget_bounds_what_is_held_at_once() -> None:
    budget = ByteBudget(100)
    held: list[int] = []

    async def work(size: int) -> None:
        async with budget.hold(size):
            held.append(budget.held)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(work(40) for _ in range(6)), work(500))
    assert max(held) <= 500 and all(h <= 100 for h in held if h != 500)
    assert 500 in held, "one holder larger than the budget still gets through, alone"
    assert budget.held == 0
