"""Local archives: a Maildir, an mbox file, or a directory tree of ``.eml`` files.

Local files have no server-side id, so the provider message id is the SHA-256 of
the message bytes: importing the same archive again (or the same message found in
two files) lands on the same email. Maildir flags come from the file name's info
part (``:2,FS``: F flagged, S seen — https://cr.yp.to/proto/maildir.html).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import Field

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.ids import sha256_hex
from inboxhub.domain.models import Flags
from inboxhub.mime.mbox import looks_like_mbox, split_mbox
from inboxhub.providers.base import (
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    FetchedMessage,
    ProviderConfigError,
    SyncSink,
)

EML_SUFFIXES = {".eml", ".msg", ".txt", ""}


def is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def maildir_flags(filename: str) -> Flags:
    _, sep, info = filename.partition(":2,")
    if not sep:
        _, sep, info = filename.partition(";2,")  # Maildir on file systems without ':'
    return Flags(seen="S" in info, flagged="F" in info)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _maildir_files(root: Path) -> Iterator[os.DirEntry[str]]:
    """cur/ and new/ of the Maildir, then of each Maildir++ subfolder (``.Sent`` …)."""
    folders = [root, *sorted(p for p in root.iterdir() if p.name.startswith(".") and is_maildir(p))]
    for folder in folders:
        for sub in ("new", "cur"):
            for entry in sorted(os.scandir(folder / sub), key=lambda e: e.name):
                if entry.is_file() and not entry.name.startswith("."):
                    yield entry


def _from_line_date(message: bytes) -> datetime | None:
    """The date on an mbox ``From sender date`` separator line, if readable."""
    if not message.startswith(b"From "):
        return None
    line = message.split(b"\n", 1)[0].decode("latin-1").strip()
    parts = line.split(None, 2)
    if len(parts) < 3:
        return None
    try:
        return parsedate_to_datetime(parts[2]).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        return None


def _one(data: bytes, received_at: datetime, flags: Flags | None = None) -> FetchedMessage:
    digest = sha256_hex(data)
    return FetchedMessage(
        provider_message_id=digest,
        data=data,
        received_at=received_at,
        flags=flags or Flags(),
        sha256=digest,
    )


def iter_maildir(root: Path) -> Iterator[FetchedMessage]:
    for entry in _maildir_files(root):
        with open(entry.path, "rb") as f:
            data = f.read()
        received = datetime.fromtimestamp(entry.stat().st_mtime, tz=UTC)
        yield _one(data, received, maildir_flags(entry.name))


def iter_mbox(path: Path) -> Iterator[FetchedMessage]:
    fallback = _mtime(path)
    for message in split_mbox(path.read_bytes()):
        yield _one(message, _from_line_date(message) or fallback)


def iter_tree(root: Path) -> Iterator[FetchedMessage]:
    """Every message file under ``root``; a file that is an mbox is split."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in EML_SUFFIXES:
                continue
            yield from iter_file(path)


def iter_file(path: Path) -> Iterator[FetchedMessage]:
    data = path.read_bytes()
    if looks_like_mbox(data):
        yield from iter_mbox(path)
    else:
        yield _one(data, _mtime(path))


def iter_local(path: Path) -> Iterator[FetchedMessage]:
    """Messages of whatever archive ``path`` is."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    if is_maildir(path):
        return iter_maildir(path)
    if path.is_dir():
        return iter_tree(path)
    return iter_file(path)


def count_local(path: Path) -> int | None:
    """A cheap upper bound for progress bars (None when it would mean reading mboxes)."""
    if is_maildir(path):
        return sum(1 for _ in _maildir_files(path))
    if path.is_dir():
        return sum(len(f) for _, _, f in os.walk(path))
    return None


def newest_mtime(path: Path) -> float:
    """The newest modification time of ``path`` and the directories under it: a
    message delivered into a Maildir (or a file added to a tree) changes it."""
    if not path.is_dir():
        return path.stat().st_mtime
    newest = path.stat().st_mtime
    for dirpath, _, _ in os.walk(path):
        newest = max(newest, os.stat(dirpath).st_mtime)
    return newest


class LocalSettings(ConnectorSettings):
    """Archives on the server's file system. Only an operator creates these
    (``inboxhub import``), or a tenant admin under ``INBOXHUB_LOCAL_MAIL_ROOT``."""

    paths: list[str] = Field(default_factory=list)


class LocalConnector:
    """Re-reads an archive when it changed since the last pass (newest mtime under
    it); the ids are content hashes, so only new messages go further. New mail is
    seen within ``WATCH_INTERVAL`` seconds. Flag changes and deletions inside an
    archive are not followed: archives are for bringing mail in."""

    WATCH_INTERVAL = 1.0
    BATCH = 256

    def __init__(self, config: LocalSettings, secrets: dict[str, Any], ctx: ConnectorContext):
        self.paths = [Path(p) for p in config.paths]

    def _mtimes(self) -> dict[str, float]:
        return {str(p): newest_mtime(p) for p in self.paths if p.exists()}

    async def sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        seen: dict[str, float] = dict(cursor.get("mtimes", {}))
        for path in self.paths:
            if not path.exists():
                raise ProviderConfigError(f"{path} does not exist")
            mtime = await asyncio.to_thread(newest_mtime, path)  # before reading
            if seen.get(str(path)) == mtime:
                continue
            messages = iter_local(path)
            while batch := await asyncio.to_thread(list, islice(messages, self.BATCH)):
                await sink.messages(batch)
            seen[str(path)] = mtime
            await sink.checkpoint({"mtimes": seen})
        return {"mtimes": seen}

    async def wait_for_change(self, cursor: Cursor, timeout: float) -> bool:
        known = dict(cursor.get("mtimes", {}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(min(self.WATCH_INTERVAL, max(0.0, deadline - time.monotonic())))
            now = await asyncio.to_thread(self._mtimes)
            if any(known.get(p) != m for p, m in now.items()):
                return True
        return False

    async def close(self) -> None:
        return None


SETTINGS = LocalSettings
CONNECTOR = LocalConnector
