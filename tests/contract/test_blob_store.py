"""The BlobStore contract, run against every adapter."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.ports import BlobStore
from tests.contract.adapters import BLOBS, LOCAL_BLOBS, Ctx, blobs_s3

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


async def test_a_content_addressed_key_keeps_its_first_copy(blobs: BlobStore) -> None:
    """Its bytes are its name's, so a second write (here, against the promise, with
    other bytes, to see which copy is kept) leaves the first in place."""
    await blobs.put(KEY, b"first")
    await blobs.put(KEY, b"second")
    await blobs.put_many([(KEY, b"third")])
    assert await blobs.get(KEY) == b"first"


async def test_delete_prefix_over_many_pages(blobs: BlobStore) -> None:
    """More objects than one listing page or one batch delete holds (1,000 on S3)."""
    many = [(f"t/big/eml/{i:064x}", b"%d" % i) for i in range(1001)]
    await blobs.put_many([*many, (f"t/bigger/eml/{0:064x}", b"kept")])
    assert await blobs.delete_prefix("t/big/") == 1001
    assert not await blobs.exists(many[0][0]) and not await blobs.exists(many[-1][0])
    assert await blobs.get(f"t/bigger/eml/{0:064x}") == b"kept"
    assert await blobs.delete_prefix("t/big/") == 0


async def test_stream_yields_the_bytes_in_chunks(blobs: BlobStore) -> None:
    data = os.urandom(300_000)
    await blobs.put(KEY, data)
    chunks = [c async for c in blobs.stream(KEY, chunk_size=65_536)]
    assert b"".join(chunks) == data
    assert len(chunks) > 1 and all(0 < len(c) <= 65_536 for c in chunks)
    assert b"".join([c async for c in blobs.stream(KEY)]) == data  # the default size

    await blobs.put("t/acme/drafts/empty", b"")
    assert b"".join([c async for c in blobs.stream("t/acme/drafts/empty")]) == b""


async def test_a_stream_closed_early_frees_the_store(blobs: BlobStore) -> None:
    data = os.urandom(1_000_000)
    await blobs.put(KEY, data)
    for _ in range(40):  # more than a connection pool holds, were they leaked
        chunks = blobs.stream(KEY, chunk_size=1024)
        assert isinstance(chunks, AsyncGenerator)
        first = await anext(chunks)
        assert first and data.startswith(first)
        await chunks.aclose()
    assert await blobs.get(KEY) == data


async def test_stream_of_a_missing_or_bad_key(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        await anext(blobs.stream("t/acme/eml/" + "cd" * 32))
    with pytest.raises(InvalidInput):
        await anext(blobs.stream("t/../x"))


@pytest.mark.parametrize("local", LOCAL_BLOBS)
async def test_local_stores_have_no_presigned_urls(
    local: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = BLOBS[local](Ctx(tmp_path, request))
    await store.put(KEY, b"x")
    assert await store.presigned_url(KEY, 300, filename="a.pdf") is None
    await store.close()


# ---------------------------------------------------------------- S3 only

S3_KEY = "t/acme/att/" + "ef" * 32


@asynccontextmanager
async def s3_store(ctx: Ctx, **options: Any) -> AsyncIterator[Any]:
    store = blobs_s3(ctx, **options)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def raw_s3(ctx: Ctx) -> AsyncIterator[Any]:
    """A plain S3 client on the test's server, to look behind the adapter's back."""
    import aioboto3
    from aiobotocore.config import AioConfig

    from tests.support.servers.seaweedfs import ACCESS_KEY, SECRET_KEY

    session = aioboto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1"
    )
    config = AioConfig(s3={"addressing_style": "path"})
    async with session.client(
        "s3", endpoint_url=ctx.server("seaweedfs").endpoint, config=config
    ) as client:
        yield client


@pytest.fixture()
def ctx(tmp_path: Path, request: pytest.FixtureRequest) -> Ctx:
    return Ctx(tmp_path, request)


async def test_s3_presigned_url_downloads_as_an_attachment(ctx: Ctx) -> None:
    data = os.urandom(50_000)
    async with s3_store(ctx) as store:
        await store.put(S3_KEY, data)
        url = await store.presigned_url(
            S3_KEY, 300, filename='Q3 "plan" ü.pdf', content_type="application/pdf"
        )
        assert url is not None and S3_KEY in url
        async with httpx.AsyncClient() as http:
            got = await http.get(url)  # no credentials: the URL is the permission
            assert got.status_code == 200 and got.content == data
            assert got.headers["content-type"] == "application/pdf"
            disposition = got.headers["content-disposition"]
            assert disposition.startswith('attachment; filename="Q3 _plan_ _.pdf"')
            assert "filename*=UTF-8''Q3%20%22plan%22%20%C3%BC.pdf" in disposition

            plain = await http.get(await store.presigned_url(S3_KEY, 60))
            assert plain.content == data and plain.headers["content-disposition"] == "attachment"

            tampered = await http.get(url.replace(S3_KEY, "t/acme/att/" + "cd" * 32))
            assert tampered.status_code == 403

            short = await store.presigned_url(S3_KEY, 1)
            await asyncio.sleep(2.1)
            assert (await http.get(short)).status_code == 403, "expired"
        with pytest.raises(InvalidInput):
            await store.presigned_url(S3_KEY, 8 * 24 * 3600)  # SigV4 allows 7 days at most


async def test_s3_multipart_round_trip(ctx: Ctx) -> None:
    """Above ``multipart_threshold`` an object goes up in parts (5 MiB at least, the
    S3 minimum for all but the last); it reads back exactly."""
    big = os.urandom(11 * 1024 * 1024 + 123)
    other = os.urandom(6 * 1024 * 1024)  # (a 1 MiB chunk asked for is raised to 5 MiB)
    mib = 1024 * 1024
    async with (
        s3_store(ctx, multipart_threshold=mib, multipart_chunk=mib) as store,
        raw_s3(ctx) as raw,
    ):
        await store.put_many([(S3_KEY, big), ("t/acme/drafts/big", other), (KEY, b"small")])
        assert await store.get(S3_KEY) == big
        assert b"".join([c async for c in store.stream(S3_KEY, 1 << 20)]) == big
        head = await raw.head_object(Bucket=ctx.name, Key=S3_KEY)
        assert head["ETag"].strip('"').endswith("-3"), "three parts of 5 MiB at most"
        assert head["ContentLength"] == len(big)

        await store.put(S3_KEY, other)  # content-addressed: the first copy stays
        await store.put("t/acme/drafts/big", big)  # not: replaced
        assert await store.get_many([S3_KEY, "t/acme/drafts/big", KEY]) == [big, big, b"small"]

        # Two writers of one content-addressed key at once: one completes, the
        # other's completion is refused (412) and its upload aborted.
        await store.delete(S3_KEY)
        await asyncio.gather(store.put(S3_KEY, big), store.put(S3_KEY, big))
        assert await store.get(S3_KEY) == big
        uploads = await raw.list_multipart_uploads(Bucket=ctx.name)
        assert uploads.get("Uploads", []) == [], "no upload left open"


async def test_s3_failed_multipart_upload_is_aborted(
    ctx: Ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with s3_store(ctx, multipart_threshold=1024 * 1024) as store, raw_s3(ctx) as raw:
        real_call = store._call

        async def failing(operation: str, **params: Any) -> Any:
            if operation == "upload_part" and params["PartNumber"] == 2:
                raise ConnectionResetError("the network went away")
            return await real_call(operation, **params)

        monkeypatch.setattr(store, "_call", failing)
        with pytest.raises(ConnectionResetError):
            await store.put(S3_KEY, os.urandom(11 * 1024 * 1024))
        assert not await store.exists(S3_KEY)
        uploads = await raw.list_multipart_uploads(Bucket=ctx.name)
        assert uploads.get("Uploads", []) == [], "the upload was aborted"


async def test_s3_conditional_write_answers(ctx: Ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    """What other servers may answer a conditional put: 409 ConditionalRequestConflict
    (another write of the key in flight: asked again) and 501 (no conditional writes:
    plain puts from then on)."""
    from botocore.exceptions import ClientError

    def refusal(code: str, status: int) -> ClientError:
        answer: Any = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return ClientError(answer, "PutObject")

    async with s3_store(ctx) as store:
        real_call = store._call
        sent: list[bool] = []
        refusals = [refusal("ConditionalRequestConflict", 409)]

        async def server(operation: str, **params: Any) -> Any:
            if operation == "put_object":
                sent.append("IfNoneMatch" in params)
                if "IfNoneMatch" in params and refusals:
                    raise refusals.pop(0)
            return await real_call(operation, **params)

        monkeypatch.setattr(store, "_call", server)
        await store.put(KEY, b"one")
        assert sent == [True, True] and await store.get(KEY) == b"one"

        sent.clear()
        refusals.append(refusal("NotImplemented", 501))
        other = "t/acme/eml/" + "cd" * 32
        await store.put_many([(other, b"two")])
        await store.put(S3_KEY, b"three")
        assert sent == [True, False, False], "one refusal, then plain puts"
        assert await store.get_many([other, S3_KEY]) == [b"two", b"three"]


async def test_s3_server_side_encryption_is_sent_with_every_put(ctx: Ctx) -> None:
    async with (
        s3_store(ctx, sse="AES256", multipart_threshold=1024 * 1024) as store,
        raw_s3(ctx) as raw,
    ):
        await store.put_many([(KEY, b"secret"), (S3_KEY, os.urandom(6 * 1024 * 1024))])
        for key in (KEY, S3_KEY):
            head = await raw.head_object(Bucket=ctx.name, Key=key)
            assert head["ServerSideEncryption"] == "AES256"
        assert await store.get(KEY) == b"secret"


async def test_s3_kms_settings_reach_the_requests(ctx: Ctx) -> None:
    """SeaweedFS 4.48 has no KMS configured here (an ``aws:kms`` put answers 500), so
    this checks the request headers the adapter sends instead of the stored object."""
    seen: list[dict[str, str]] = []

    class Sent(Exception):
        pass

    def capture(request: Any, **_: Any) -> None:
        seen.append({k.lower(): _text(v) for k, v in request.headers.items()})
        raise Sent

    async with s3_store(
        ctx, sse="aws:kms", sse_kms_key_id="alias/inboxhub", multipart_threshold=1024 * 1024
    ) as store:
        client = await store._s3()
        client.meta.events.register("before-send.s3.PutObject", capture)
        client.meta.events.register("before-send.s3.CreateMultipartUpload", capture)
        with pytest.raises(Sent):
            await store.put("t/acme/drafts/d1", b"x")
        with pytest.raises(Sent):
            await store.put("t/acme/drafts/d2", os.urandom(2 * 1024 * 1024))
    assert len(seen) == 2
    for headers in seen:
        assert headers["x-amz-server-side-encryption"] == "aws:kms"
        assert headers["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/inboxhub"


async def test_s3_key_prefix_from_the_url(ctx: Ctx) -> None:
    base = ctx.server("seaweedfs").url(ctx.name)
    prefixed = base.replace(f"s3://{ctx.name}?", f"s3://{ctx.name}/deploy/blue?")
    async with s3_store(ctx) as plain:
        from inboxhub.adapters.blobs_s3 import S3BlobStore

        store = S3BlobStore.from_url(prefixed)
        try:
            await store.put(KEY, b"inside")
            await plain.put("t/acme/drafts/outside", b"outside")
            assert await plain.get(f"deploy/blue/{KEY}") == b"inside"
            assert await store.delete_prefix("") == 1
            assert await plain.get("t/acme/drafts/outside") == b"outside"
        finally:
            await store.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def test_s3_url_settings() -> None:
    from inboxhub.adapters.blobs_s3 import S3BlobStore

    store = S3BlobStore.from_url(
        "s3://mail-blobs/pre/fix/?endpoint_url=http%3A//minio:9000&region=eu-west-1"
        "&access_key_id=AK&secret_access_key=a+b/c%3D&sse=AES256&max_concurrency=8"
        "&create_bucket=false",
        multipart_threshold=16 * 1024 * 1024,
        sse=None,  # None leaves the URL's setting alone
    )
    assert (store.bucket, store.prefix, store.endpoint_url) == (
        "mail-blobs",
        "pre/fix/",
        "http://minio:9000",
    )
    assert (store.region, store.sse, store.max_concurrency) == ("eu-west-1", "AES256", 8)
    assert not store.create_bucket and store.multipart_threshold == 16 * 1024 * 1024
    credentials = await store._session.get_credentials()
    assert credentials is not None and credentials.secret_key == "a+b/c="
    assert "a+b/c=" not in repr(store)
    assert S3BlobStore.from_url("s3://b-without-settings").endpoint_url is None
    for bad, why in [
        ("s3://b?colour=blue", "unknown"),
        ("s3://b?max_concurrency=many", "bad value"),
        ("s3://b?sse=rot13", "sse must be"),
        ("s3://b?sse_kms_key_id=k", "aws:kms"),
        ("s3://b?access_key_id=only-half", "both"),
        ("http://b", "s3://"),
        ("s3:///no-bucket", "s3://"),
    ]:
        with pytest.raises(ValueError, match=why):
            S3BlobStore.from_url(bad)
