"""What reading one message's attachments for text may cost (settings.py sets them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtractLimits:
    enabled: bool = True
    max_attachment_bytes: int = 25 * 1024 * 1024  # larger attachments are not read
    # Characters kept. Per message it matches what one search document's body holds
    # (MAX_BODY of the FTS5 and Elasticsearch adapters): more could not be found.
    max_chars_per_attachment: int = 500_000
    max_chars_per_message: int = 1_000_000
    seconds_per_attachment: float = 5.0  # enforced only where a SIGALRM can be had
    # A DOCX/XLSX/PPTX/ODF file is a zip: the bytes its members may unpack to, and how
    # much smaller than that a big member may be packed before it is taken for a bomb.
    max_unpacked_bytes: int = 100 * 1024 * 1024
    max_compression_ratio: int = 200
    max_zip_members: int = 10_000
    max_depth: int = 3  # messages attached to attached messages, read this deep
