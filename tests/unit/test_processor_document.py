"""What the processor makes of one raw message (pure part, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inboxhub.domain.events import EmlUploaded
from inboxhub.domain.ids import email_id, sha256_hex
from inboxhub.domain.models import EmailDocument
from inboxhub.mime.parse import ParseLimits
from inboxhub.services.processor.document import Built, Source, build, build_many, sort_date
from tests.support.messages import make_message

LIMITS = ParseLimits()
RECEIVED = datetime(2024, 6, 1, tzinfo=UTC)


def decoded(built: Built) -> EmailDocument:
    return EmailDocument.model_validate_json(built.email.document_json)


def source(raw: bytes, provider_id: str = "p1") -> Source:
    upload = EmlUploaded(
        mailbox_id="mb1",
        provider_message_id=provider_id,
        blob_key="t/t1/eml/" + sha256_hex(raw),
        sha256=sha256_hex(raw),
        size=len(raw),
        received_at=RECEIVED,
    )
    return Source("t1", upload)


def test_attachments_are_hashed_and_html_sanitised() -> None:
    raw = make_message(
        "Report",
        text="see attached",
        html='<p>Report</p><script>alert(1)</script><img src="cid:logo" onerror="x()">',
        attachments=[("r.pdf", "application/pdf", b"%PDF-1.4 data")],
    )
    built = build(source(raw), raw, LIMITS)
    doc = decoded(built)
    assert built.email.id == doc.id and built.email.subject == "Report"
    assert doc.id == email_id("t1", "mb1", "p1") and doc.size == len(raw)
    assert [a.filename for a in doc.attachments] == ["r.pdf"] and doc.has_attachments
    att = doc.attachments[0]
    assert att.sha256 == sha256_hex(b"%PDF-1.4 data") and att.size == 13 and att.id == "1"
    assert built.attachment_data == {att.sha256: b"%PDF-1.4 data"}
    assert "<script" not in doc.html and "onerror" not in doc.html
    assert 'src="cid:logo"' in doc.html
    assert doc.snippet.startswith("see attached")


def test_garbage_still_builds_with_parse_errors() -> None:
    raw = b"\xff\xfe\x00 not a message"
    [built] = build_many([(source(raw), raw)], LIMITS)
    assert built.email.has_parse_errors and decoded(built).parse_errors
    assert decoded(built).blob_key.endswith(sha256_hex(raw)), "the raw bytes stay reachable"


def test_a_parser_crash_is_marked_not_lost(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from inboxhub.services.processor import document as module

    def explode(raw: bytes, limits: ParseLimits) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "parse_message", explode)
    good = make_message("fine")
    [built] = build_many([(source(good), good)], LIMITS)
    assert decoded(built).parse_errors == ["parser crashed: RuntimeError: boom"]
    assert built.email.sort_date == RECEIVED


def test_snippet_skips_quoted_lines_and_stops_early() -> None:
    text = "> old quoted line\n\nThe new answer.\n" + "word " * 10_000
    raw = make_message("Re: x", text=text)
    snippet = decoded(build(source(raw), raw, LIMITS)).snippet
    assert snippet.startswith("The new answer. word") and snippet.endswith("…")
    assert len(snippet) <= 201


def test_sort_date_distrusts_dates_from_the_future() -> None:
    received = datetime(2024, 1, 1, tzinfo=UTC)
    assert sort_date(received - timedelta(days=3), received) == received - timedelta(days=3)
    assert sort_date(datetime(2099, 1, 1, tzinfo=UTC), received) == received
    assert sort_date(None, received) == received
