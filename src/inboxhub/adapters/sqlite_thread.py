"""One SQLite connection confined to one thread, driven from asyncio.

sqlite3 connections must not be used from two threads at once; giving each adapter
its own single-thread executor serialises its calls without blocking the event loop.
Several processes may share the file: WAL lets readers run beside the one writer,
and ``busy_timeout`` makes a writer wait its turn instead of failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
S = TypeVar("S")
MAX_IN = 500  # host parameters per ``IN (...)`` list, well under SQLite's limit


def in_chunks(items: Sequence[S]) -> list[Sequence[S]]:
    """``items`` in slices small enough for one ``IN (...)`` list each."""
    return [items[i : i + MAX_IN] for i in range(0, len(items), MAX_IN)]


def marks(n: int) -> str:
    """``?, ?, …`` for ``n`` host parameters."""
    return ",".join("?" * n)


PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # durable across process crashes in WAL mode
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-65536",
    "PRAGMA temp_store=MEMORY",
)


class SqliteThread:
    def __init__(
        self,
        path: Path,
        schema: str,
        upgrade: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """``schema`` is run on opening (``CREATE … IF NOT EXISTS``), then ``upgrade``
        in a write transaction: it brings a file made by an older version up to date
        (one process at a time, however many open it together)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite:{path.name}")
        self._conn: sqlite3.Connection | None = None
        self._schema = schema
        self._upgrade = upgrade
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.executescript(self._schema)
        if self._upgrade is not None:
            self.transaction(self._upgrade)(conn)
        self._conn = conn

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "closed"
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self.conn)

    def transaction(
        self, fn: Callable[[sqlite3.Connection], T]
    ) -> Callable[[sqlite3.Connection], T]:
        """Wrap ``fn`` in BEGIN IMMEDIATE … COMMIT (rolled back if it raises)."""

        def wrapped(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return wrapped

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self.run(self.transaction(fn))

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
