"""Reading members of an untrusted zip (DOCX, XLSX, PPTX and ODF files are zips).

A zip bomb is refused before anything is unpacked, from the sizes the archive
declares: a member bigger than what is left of ``max_unpacked_bytes``, or a big one
packed more than ``max_compression_ratio`` to one. The declared size is then also
enforced while reading, so an archive that lies about it cannot unpack more.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import IO

from inboxhub.extract.budget import Unreadable
from inboxhub.extract.limits import ExtractLimits

SMALL_MEMBER = 1024 * 1024  # below this, any compression ratio is harmless


class CappedReader(io.RawIOBase):
    """A member's bytes, refusing to deliver more than ``cap`` of them."""

    def __init__(self, stream: IO[bytes], cap: int, name: str) -> None:
        self.stream, self.left, self.name = stream, cap, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self.stream.read(min(len(buffer), self.left + 1))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:  # CRC, truncation
            raise Unreadable(f"{self.name} is damaged ({exc})") from None
        if len(data) > self.left:
            raise Unreadable(f"{self.name} unpacks to more than it declares")
        self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


class SafeZip:
    def __init__(self, data: bytes, limits: ExtractLimits) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
            raise Unreadable(f"damaged zip ({exc})") from None
        infos = self.zip.infolist()
        if len(infos) > limits.max_zip_members:
            raise Unreadable(f"zip of {len(infos)} members, more than {limits.max_zip_members}")
        self.members = {i.filename: i for i in infos}
        self.left = limits.max_unpacked_bytes
        self.max_ratio = limits.max_compression_ratio

    def __contains__(self, name: str) -> bool:
        return name in self.members

    def names(self) -> list[str]:
        return list(self.members)

    def open(self, name: str) -> IO[bytes]:
        """A stream of the member's bytes, within the archive's unpacking budget."""
        info = self.members[name]
        size, packed = info.file_size, max(1, info.compress_size)
        if size > self.left:
            raise Unreadable(
                f"zip bomb? {name} declares {size} bytes, more than the {self.left} left to unpack"
            )
        if size > SMALL_MEMBER and size / packed > self.max_ratio:
            raise Unreadable(
                f"zip bomb? {name} is packed {size // packed}:1 (at most {self.max_ratio}:1)"
            )
        self.left -= size
        try:
            stream = self.zip.open(info)
        except (RuntimeError, NotImplementedError, zipfile.BadZipFile) as exc:
            raise Unreadable(f"{name} cannot be unpacked ({exc})") from None  # encrypted, …
        return io.BufferedReader(CappedReader(stream, size, name), 64 * 1024)

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()
