"""One factory per adapter of each port; every contract suite runs on each of them.

A factory gets a ``Ctx``: the test's temp dir, a name unique to the test (each test
gets its own bucket, database, index prefix or topic prefix on a shared server), and
the session's real servers (``tests/conftest.py``), which skip the test with the
reason when the server is not installed. Production adapters are imported inside
their factory so that a missing client library fails only their own tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from inboxhub.adapters.blobs_fs import FsBlobStore
from inboxhub.adapters.bus_sqlite import SqliteEventBus
from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.docs_sqlite import SqliteEmailStore
from inboxhub.adapters.search_fts import FtsSearchIndex


@dataclass
class Ctx:
    tmp: Path
    request: pytest.FixtureRequest
    name: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:12])

    def server(self, fixture: str) -> Any:
        return self.request.getfixturevalue(fixture)


Factory = Callable[[Ctx], Any]


@asynccontextmanager
async def _closing(port: Any) -> AsyncIterator[Any]:
    try:
        yield port
    finally:
        await port.close()


# ---------------------------------------------------------------- event bus


def bus_sqlite(ctx: Ctx, **options: Any) -> SqliteEventBus:
    return SqliteEventBus(ctx.tmp / "bus.db", partitions=4, **options)


def bus_kafka_url(ctx: Ctx) -> str:
    return f"kafka://{ctx.server('noida').bootstrap}?topic_prefix={ctx.name}."


def bus_kafka(ctx: Ctx, **options: Any) -> Any:
    from inboxhub.adapters.bus_kafka import KafkaEventBus

    return KafkaEventBus.from_url(bus_kafka_url(ctx), partitions=4, **options)


BUSES: dict[str, Callable[..., Any]] = {"sqlite": bus_sqlite, "kafka": bus_kafka}

# ---------------------------------------------------------------- blob store


def blobs_s3(ctx: Ctx, **options: Any) -> Any:
    from inboxhub.adapters.blobs_s3 import S3BlobStore

    return S3BlobStore.from_url(ctx.server("seaweedfs").url(ctx.name), **options)


BLOBS: dict[str, Factory] = {"fs": lambda ctx: FsBlobStore(ctx.tmp / "blobs"), "s3": blobs_s3}
LOCAL_BLOBS = ("fs",)

# ---------------------------------------------------------------- email documents


def emails_mongo(ctx: Ctx, **options: Any) -> Any:
    from inboxhub.adapters.docs_mongo import MongoEmailStore

    return MongoEmailStore.from_url(ctx.server("secantus").url(ctx.name), **options)


EMAIL_STORES: dict[str, Factory] = {
    "sqlite": lambda ctx: SqliteEmailStore(ctx.tmp / "emails.db"),
    "mongo": emails_mongo,
}

# ---------------------------------------------------------------- search index


def search_elastic_url(ctx: Ctx) -> str:
    endpoint = ctx.server("noida").elastic_endpoint.removeprefix("http://")
    return f"elasticsearch://{endpoint}?index_prefix={ctx.name}"


def search_elastic(ctx: Ctx, **options: Any) -> Any:
    from inboxhub.adapters.search_elastic import ElasticSearchIndex

    return ElasticSearchIndex.from_url(search_elastic_url(ctx), **options)


SEARCH_INDEXES: dict[str, Factory] = {
    "sqlite": lambda ctx: FtsSearchIndex(ctx.tmp / "search.db"),
    "elastic": search_elastic,
}

# ---------------------------------------------------------------- relational


async def directory_sqlite(ctx: Ctx) -> SqlDirectory:
    return await SqlDirectory.open(f"sqlite+aiosqlite:///{ctx.tmp}/inboxhub.db")


async def directory_postgres(ctx: Ctx) -> SqlDirectory:
    return await SqlDirectory.open(ctx.server("postgres").create_database(ctx.name))


DIRECTORIES = {"sqlite": directory_sqlite, "postgres": directory_postgres}
