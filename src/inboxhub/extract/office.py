"""Zip-based documents: Office Open XML (DOCX, XLSX, PPTX) or OpenDocument."""

from __future__ import annotations

from inboxhub.extract.budget import Sink, Unreadable
from inboxhub.extract.limits import ExtractLimits
from inboxhub.extract.odf import is_odf, odf_text
from inboxhub.extract.ooxml import CONTENT_TYPES, ooxml_text
from inboxhub.extract.safezip import SafeZip


def office_text(data: bytes, sink: Sink, limits: ExtractLimits) -> None:
    """A file labelled as an Office or OpenDocument file."""
    z = SafeZip(data, limits)
    if CONTENT_TYPES in z:
        ooxml_text(z, sink)
    elif is_odf(z):
        odf_text(z, sink)
    else:
        raise Unreadable("neither Office Open XML nor OpenDocument")


def zip_text(data: bytes, sink: Sink, limits: ExtractLimits) -> None:
    """A zip labelled as something else (or nothing): read if it turns out to be an
    office document, else left alone, since an ordinary archive is no error."""
    try:
        z = SafeZip(data, limits)
    except Unreadable:
        return
    if CONTENT_TYPES in z:
        ooxml_text(z, sink, quiet=True)
    elif is_odf(z):
        odf_text(z, sink)
