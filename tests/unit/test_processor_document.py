"""What the processor makes of one raw message (pure part, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inboxhub.domain.ids import sha256_hex
from inboxhub.mime.parse import ParseLimits
from inboxhub.services.processor.document import Built, build, build_many
from inboxhub.services.processor.handler import sort_date
from tests.support.messages import make_message

LIMITS = ParseLimits()


def test_attachments_are_hashed_and_html_sanitised() -> None:
    raw = make_message(
        "Report",
        text="see attached",
        html='<p>Report</p><script>alert(1)</script><img src="cid:logo" onerror="x()">',
        attachments=[("r.pdf", "application/pdf", b"%PDF-1.4 data")],
    )
    built = build(raw, LIMITS)
    assert [a.filename for a in built.attachments] == ["r.pdf"]
    att = built.attachments[0]
    assert att.sha256 == sha256_hex(b"%PDF-1.4 data") and att.size == 13 and att.id == "1"
    assert built.attachment_data[att.sha256] == b"%PDF-1.4 data"
    assert "<script" not in built.parsed.html and "onerror" not in built.parsed.html
    assert 'src="cid:logo"' in built.parsed.html
    assert built.parsed.attachments == [], "bytes leave the parsed email"
    assert built.snippet.startswith("see attached")


def test_garbage_still_builds_with_parse_errors() -> None:
    [built] = build_many([b"\xff\xfe\x00 not a message"], LIMITS)
    assert isinstance(built, Built)
    assert built.parsed.parse_errors


def test_sort_date_distrusts_dates_from_the_future() -> None:
    received = datetime(2024, 1, 1, tzinfo=UTC)
    assert sort_date(received - timedelta(days=3), received) == received - timedelta(days=3)
    assert sort_date(datetime(2099, 1, 1, tzinfo=UTC), received) == received
    assert sort_date(None, received) == received
