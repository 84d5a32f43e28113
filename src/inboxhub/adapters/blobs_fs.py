"""Blob store on the local file system (the embedded adapter).

A key ``t/<tenant>/eml/<sha256>`` is the file ``<root>/t/<tenant>/eml/<sh>/<a256>``:
the first two hex characters of a 64-character hash become a directory, so no
directory grows past a few thousand entries. Writes go to a temporary file in the
same directory, are fsynced, then renamed over the target: a reader sees the whole
object or none (POSIX rename is atomic).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from pathlib import Path

from inboxhub.domain.errors import InvalidInput, NotFound

_SEGMENT = re.compile(r"^[A-Za-z0-9._@+=-]+$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


class FsBlobStore:
    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        segments = key.split("/")
        if not key or any(not s or s in (".", "..") or not _SEGMENT.match(s) for s in segments):
            raise InvalidInput(f"bad blob key {key!r}")
        last = segments[-1]
        if _HASH.match(last):
            segments[-1:] = [last[:2], last[2:]]
        return self.root.joinpath(*segments)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no blob {key}") from None

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._get, key)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    def _delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if prefix.endswith("/") and base.is_dir():
            count = sum(len(files) for _, _, files in os.walk(base))
            shutil.rmtree(base)
            return count
        parent, stem = base.parent, base.name
        count = 0
        for entry in parent.glob(f"{stem}*") if parent.is_dir() else []:
            if entry.is_dir():
                count += sum(len(files) for _, _, files in os.walk(entry))
                shutil.rmtree(entry)
            else:
                entry.unlink()
                count += 1
        return count

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(self._delete_prefix, prefix)

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise OSError(f"blob root {self.root} is not writable")
