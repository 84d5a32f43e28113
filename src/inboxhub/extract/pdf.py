"""Text of PDF files, with pypdf (pure Python, hardened against decompression bombs).

A PDF encrypted only against editing (an owner password, an empty user password)
opens and is read; one that needs a password to open is reported. A page that
cannot be read is noted and the others are still read.
"""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

from inboxhub.extract.budget import Sink, Unreadable
from inboxhub.extract.detect import PDF_MAGIC
from inboxhub.extract.limits import ExtractLimits

if TYPE_CHECKING:
    from pypdf import PdfReader

# pypdf logs every repair it makes; a hostile file would flood the worker's log.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def load() -> None:
    """Import pypdf (a few hundred milliseconds): done by the parse workers as they
    start (``document.warm_up``), and by no other process, which never reads a PDF."""
    import pypdf  # noqa: F401


def _open(data: bytes) -> PdfReader:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except (NotImplementedError, PyPdfError) as exc:
            raise Unreadable(f"encrypted PDF ({exc})") from None
        if not opened:
            raise Unreadable("encrypted PDF: it needs a password to open")
    return reader


def pdf_text(data: bytes, sink: Sink, limits: ExtractLimits) -> None:
    from pypdf.errors import PyPdfError

    if PDF_MAGIC not in data[:1024]:
        raise Unreadable("not a PDF (no %PDF- header)")
    try:
        reader = _open(data)
        pages = reader.pages
        count = len(pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise Unreadable(f"damaged PDF ({type(exc).__name__}: {exc})") from None
    failed: list[str] = []
    for number in range(count):
        try:
            text = pages[number].extract_text()
        except Exception as exc:  # one broken page must not cost the others
            failed.append(f"{number + 1} ({type(exc).__name__})")
            continue
        sink.add(text + "\n\n")
    if failed:
        sink.note(f"{len(failed)} of {count} PDF pages unreadable: {', '.join(failed[:5])}")
