"""Which reader an attachment needs, from its bytes, its content type and its name.

Mail clients label attachments loosely (``application/octet-stream`` for anything,
``.dat`` names), so the bytes decide first where they can: a PDF header or a zip
signature. Otherwise the content type, then the file name's extension. Formats we
do not read (images, archives, old binary Office files) give None.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["pdf", "office", "zip", "html", "text", "eml"]
# "office": labelled DOCX/XLSX/PPTX/ODF; "zip": a zip that might be one (looked into
# quietly: an ordinary archive is no error).

PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"
_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."
_OFFICE_MACRO = (
    "application/vnd.ms-word.document.macroenabled.12",
    "application/vnd.ms-word.template.macroenabled.12",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.ms-excel.template.macroenabled.12",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    "application/vnd.ms-powerpoint.slideshow.macroenabled.12",
)
BY_TYPE: dict[str, Kind] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "application/acrobat": "pdf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/csv": "text",
    "message/rfc822": "eml",
    "message/global": "eml",
    **dict.fromkeys(_OFFICE_MACRO, "office"),
}
# text/* is read as plain text, except these (calendars and cards are data).
NOT_TEXT = {"text/calendar", "text/x-vcalendar", "text/vcard", "text/x-vcard", "text/directory"}
WORD = ("docx", "docm", "dotx", "dotm")
EXCEL = ("xlsx", "xlsm", "xltx", "xltm")
POWERPOINT = ("pptx", "pptm", "ppsx", "ppsm", "potx", "potm")
OPENDOCUMENT = ("odt", "ott", "ods", "ots", "odp", "otp")
BY_EXTENSION: dict[str, Kind] = {
    "pdf": "pdf",
    **dict.fromkeys(WORD + EXCEL + POWERPOINT + OPENDOCUMENT, "office"),
    **dict.fromkeys(["html", "htm", "xhtml"], "html"),
    **dict.fromkeys(["txt", "text", "csv", "tsv", "tab", "md", "markdown", "log"], "text"),
    "eml": "eml",
}
_HTML_STARTS = (b"<!doctype html", b"<html")


def labelled(filename: str, content_type: str) -> Kind | None:
    """What the content type, else the extension, says the attachment is."""
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in BY_TYPE:
        return BY_TYPE[ctype]
    if ctype.startswith((_OOXML, _ODF)):
        return "office"
    if ctype.startswith("text/") and ctype not in NOT_TEXT:
        return "text"
    _, dot, extension = filename.lower().rpartition(".")
    return BY_EXTENSION.get(extension) if dot else None


def detect(filename: str, content_type: str, data: bytes) -> Kind | None:
    label = labelled(filename, content_type)
    head = data[:1024]
    if head.startswith(PDF_MAGIC) or (label == "pdf" and PDF_MAGIC in head):
        return "pdf"  # some writers put junk before the header; readers allow 1 KiB
    if head.startswith(ZIP_MAGIC):
        return "office" if label == "office" else "zip"
    if label is None and head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(_HTML_STARTS):
        return "html"
    return label
