"""The processor's extraction step and what the indexer and the API make of its text."""

from __future__ import annotations

from datetime import UTC, datetime

from inboxhub.domain.encoded import encode
from inboxhub.domain.events import EmlUploaded
from inboxhub.domain.ids import sha256_hex
from inboxhub.domain.models import EmailDocument, EmailSummary
from inboxhub.extract import ExtractLimits
from inboxhub.mime.parse import ParseLimits
from inboxhub.services.api.schemas import EmailView
from inboxhub.services.indexer.handler import search_document
from inboxhub.services.processor.document import Source, build, build_many
from tests.support import attachments as files
from tests.support.messages import make_message

LIMITS = ParseLimits()


def source(raw: bytes) -> Source:
    upload = EmlUploaded(
        mailbox_id="mb1",
        provider_message_id="p1",
        blob_key="t/t1/eml/" + sha256_hex(raw),
        sha256=sha256_hex(raw),
        size=len(raw),
        received_at=datetime(2024, 6, 1, tzinfo=UTC),
    )
    return Source("t1", upload)


def built_document(raw: bytes, extract: ExtractLimits = ExtractLimits()) -> EmailDocument:
    [built] = build_many([(source(raw), raw)], LIMITS, extract)
    return EmailDocument.model_validate_json(built.email.document_json)


def test_attachment_text_is_stored_searchable_and_not_shown() -> None:
    raw = make_message(
        "Minutes",
        text="See the attached minutes.",
        attachments=[
            ("minutes.docx", files.DOCX_TYPE, files.docx(["Decided: buy a xylophone"])),
            ("scan.pdf", "application/octet-stream", files.pdf("Scanned quokka report")),
            ("logo.png", "image/png", b"\x89PNG\r\n\x1a\n"),
        ],
    )
    doc = built_document(raw)
    assert doc.attachment_text == "Decided: buy a xylophone\n\nScanned quokka report"
    assert doc.parse_errors == []
    assert doc.text.startswith("See the attached minutes.")
    body = search_document(doc).body
    assert body.startswith("See the attached minutes.") and body.endswith("quokka report")
    assert "attachment_text" not in EmailView.of_document(doc).model_dump()
    assert "attachment_text" not in EmailSummary.model_fields
    assert "attachment_text" not in encode(doc).summary_json, "lists never carry it"


def test_a_hostile_attachment_is_a_parse_error_and_the_message_is_kept() -> None:
    raw = make_message(
        "Bomb",
        text="harmless body",
        attachments=[
            ("bomb.docx", files.DOCX_TYPE, files.zip_bomb_docx(30 * 1024 * 1024)),
            ("fine.txt", "text/plain", b"still read"),
        ],
    )
    doc = built_document(raw)
    assert doc.text.startswith("harmless body") and [a.filename for a in doc.attachments] == [
        "bomb.docx",
        "fine.txt",
    ]
    assert doc.attachment_text == "still read"
    [error] = doc.parse_errors
    assert error.startswith("attachment 'bomb.docx': text not extracted: zip bomb?")


def test_extraction_switched_off_stores_no_text() -> None:
    raw = make_message("x", attachments=[("a.txt", "text/plain", b"words")])
    assert built_document(raw, ExtractLimits(enabled=False)).attachment_text == ""
    assert build(source(raw), raw, LIMITS).email.document_json.count('"attachment_text":"words"')


def test_documents_stored_before_extraction_read_as_empty_text() -> None:
    raw = make_message("old")
    [built] = build_many([(source(raw), raw)], LIMITS)
    old = built.email.document_json.replace(',"attachment_text":""', "")
    assert "attachment_text" not in old
    doc = EmailDocument.model_validate_json(old)
    assert doc.attachment_text == "" and search_document(doc).body.startswith("Hello")
