"""An attached message (message/rfc822) is kept as the message, decoded, whatever
transfer encoding a mailer put on it (RFC 2046 forbids base64 there; it happens)."""

from __future__ import annotations

import base64
import quopri

import pytest

from inboxhub.mime.parse import ParseLimits, parse_message

INNER = b"From: a@example.com\r\nSubject: inner one\r\n\r\nhello inner =\r\n"


def _outer(cte: str, payload: bytes) -> bytes:
    return (
        b"From: x@example.org\r\nSubject: outer\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\n"
        b"Content-Type: text/plain\r\n\r\nbody\r\n--BB\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
        + cte.encode()
        + b"\r\n\r\n"
        + payload
        + b"\r\n--BB--\r\n"
    )


@pytest.mark.parametrize(
    ("cte", "payload"),
    [
        ("7bit", INNER),
        ("base64", base64.encodebytes(INNER).replace(b"\n", b"\r\n")),
        ("quoted-printable", quopri.encodestring(INNER)),
    ],
)
def test_attached_message_is_stored_decoded(cte: str, payload: bytes) -> None:
    parsed = parse_message(_outer(cte, payload), ParseLimits())
    (attachment,) = parsed.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.filename == "inner one.eml"
    assert attachment.data.replace(b"\r\n", b"\n").startswith(
        b"From: a@example.com\nSubject: inner one\n\nhello inner ="
    )
    assert parsed.parse_errors == []


def test_broken_base64_is_kept_and_reported() -> None:
    parsed = parse_message(_outer("base64", b"!!!not base64 at all==="), ParseLimits())
    (attachment,) = parsed.attachments
    assert attachment.data  # kept as sent, not dropped
    assert any("not valid base64" in e for e in parsed.parse_errors)
