"""Hostile shapes are cut down by the configured limits, with the cut recorded, and
the message is still stored: never an exception, never a lost message."""

from __future__ import annotations

from inboxhub.mime.parse import ParseLimits, parse_message
from tests.support.messages import make_message


def test_ten_thousand_nested_multiparts_are_refused_but_headers_kept() -> None:
    raw = b"Subject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n" + b"".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n".encode()
        for i in range(10_000)
    )
    parsed = parse_message(raw + b"--b10000\nContent-Type: text/plain\n\nhi\n")
    assert parsed.subject == "deep"
    assert any("nested" in e or "depth" in e for e in parsed.parse_errors), parsed.parse_errors


def test_a_fifty_megabyte_header_is_truncated_and_the_body_kept() -> None:
    raw = b"From: a@example.com\nX-Huge: " + b"x" * (50 * 1024 * 1024) + b"\n\nthe body\n"
    parsed = parse_message(raw, ParseLimits(max_header_bytes=1024 * 1024))
    assert any("truncated" in e for e in parsed.parse_errors), parsed.parse_errors
    assert parsed.from_ is not None and parsed.from_.email == "a@example.com"
    assert "the body" in parsed.text


def test_one_giant_header_does_not_take_the_others_with_it() -> None:
    raw = b"X-Huge: " + b"y" * (5 * 1024 * 1024) + b"\nFrom: b@example.com\nSubject: kept\n\nbody\n"
    parsed = parse_message(raw, ParseLimits(max_header_bytes=256 * 1024))
    assert parsed.subject == "kept" and parsed.from_ is not None
    assert any("truncated" in e for e in parsed.parse_errors), parsed.parse_errors
    assert "body" in parsed.text


def test_a_message_over_the_size_limit_is_cut_with_a_recorded_error() -> None:
    big = make_message(
        "Big", attachments=[("big.bin", "application/octet-stream", b"\0" * 3_000_000)]
    )
    parsed = parse_message(big, ParseLimits(max_message_bytes=1_000_000))
    assert parsed.subject == "Big"
    assert any("truncated to 1000000" in e for e in parsed.parse_errors), parsed.parse_errors


def test_too_many_parts_stop_at_the_limit() -> None:
    parts = [(f"f{i}.txt", "application/octet-stream", b"x") for i in range(300)]
    parsed = parse_message(make_message("Many", attachments=parts), ParseLimits(max_parts=50))
    assert len(parsed.attachments) < 50
    assert any("parts" in e for e in parsed.parse_errors), parsed.parse_errors
