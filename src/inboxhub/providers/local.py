"""Local archives: a Maildir, an mbox file, or a directory tree of ``.eml`` files.

Local files have no server-side id, so the provider message id is the SHA-256 of
the message bytes: importing the same archive again (or the same message found in
two files) lands on the same email. Maildir flags come from the file name's info
part (``:2,FS``: F flagged, S seen — https://cr.yp.to/proto/maildir.html).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.ids import sha256_hex
from inboxhub.domain.models import Flags
from inboxhub.mime.mbox import looks_like_mbox, split_mbox
from inboxhub.providers.base import FetchedMessage

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
