"""SQLite connections confined to threads, driven from asyncio.

sqlite3 connections must not be used from two threads at once; giving each adapter
its own single-thread executor serialises its calls without blocking the event loop.
Several processes may share the file: WAL lets readers run beside the one writer,
and ``busy_timeout`` makes a writer wait its turn instead of failing. The same holds
inside a process: with ``readers``, reads run on a small pool of read-only
connections, each on its own thread, so one slow search does not queue every other
request behind it (sqlite3 lets go of the GIL while a statement runs).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
S = TypeVar("S")
MAX_IN = 500  # host parameters per ``IN (...)`` list, well under SQLite's limit
# Reader connections of a store the API reads from: a few more than the cores of a
# small server, as a reader also waits on the disk.
READERS = 4


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
READER_PRAGMAS = (
    "PRAGMA query_only=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-16384",  # each reader its own 16 MB page cache
    "PRAGMA temp_store=MEMORY",
)


class SqliteThread:
    def __init__(
        self,
        path: Path,
        schema: str,
        upgrade: Callable[[sqlite3.Connection], None] | None = None,
        readers: int = 0,
    ) -> None:
        """``schema`` is run on opening (``CREATE … IF NOT EXISTS``), then ``upgrade``
        in a write transaction: it brings a file made by an older version up to date
        (one process at a time, however many open it together). ``readers``: how many
        connections ``read`` may use at once (0: it runs on the writer's)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite:{path.name}")
        self._conn: sqlite3.Connection | None = None
        self._schema = schema
        self._upgrade = upgrade
        self._executor.submit(self._open).result()
        self._reader = threading.local()  # each reader thread's connection
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers = (
            ThreadPoolExecutor(
                max_workers=readers,
                thread_name_prefix=f"sqlite-read:{path.name}",
                initializer=self._open_reader,
            )
            if readers
            else None
        )

    def _open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        conn.executescript(self._schema)
        if self._upgrade is not None:
            self.transaction(self._upgrade)(conn)
        self._conn = conn

    def _open_reader(self) -> None:
        """Each reader thread's own connection, opened as the thread starts (after the
        writer made the schema)."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in READER_PRAGMAS:
            conn.execute(pragma)
        self._reader.conn = conn
        with self._reader_lock:
            self._reader_conns.append(conn)

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "closed"
        return self._conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, self.conn)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn``, which only reads, on a reader connection. Each statement sees
        everything committed before it started, this process's writes included."""
        if self._readers is None:
            return await self.run(fn)
        assert self._conn is not None, "closed"
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader.conn))

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
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, wait=True)
            for reader in self._reader_conns:  # no thread uses them any more
                reader.close()
            self._reader_conns.clear()
