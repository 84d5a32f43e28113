"""The BlobStore contract, run against every adapter."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.ports import BlobStore
from tests.contract.adapters import BLOBS, LOCAL_BLOBS, Ctx

KEY = "t/acme/eml/" + "ab" * 32


@pytest.fixture(params=sorted(BLOBS))
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store = BLOBS[request.param](Ctx(tmp_path, request))
    yield store
    await store.close()


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
    key = "t/acme/drafts/d1"  # not content-addressed
    await blobs.put(key, b"one")
    await blobs.put(key, b"two")
    await blobs.put_many([(key, b"three"), (key, b"four")])
    assert await blobs.get(key) == b"four"


async def test_content_addressed_keys_are_written_once(blobs: BlobStore) -> None:
    await blobs.put_many([(KEY, b"same bytes")])
    await blobs.put_many([(KEY, b"same bytes"), ("t/acme/eml/" + "cd" * 32, b"other")])
    assert await blobs.get_many([KEY, "t/acme/eml/" + "cd" * 32]) == [b"same bytes", b"other"]


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


@pytest.mark.parametrize("local", LOCAL_BLOBS)
async def test_deleted_bytes_are_erased_from_disk(
    local: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """GDPR erasure on the local stores: no file under the root keeps the bytes."""
    store = BLOBS[local](Ctx(tmp_path, request))
    secret, kept = b"secret-" + os.urandom(16).hex().encode(), b"kept-" + os.urandom(8)
    await store.put_many([(KEY, secret), ("t/acme/eml/" + "cd" * 32, kept)])
    await store.put_many([("t/other/att/" + "ef" * 32, secret)])
    await store.delete(KEY)
    assert await store.delete_prefix("t/other/") == 1
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert secret not in on_disk
    assert await store.get("t/acme/eml/" + "cd" * 32) == kept
    await store.close()


async def test_a_duplicate_write_leaves_the_first_copy_readable(blobs: BlobStore) -> None:
    """Two writers of one content-addressed key at once (the same attachment in two
    chunks): whichever lands second must not disturb what a reader of the first gets."""
    await blobs.put_many([(KEY, b"x" * 5000)])
    readers = [blobs.get(KEY) for _ in range(20)]
    writers = [blobs.put_many([(KEY, b"x" * 5000)]) for _ in range(5)]
    results = await asyncio.gather(*readers, *writers)
    assert all(r == b"x" * 5000 for r in results[:20])
    assert await blobs.get(KEY) == b"x" * 5000
