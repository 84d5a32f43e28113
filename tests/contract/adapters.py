"""One factory per adapter of each port. The production adapters of the next issue add
their names here (and start their servers); every contract suite then runs on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from inboxhub.adapters.blobs_fs import FsBlobStore
from inboxhub.adapters.bus_sqlite import SqliteEventBus
from inboxhub.adapters.db import SqlDirectory
from inboxhub.adapters.docs_sqlite import SqliteEmailStore
from inboxhub.adapters.search_fts import FtsSearchIndex

Factory = Callable[[Path], Any]


@asynccontextmanager
async def _closing(port: Any) -> AsyncIterator[Any]:
    try:
        yield port
    finally:
        await port.close()


def bus_sqlite(tmp: Path, **options: Any) -> SqliteEventBus:
    return SqliteEventBus(tmp / "bus.db", partitions=4, **options)


BUSES: dict[str, Callable[..., Any]] = {"sqlite": bus_sqlite}
BLOBS: dict[str, Factory] = {"fs": lambda tmp: FsBlobStore(tmp / "blobs")}
EMAIL_STORES: dict[str, Factory] = {"sqlite": lambda tmp: SqliteEmailStore(tmp / "emails.db")}
SEARCH_INDEXES: dict[str, Factory] = {"sqlite": lambda tmp: FtsSearchIndex(tmp / "search.db")}


async def directory_sqlite(tmp: Path) -> SqlDirectory:
    return await SqlDirectory.open(f"sqlite+aiosqlite:///{tmp}/inboxhub.db")


DIRECTORIES = {"sqlite": directory_sqlite}
