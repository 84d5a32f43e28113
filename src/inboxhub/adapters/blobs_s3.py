"""Blob store on the S3 API (the production adapter): AWS S3, MinIO, SeaweedFS.

Only the public S3 API is used, through one aioboto3 client opened at first use and
kept for the adapter's life; its connection pool and a semaphore both hold
``max_concurrency`` requests in flight (the semaphore is taken per request, never
around a composite operation, so a multipart upload cannot starve its own parts).

* Keys are checked like the embedded store's (``blobs_fs.check_key``) and live
  under the URL's optional key prefix: ``s3://bucket/pre/fix`` stores ``t/a/eml/…``
  as ``pre/fix/t/a/eml/…``.
* A key ending in a SHA-256 is content-addressed: it is written with
  ``If-None-Match: *``, and "already there" (412) is success — the bytes there are
  the same. A server that does not know conditional writes (501) gets plain puts
  from then on. Other keys are plain puts, which replace.
* Objects above ``multipart_threshold`` go up in parts of ``multipart_chunk`` (at
  least 5 MiB, the S3 minimum), concurrently; a failed upload is aborted.
* ``sse`` ("AES256" or "aws:kms", with ``sse_kms_key_id``) is sent with every put.
* ``put_many`` returns when every object of the batch is stored (S3 acknowledges a
  PUT once it is durable). It is not atomic: after a failure, part of the batch may
  be stored — harmless, since the pipeline writes the batch again (at-least-once)
  and every key it writes is content-addressed.
* ``delete_prefix`` lists and deletes in batches of 1,000. On a bucket with
  versioning enabled, S3 deletes only add delete markers: turn versioning off (or
  expire noncurrent versions) for deletes to erase.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import aioboto3
import botocore.loaders
import structlog
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from inboxhub.adapters.blobs_fs import check_key, content_addressed
from inboxhub.adapters.url_options import Reader, flag, query_options
from inboxhub.domain.errors import InvalidInput, NotFound

log = structlog.get_logger(__name__)

MiB = 1024 * 1024
MIN_PART = 5 * MiB  # S3's smallest part (all but the last)
MAX_PARTS = 10_000  # S3's most parts in one upload
DELETE_BATCH = 1000  # S3's most keys in one DeleteObjects
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's longest presigned URL
SSE_MODES = ("AES256", "aws:kms")
_CONFLICT_RETRIES = 6
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})


# Settings a URL's query may carry, with how to read their text.
_URL_OPTIONS: dict[str, Reader] = {
    "endpoint_url": str,
    "public_endpoint_url": str,
    "region": str,
    "access_key_id": str,
    "secret_access_key": str,
    "session_token": str,
    "sse": str,
    "sse_kms_key_id": str,
    "multipart_threshold": int,
    "multipart_chunk": int,
    "max_concurrency": int,
    "create_bucket": flag,
}

T = TypeVar("T")


def _error(exc: ClientError) -> tuple[str, int]:
    """The S3 error code and HTTP status of a failed call."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _missing(exc: ClientError) -> bool:
    code, status = _error(exc)
    return code in _MISSING or (status == 404 and code != "NoSuchBucket")


def _unsupported(code: str, status: int) -> bool:
    return status == 501 or code == "NotImplemented"


def _disposition(filename: str | None) -> str:
    """``Content-Disposition: attachment`` (RFC 6266 + RFC 8187), in ASCII only: an
    ASCII fallback name and the exact name percent-encoded."""
    if not filename:
        return "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@functools.cache
def _unreferenced_endpoint_params() -> frozenset[str]:
    """Which of ``Key``, ``Prefix`` and ``CopySource`` S3's endpoint rules never read.

    botocore (1.40 here) hands the object key to those rules, which ignore it, so its
    cache of resolved endpoints misses on every new key: ~0.4 ms of rule evaluation
    per request, a sixth of the client's CPU per small object (boto/botocore#3528;
    botocore#3692 drops the same parameters upstream)."""
    rules = botocore.loaders.Loader().load_service_model("s3", "endpoint-rule-set-1")
    refs: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("ref"), str):
                refs.add(node["ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(rules.get("rules", []))
    return frozenset({"Key", "Prefix", "CopySource"} - refs)


def _cache_endpoints(client: Any, unused: frozenset[str]) -> None:
    """Resolve the client's endpoints without the parameters its rules never read, so
    that botocore's endpoint cache hits; a botocore without the hook is left as it is."""
    provider: Any = getattr(getattr(client, "_ruleset_resolver", None), "_provider", None)
    resolve = getattr(provider, "resolve_endpoint", None)
    if resolve is None or not unused:
        return

    def resolve_endpoint(**params: Any) -> Any:
        for name in unused:
            params.pop(name, None)
        return resolve(**params)

    provider.resolve_endpoint = resolve_endpoint


async def _all(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Run ``aws`` concurrently; their results in order. On the first failure the
    others are cancelled (and waited for) and that failure is raised as it is."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    if not tasks:
        return []
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        sse: str | None = None,
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = 8 * MiB,
        multipart_chunk: int = 8 * MiB,
        max_concurrency: int = 32,
        create_bucket: bool = True,
    ) -> None:
        """``public_endpoint_url``: where clients reach the store, when not at
        ``endpoint_url`` (presigned URLs are signed for it)."""
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket")
        if sse not in (None, *SSE_MODES):
            raise ValueError(f"sse must be one of {SSE_MODES}, not {sse!r}")
        if sse_kms_key_id and sse != "aws:kms":
            raise ValueError('sse_kms_key_id needs sse="aws:kms"')
        if (access_key_id is None) != (secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if multipart_threshold < 1 or multipart_chunk < 1 or max_concurrency < 1:
            raise ValueError("multipart sizes and max_concurrency must be positive")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = check_key(prefix) + "/" if prefix else ""
        self.endpoint_url = endpoint_url
        self.public_endpoint_url = public_endpoint_url
        self.region = region
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id
        self.multipart_threshold = multipart_threshold
        self.multipart_chunk = max(multipart_chunk, MIN_PART)
        self.max_concurrency = max_concurrency
        self.create_bucket = create_bucket
        self._session = aioboto3.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            region_name=region,
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        self._lock = asyncio.Lock()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._presigner: Any = None
        self._bucket_ready = not create_bucket
        self._conditional = True  # until the server says it cannot (501)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3BlobStore:
        """``s3://bucket/optional/key/prefix?endpoint_url=http://host:9000&region=…
        &access_key_id=…&secret_access_key=…&sse=AES256`` (every query setting is
        optional; without keys the default AWS credential chain applies). Query values
        are percent-decoded, but a ``+`` stays a ``+`` (secret keys contain it).
        Keyword ``options`` (any ``__init__`` setting) win over the query, except
        those given as None."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or any(c in parts.netloc for c in "@:"):
            raise ValueError("an S3 blob URL looks like s3://bucket/optional/prefix?…")
        settings = query_options(parts.query, _URL_OPTIONS, "S3 blob URL")
        settings.update({k: v for k, v in options.items() if v is not None})
        return cls(unquote(parts.netloc), unquote(parts.path), **settings)

    def __repr__(self) -> str:  # never the credentials
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix}{where})"

    # -- the client

    def _config(self) -> AioConfig:
        return AioConfig(
            max_pool_connections=self.max_concurrency,
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 5},
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
        )

    async def _s3(self) -> Any:
        """The client, opened at first use (and the bucket made, if asked)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    stack = AsyncExitStack()
                    try:
                        client = await stack.enter_async_context(
                            self._session.client(
                                "s3", endpoint_url=self.endpoint_url, config=self._config()
                            )
                        )
                    except BaseException:
                        await stack.aclose()
                        raise
                    _cache_endpoints(client, await self._unused_endpoint_params())
                    self._stack, self._client = stack, client
        if not self._bucket_ready:
            async with self._lock:
                if not self._bucket_ready:
                    await self._ensure_bucket(self._client)
                    self._bucket_ready = True
        return self._client

    @staticmethod
    async def _unused_endpoint_params() -> frozenset[str]:
        try:
            return await asyncio.to_thread(_unreferenced_endpoint_params)
        except Exception as exc:  # only a speed-up: go without it
            log.warning("s3 endpoint rules unreadable", error=str(exc))
            return frozenset()

    async def _ensure_bucket(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            code, status = _error(exc)
            if status != 404 and code not in ("NoSuchBucket", "404", "NotFound"):
                raise
        extra: dict[str, Any] = {}
        region = self.region or client.meta.region_name  # may come from the AWS config
        if region and region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await client.create_bucket(Bucket=self.bucket, **extra)
            log.info("s3 bucket created", bucket=self.bucket)
        except ClientError as exc:
            if _error(exc)[0] != "BucketAlreadyOwnedByYou":
                raise

    async def _call(self, operation: str, **params: Any) -> Any:
        """One request, holding one of the ``max_concurrency`` slots."""
        client = await self._s3()
        async with self._slots:
            return await getattr(client, operation)(Bucket=self.bucket, **params)

    def _name(self, key: str) -> str:
        return self.prefix + key

    def _sse_params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.sse:
            params["ServerSideEncryption"] = self.sse
        if self.sse_kms_key_id:
            params["SSEKMSKeyId"] = self.sse_kms_key_id
        return params

    # -- writing

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        await self._put(check_key(key), data, content_type)

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        latest = {check_key(key): data for key, data in items}  # the last write of a key wins
        await _all(self._put(key, data, None) for key, data in latest.items())

    async def _put(self, key: str, data: bytes, content_type: str | None) -> None:
        params: dict[str, Any] = {"Key": self._name(key), **self._sse_params()}
        if content_type:
            params["ContentType"] = content_type
        conditional = content_addressed(key)
        if len(data) > self.multipart_threshold:
            await self._put_multipart(data, params, conditional)
        elif not (conditional and await self._conditionally(self._put_object, data, params)):
            await self._put_object(data, params)

    async def _put_object(self, data: bytes, params: dict[str, Any], **extra: Any) -> None:
        await self._call("put_object", Body=data, **params, **extra)

    async def _conditionally(
        self, write: Any, data: bytes | list[dict[str, Any]], params: dict[str, Any]
    ) -> bool:
        """Run ``write`` with ``If-None-Match: *``: True when the object is stored
        (by this write or an earlier one), False when the server cannot do
        conditional writes (then the caller writes plainly)."""
        for attempt in range(_CONFLICT_RETRIES):
            if not self._conditional:
                return False
            try:
                await write(data, params, IfNoneMatch="*")
                return True
            except ClientError as exc:
                code, status = _error(exc)
                if code == "PreconditionFailed" or status == 412:
                    return True  # already there, and the same bytes (content-addressed)
                if code == "ConditionalRequestConflict":
                    # Another write of this key is in flight: once it lands, asking
                    # again answers 412 (or succeeds, if that write failed).
                    await asyncio.sleep(0.05 * 2**attempt)
                    continue
                if _unsupported(code, status):
                    if self._conditional:  # say it once
                        log.warning("s3 server has no conditional writes", bucket=self.bucket)
                    self._conditional = False
                    return False
                raise
        raise ConnectionError(f"conditional write of {params['Key']} kept conflicting")

    def _part_size(self, size: int) -> int:
        return max(self.multipart_chunk, math.ceil(size / MAX_PARTS))

    async def _put_multipart(self, data: bytes, params: dict[str, Any], conditional: bool) -> None:
        name = params["Key"]
        if conditional and self._conditional and await self._head(name):
            return  # content-addressed and already there: spare the upload
        upload_id = (await self._call("create_multipart_upload", **params))["UploadId"]
        size = self._part_size(len(data))

        async def part(number: int, start: int) -> dict[str, Any]:
            sent = await self._call(
                "upload_part",
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                Body=data[start : start + size],
            )
            # Checksums the client computed must be named again at completion.
            sums = {k: v for k, v in sent.items() if k.startswith("Checksum")}
            return {"PartNumber": number, "ETag": sent["ETag"], **sums}

        completed = False

        async def complete(parts: list[dict[str, Any]], _: Any, **extra: Any) -> None:
            nonlocal completed
            await self._call(
                "complete_multipart_upload",
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **extra,
            )
            completed = True

        stored = False
        try:
            parts = await _all(
                part(n, start) for n, start in enumerate(range(0, len(data), size), start=1)
            )
            if not (conditional and await self._conditionally(complete, parts, params)):
                await complete(parts, params)
            stored = True
        finally:
            if not completed:  # failed, or refused as already there: nothing may linger
                await self._abort(name, upload_id, quiet=stored)

    async def _abort(self, name: str, upload_id: str, quiet: bool) -> None:
        try:
            await self._call("abort_multipart_upload", Key=name, UploadId=upload_id)
        except ClientError as exc:
            if not quiet and _error(exc)[0] != "NoSuchUpload":
                log.warning("s3 multipart abort failed", key=name, error=str(exc))
        except Exception as exc:  # the upload's own error matters more
            log.warning("s3 multipart abort failed", key=name, error=str(exc))

    # -- reading

    async def get(self, key: str) -> bytes:
        return await self._get(check_key(key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        checked = [check_key(k) for k in keys]
        return await _all(self._get(k) for k in checked)

    async def _open(self, key: str) -> Any:
        """The body of ``key``'s object, still to be read (and closed); NotFound if
        there is none. The caller holds a slot."""
        client = await self._s3()
        try:
            answer = await client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"no blob {key}") from None
            raise
        return answer["Body"]

    async def _get(self, key: str) -> bytes:
        async with self._slots:
            body = await self._open(key)
            try:
                return bytes(await body.read())
            finally:
                body.close()

    async def stream(self, key: str, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """The object in chunks of at most ``chunk_size``, as the server sends it. The
        response holds a pooled connection until the generator ends or is closed."""
        if chunk_size < 1:
            raise InvalidInput("chunk_size must be positive")
        async with self._slots:
            body = await self._open(check_key(key))
        try:
            while chunk := await body.read(chunk_size):
                yield bytes(chunk)
        finally:
            body.close()

    async def presigned_url(
        self,
        key: str,
        expires_in: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A SigV4 presigned GET (no request to the server; a missing object answers
        404 there). A URL signed with temporary credentials dies with them."""
        if not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
            raise InvalidInput(f"expires_in must be 1..{MAX_PRESIGN_SECONDS} seconds")
        params = {
            "Bucket": self.bucket,
            "Key": self._name(check_key(key)),
            "ResponseContentDisposition": _disposition(filename),
        }
        if content_type:
            params["ResponseContentType"] = content_type
        signer = await self._signer()
        url: str = await signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return url

    async def _signer(self) -> Any:
        client = await self._s3()
        if not self.public_endpoint_url or self.public_endpoint_url == self.endpoint_url:
            return client
        if self._presigner is None:
            async with self._lock:
                if self._presigner is None and self._stack is not None:
                    signer = await self._stack.enter_async_context(
                        self._session.client(
                            "s3", endpoint_url=self.public_endpoint_url, config=self._config()
                        )
                    )
                    _cache_endpoints(signer, await self._unused_endpoint_params())
                    self._presigner = signer
        return self._presigner

    async def exists(self, key: str) -> bool:
        return await self._head(self._name(check_key(key)))

    async def _head(self, name: str) -> bool:
        try:
            await self._call("head_object", Key=name)
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    # -- deleting

    async def delete(self, key: str) -> None:
        try:
            await self._call("delete_object", Key=self._name(check_key(key)))
        except ClientError as exc:
            if not _missing(exc):
                raise

    async def delete_prefix(self, prefix: str) -> int:
        if prefix:
            check_key(prefix.rstrip("/"))
        client = await self._s3()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._name(prefix), PaginationConfig={"PageSize": 1000}
        )
        batches: list[asyncio.Future[int]] = []
        try:
            async for page in pages:  # deleting one page while the next is listed
                names = [o["Key"] for o in page.get("Contents", [])]
                for i in range(0, len(names), DELETE_BATCH):
                    batch = names[i : i + DELETE_BATCH]
                    batches.append(asyncio.ensure_future(self._delete_batch(batch)))
        except BaseException:
            for task in batches:
                task.cancel()
            await asyncio.gather(*batches, return_exceptions=True)
            raise
        return sum(await _all(batches))

    async def _delete_batch(self, names: list[str]) -> int:
        answer = await self._call(
            "delete_objects",
            Delete={"Objects": [{"Key": n} for n in names], "Quiet": True},
        )
        errors = [e for e in answer.get("Errors", []) if e.get("Code") != "NoSuchKey"]
        if errors:
            first = errors[0]
            raise OSError(
                f"S3 refused to delete {len(errors)} of {len(names)} objects, e.g. "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        return len(names)

    # -- life

    async def ping(self) -> None:
        await self._call("head_bucket")

    async def close(self) -> None:
        async with self._lock:
            stack, self._stack, self._client, self._presigner = self._stack, None, None, None
            self._bucket_ready = not self.create_bucket
        if stack is not None:
            await stack.aclose()
