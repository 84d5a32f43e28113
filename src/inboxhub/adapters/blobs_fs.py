"""Blob store on the local file system, in pack files (the embedded adapter).

One file per message costs a file creation, a directory entry and a sync each:
most of the fetcher's time on a Maildir import. Here a batch (``put_many``) is
appended as one new *pack* file under the key's tenant directory, synced once, and
only then entered in an index (SQLite, ``synchronous=FULL``) of key → (pack,
offset, length). A key is readable exactly when its index row is committed, so a
crash at any point leaves either the whole batch or none of it (plus, at worst, an
unindexed pack that nothing points at).

Keys whose last segment is a SHA-256 are content-addressed: writing one that is
already stored writes nothing (one copy of the logo every newsletter carries).
Other keys are replaced by writing them again.

Deleting erases: the bytes are overwritten with zeros and synced, and a pack with
no live entries left is removed. Packs live under ``<root>/<first two key
segments>/`` (``t/<tenant>``), so erasing a tenant removes its directory.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

from inboxhub.adapters.sqlite_thread import SqliteThread, in_chunks, marks
from inboxhub.domain.errors import InvalidInput, NotFound

_SEGMENT = re.compile(r"^[A-Za-z0-9._@+=-]+$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
SCHEMA = """
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS blobs (
  key TEXT PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_by_pack ON blobs (pack);
"""
Location = tuple[str, int, int]  # pack (relative to root), offset, length
_ZEROS_CHUNK = 1024 * 1024


def check_key(key: str) -> str:
    """``key`` if it is a good blob key (``/``-separated segments of letters, digits
    and ``._@+=-``, none empty, ``.`` or ``..``); raises ``InvalidInput`` if not."""
    segments = key.split("/")
    if not key or any(not s or s in (".", "..") or not _SEGMENT.match(s) for s in segments):
        raise InvalidInput(f"bad blob key {key!r}")
    return key


def content_addressed(key: str) -> bool:
    """Whether the key's last segment is a SHA-256 (hex): its bytes are its name's."""
    return _HASH.match(key.rsplit("/", 1)[-1]) is not None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FsBlobStore:
    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)
        self.db = SqliteThread(root / "index.db", SCHEMA)
        self._serial = itertools.count()
        self._tag = uuid.uuid4().hex[:12]  # packs of this process: names never collide

    # -- writing

    def _group(self, key: str) -> str:
        return "/".join(key.split("/")[:2]) if "/" in key else "_"

    def _write_pack(
        self, group: str, items: Sequence[tuple[str, bytes]]
    ) -> list[tuple[str, Location]]:
        directory = self.root / group
        new_dirs = [d for d in (directory, *directory.parents) if not d.exists()]
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{group}/{self._tag}-{os.getpid()}-{next(self._serial)}.pack"
        out: list[tuple[str, Location]] = []
        offset = 0
        with open(self.root / name, "xb") as f:
            for key, data in items:
                f.write(data)
                out.append((key, (name, offset, len(data))))
                offset += len(data)
            if self.fsync:
                f.flush()
                os.fsync(f.fileno())
        if self.fsync:
            for d in (directory, *(n.parent for n in new_dirs)):  # the new names, too
                _fsync(d)
        return out

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        latest = {check_key(key): data for key, data in items}  # the last write of a key wins
        if not latest:
            return
        present = await self._locate([k for k in latest if content_addressed(k)], missing_ok=True)
        todo = [(k, d) for k, d in latest.items() if k not in present]
        groups: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        for key, data in todo:
            groups[self._group(key)].append((key, data))
        written: list[tuple[str, Location]] = []
        for group, members in groups.items():
            written += await asyncio.to_thread(self._write_pack, group, members)
        if written:
            garbage = await self.db.write(lambda conn: self._index(conn, written))
            dropped = set(garbage)
            live = {loc[0] for _, loc in written if loc not in dropped}
            # A new pack holding only duplicates: nothing points into it.
            await self._release(garbage, {loc[0] for _, loc in written} - live)

    def _index(
        self, conn: sqlite3.Connection, written: list[tuple[str, Location]]
    ) -> list[Location]:
        """Enter ``written`` (in one write transaction, so checks and inserts cannot
        interleave with another writer's); returns the bytes nothing points at now, to
        erase. A content-addressed key already entered keeps its first copy (readers
        may hold its location): the copy just written is the garbage. Any other key
        points at its new bytes and the old ones are the garbage."""
        old = self._rows(conn, [k for k, _ in written])
        garbage: list[Location] = []
        rows: list[tuple[str, str, int, int]] = []
        for key, loc in written:
            if key in old and content_addressed(key):
                garbage.append(loc)
                continue
            if key in old:
                garbage.append(old[key])
            rows.append((key, *loc))
        conn.executemany(
            "INSERT INTO blobs VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "pack = excluded.pack, offset = excluded.offset, length = excluded.length",
            rows,
        )
        return garbage

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        await self.put_many([(key, data)])

    # -- reading

    @staticmethod
    def _rows(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, Location]:
        found: dict[str, Location] = {}
        for chunk in in_chunks(keys):
            for key, pack, offset, length in conn.execute(
                f"SELECT key, pack, offset, length FROM blobs WHERE key IN ({marks(len(chunk))})",
                chunk,
            ):
                found[key] = (pack, offset, length)
        return found

    async def _locate(self, keys: Sequence[str], missing_ok: bool = False) -> dict[str, Location]:
        keys = [check_key(k) for k in keys]
        found = await self.db.run(lambda conn: self._rows(conn, keys)) if keys else {}
        if not missing_ok and (missing := [k for k in keys if k not in found]):
            raise NotFound(f"no blob {missing[0]}")
        return found

    def _read(self, locations: Iterable[Location]) -> list[bytes]:
        out: list[bytes] = []
        handles: dict[str, int] = {}
        try:
            for pack, offset, length in locations:
                if pack not in handles:
                    try:
                        handles[pack] = os.open(self.root / pack, os.O_RDONLY)
                    except FileNotFoundError:
                        raise NotFound(f"blob pack {pack} is gone") from None
                out.append(os.pread(handles[pack], length, offset))
        finally:
            for fd in handles.values():
                os.close(fd)
        return out

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        found = await self._locate(keys)
        return await asyncio.to_thread(self._read, [found[k] for k in keys])

    async def get(self, key: str) -> bytes:
        [data] = await self.get_many([key])
        return data

    async def stream(self, key: str, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        if chunk_size < 1:
            raise InvalidInput("chunk_size must be positive")
        [(pack, offset, length)] = (await self._locate([key])).values()
        try:
            fd = await asyncio.to_thread(os.open, self.root / pack, os.O_RDONLY)
        except FileNotFoundError:
            raise NotFound(f"blob pack {pack} is gone") from None
        try:
            for start in range(offset, offset + length, chunk_size):
                size = min(chunk_size, offset + length - start)
                yield await asyncio.to_thread(os.pread, fd, size, start)
        finally:
            os.close(fd)

    async def presigned_url(
        self,
        key: str,
        expires_in: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        return None  # the bytes are only reachable through this process

    async def exists(self, key: str) -> bool:
        return bool(await self._locate([key], missing_ok=True))

    # -- deleting

    def _erase(self, locations: list[Location]) -> None:
        """Overwrite the bytes at ``locations`` with zeros, and sync them."""
        by_pack: dict[str, list[Location]] = defaultdict(list)
        for loc in locations:
            by_pack[loc[0]].append(loc)
        for pack, locs in by_pack.items():
            path = self.root / pack
            try:
                fd = os.open(path, os.O_WRONLY)
            except FileNotFoundError:
                continue
            try:
                for _, offset, length in locs:
                    for start in range(offset, offset + length, _ZEROS_CHUNK):
                        os.pwrite(fd, bytes(min(_ZEROS_CHUNK, offset + length - start)), start)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)

    async def _drop(self, select: str, args: Sequence[object]) -> int:
        """Delete the index rows ``select`` finds; erase their bytes; drop empty packs."""

        def delete(conn: sqlite3.Connection) -> tuple[list[Location], list[str]]:
            rows = conn.execute(f"SELECT key, pack, offset, length FROM blobs WHERE {select}", args)
            found = [(key, (pack, offset, length)) for key, pack, offset, length in rows]
            conn.executemany("DELETE FROM blobs WHERE key = ?", [(k,) for k, _ in found])
            packs = {loc[0] for _, loc in found}
            empty = [
                p
                for p in packs
                if conn.execute("SELECT 1 FROM blobs WHERE pack = ? LIMIT 1", (p,)).fetchone()
                is None
            ]
            return [loc for _, loc in found], empty

        locations, empty = await self.db.write(delete)
        await self._release(locations, set(empty))
        return len(locations)

    async def _release(self, locations: list[Location], empty_packs: set[str]) -> None:
        """Bytes nothing points at any more: packs left with no entry are removed, the
        rest of ``locations`` are zeroed where they lie."""
        await asyncio.to_thread(
            self._erase, [loc for loc in locations if loc[0] not in empty_packs]
        )
        for pack in empty_packs:
            (self.root / pack).unlink(missing_ok=True)

    async def delete(self, key: str) -> None:
        await self._drop("key = ?", [check_key(key)])

    async def delete_prefix(self, prefix: str) -> int:
        if prefix:
            check_key(prefix.rstrip("/"))
        count = await self._drop("key >= ? AND key < ?", [prefix, prefix + "\U0010ffff"])
        group = prefix.rstrip("/")
        if prefix.endswith("/") and group.count("/") == 1:  # a whole tenant: its directory
            await asyncio.to_thread(shutil.rmtree, self.root / group, True)
        return count

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise OSError(f"blob root {self.root} is not writable")
        await self.db.run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self.db.close()
