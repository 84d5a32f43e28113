"""The BlobStore contract, run against every adapter."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.ports import BlobStore
from tests.contract.adapters import BLOBS

KEY = "t/acme/eml/" + "ab" * 32


@pytest.fixture(params=sorted(BLOBS))
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return BLOBS[request.param](tmp_path)


async def test_put_get_exists_delete(blobs: BlobStore) -> None:
    assert not await blobs.exists(KEY)
    await blobs.put(KEY, b"\x00raw bytes\r\n")
    assert await blobs.exists(KEY)
    assert await blobs.get(KEY) == b"\x00raw bytes\r\n"
    await blobs.delete(KEY)
    await blobs.delete(KEY)  # deleting what is gone is fine
    with pytest.raises(NotFound):
        await blobs.get(KEY)


async def test_overwrite_replaces(blobs: BlobStore) -> None:
    await blobs.put(KEY, b"one")
    await blobs.put(KEY, b"two")
    assert await blobs.get(KEY) == b"two"


async def test_delete_prefix_removes_one_tenant_only(blobs: BlobStore) -> None:
    for tenant in ("a", "b"):
        for i in range(3):
            await blobs.put(f"t/{tenant}/eml/{i:064x}", b"x")
    assert await blobs.delete_prefix("t/a/") == 3
    assert not await blobs.exists(f"t/a/eml/{0:064x}")
    assert await blobs.get(f"t/b/eml/{2:064x}") == b"x"


@pytest.mark.parametrize("key", ["", "../etc/passwd", "/abs", "t//x", "t/./x", "t/a b"])
async def test_bad_keys_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        await blobs.put(key, b"x")


async def test_concurrent_writes_of_one_key_leave_a_whole_object(
    blobs: BlobStore, tmp_path: Path
) -> None:
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    await asyncio.gather(*(blobs.put(KEY, p) for p in payloads))
    assert await blobs.get(KEY) in payloads
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files if f.startswith(".tmp")]
    assert leftovers == []


async def test_ping_answers(blobs: BlobStore) -> None:
    await blobs.ping()


async def test_batches_round_trip_in_order(blobs: BlobStore) -> None:
    items = [(f"t/acme/eml/{i:064x}", os.urandom(100 + i)) for i in range(50)]
    await blobs.put_many(items)
    await blobs.put_many([])
    assert await blobs.get_many([k for k, _ in reversed(items)]) == [d for _, d in reversed(items)]
    with pytest.raises(NotFound):
        await blobs.get_many([items[0][0], "t/acme/eml/" + "cd" * 32])


async def test_a_batch_with_a_bad_key_writes_nothing(blobs: BlobStore) -> None:
    with pytest.raises(InvalidInput):
        await blobs.put_many([(KEY, b"fine"), ("t/acme/../escape", b"bad")])
    assert not await blobs.exists(KEY)


async def test_writing_again_after_a_prefix_was_deleted(blobs: BlobStore) -> None:
    await blobs.put(KEY, b"one")
    await blobs.delete_prefix("t/acme/")
    await blobs.put_many([(KEY, b"two")])
    assert await blobs.get(KEY) == b"two"
