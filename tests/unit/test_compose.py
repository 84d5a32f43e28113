"""A message we build reads back the same through the standard library and through our
own parser: headers, bodies, attachments and inline parts, in the MIME structure mail
clients write."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage, MIMEPart
from typing import Any

import pytest

from inboxhub.domain.models import Address
from inboxhub.mime.compose import Part, build_message, new_message_id, strip_bcc
from inboxhub.mime.parse import parse_message

WHEN = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8


def build(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "sender": "Alice Example <alice@acme.test>",
        "to": ["bob@example.com"],
        "cc": [],
        "bcc": [],
        "subject": "Quarterly plan",
        "text": "Hello Bob,\nsee you.\n",
        "html": None,
        "attachments": [],
        "message_id": "<m1@acme.test>",
        "date": WHEN,
    }
    fields.update(overrides)
    return bytes(build_message(**fields))


def read(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not message.defects
    return message


def content(part: MIMEPart | None) -> str:
    """A text part's content with the wire's CRLF turned back into newlines."""
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def structure(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def test_text_only_is_one_text_plain_part_with_the_envelope_headers() -> None:
    raw = build(cc=["Carol <carol@example.org>"], bcc=["dave@example.net"])
    got = read(raw)
    assert structure(got) == ["text/plain"]
    assert got["From"] == "Alice Example <alice@acme.test>"
    assert got["To"] == "bob@example.com" and got["Cc"] == "Carol <carol@example.org>"
    assert got["Bcc"] == "dave@example.net"  # kept: the transports strip it on the wire
    assert got["Message-ID"] == "<m1@acme.test>" and got["MIME-Version"] == "1.0"
    assert got["Date"].datetime == WHEN
    assert content(got) == "Hello Bob,\nsee you.\n"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert "User-Agent" not in got and "X-Mailer" not in got


def test_every_line_is_folded_within_78_columns_except_unbreakable_ids() -> None:
    raw = build(
        subject="A very long subject line " * 8,
        to=[f"Person Number {n} <person{n}@example.com>" for n in range(12)],
    )
    head = raw[: raw.index(b"\r\n\r\n")]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert read(raw)["Subject"] == ("A very long subject line " * 8).strip()


def test_non_ascii_subject_and_names_are_encoded_words_and_read_back() -> None:
    raw = build(
        sender=Address(name="Jürgen Müller", email="jurgen@acme.test"),
        to=['"Doe, Jöhn" <john@example.com>'],
        subject="Grüße aus Köln – 東京",
    )
    head = raw[: raw.index(b"\r\n\r\n")]
    assert head.isascii() and b"=?utf-8?" in head
    got = read(raw)
    assert got["Subject"] == "Grüße aus Köln – 東京"
    assert got["From"].addresses[0].display_name == "Jürgen Müller"
    assert got["To"].addresses[0].display_name == "Doe, Jöhn"
    parsed = parse_message(raw)
    assert parsed.subject == "Grüße aus Köln – 東京"
    assert parsed.to == [Address(name="Doe, Jöhn", email="john@example.com")]


def test_idn_domains_go_out_as_punycode() -> None:
    raw = build(sender="Jo <jo@bücher.example>", to=["kunde@MÜNCHEN.example"])
    got = read(raw)
    assert got["From"].addresses[0].addr_spec == "jo@xn--bcher-kva.example"
    assert got["To"].addresses[0].addr_spec == "kunde@xn--mnchen-3ya.example"
    assert new_message_id("bücher.example").endswith("@xn--bcher-kva.example>")


def test_utf8_text_is_quoted_printable_or_base64_never_8bit() -> None:
    european = read(build(text="Schöne Grüße, bis später\n" * 3))
    assert european["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(european) == "Schöne Grüße, bis später\n" * 3
    japanese = read(build(text="東京で会いましょう。よろしくお願いします。\n" * 3))
    assert japanese["Content-Transfer-Encoding"] == "base64"
    assert japanese.get_content_charset() == "utf-8"
    assert build(text="plain ascii\n").isascii()


def test_html_only_gets_a_text_alternative_made_from_the_html() -> None:
    got = read(build(text=None, html="<p>Hello <b>Bob</b></p><p>Second &amp; last</p>"))
    assert structure(got) == ["multipart/alternative", "text/plain", "text/html"]
    plain = content(got.get_body(("plain",)))
    assert "Hello Bob" in plain and "Second & last" in plain
    html = content(got.get_body(("html",)))
    assert html == "<p>Hello <b>Bob</b></p><p>Second &amp; last</p>\n"


def test_text_and_html_are_alternatives_text_first() -> None:
    raw = build(text="Plain version\n", html="<p>HTML version</p>")
    assert structure(read(raw)) == ["multipart/alternative", "text/plain", "text/html"]
    parsed = parse_message(raw)
    assert parsed.text == "Plain version\n" and "HTML version" in parsed.html


def test_attachments_wrap_the_body_in_multipart_mixed_and_read_back_byte_exact() -> None:
    raw = build(
        html="<p>see attached</p>",
        attachments=[
            Part("report.pdf", "application/pdf", PDF),
            Part("Übersicht 2026.csv", "text/csv", "a;b\nä;ö\n".encode()),
        ],
    )
    got = read(raw)
    assert structure(got) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
        "text/csv",
    ]
    files = {a.get_filename(): a.get_payload(decode=True) for a in got.iter_attachments()}
    assert files == {"report.pdf": PDF, "Übersicht 2026.csv": "a;b\nä;ö\n".encode()}
    parsed = parse_message(raw)
    by_name = {a.filename: a for a in parsed.attachments}
    assert by_name["report.pdf"].data == PDF and not by_name["report.pdf"].inline
    assert by_name["Übersicht 2026.csv"].data == "a;b\nä;ö\n".encode()


def test_inline_images_sit_in_multipart_related_with_the_html() -> None:
    raw = build(
        text="Logo below",
        html='<p>Logo:</p><img src="cid:logo@acme.test">',
        attachments=[
            Part("logo.png", "image/png", PNG, content_id="<logo@acme.test>"),
            Part("terms.pdf", "application/pdf", PDF),
        ],
    )
    got = read(raw)
    assert structure(got) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "application/pdf",
    ]
    image = next(p for p in got.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo@acme.test>"
    assert image.get_content_disposition() == "inline" and image.get_content() == PNG
    parsed = parse_message(raw)
    inline = [a for a in parsed.attachments if a.inline]
    assert [(a.content_id, a.data) for a in inline] == [("logo@acme.test", PNG)]


def test_an_inline_part_without_html_is_an_ordinary_attachment() -> None:
    got = read(build(attachments=[Part("logo.png", "image/png", PNG, content_id="logo")]))
    assert structure(got) == ["multipart/mixed", "text/plain", "image/png"]
    assert next(got.iter_attachments()).get_content_disposition() == "attachment"


def test_a_forwarded_message_attachment_stays_message_rfc822_in_7bit() -> None:
    inner = b"From: x@example.org\nSubject: inner\n\nhello\n"
    got = read(build(attachments=[Part("inner.eml", "message/rfc822", inner)]))
    attached = next(got.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] == "7bit"
    assert attached.get_content()["Subject"] == "inner"


def test_an_8bit_message_attachment_goes_as_octet_stream_not_base64_rfc822() -> None:
    inner = "From: x@example.org\nSubject: ü\n\nGrüße\n".encode()
    got = read(build(attachments=[Part("inner.eml", "message/rfc822", inner)]))
    attached = next(got.iter_attachments())
    assert attached.get_content_type() == "application/octet-stream"
    assert attached.get_content() == inner


@pytest.mark.parametrize("content_type", ["", "nonsense", "text/plain; charset=utf-8", "IMAGE/PNG"])
def test_content_types_are_normalised_or_fall_back_to_octet_stream(content_type: str) -> None:
    got = read(build(attachments=[Part("f.bin", content_type, b"data")]))
    kind = next(got.iter_attachments()).get_content_type()
    expected = {"text/plain; charset=utf-8": "text/plain", "IMAGE/PNG": "image/png"}
    assert kind == expected.get(content_type, "application/octet-stream")


def test_attachment_filenames_lose_any_path() -> None:
    got = read(build(attachments=[Part("..\\..\\windows\\evil.exe", "application/x-foo", b"x")]))
    assert next(got.iter_attachments()).get_filename() == "evil.exe"


def test_reply_headers_carry_the_thread_and_long_ids_are_never_encoded() -> None:
    long_id = "<CA+" + "x" * 90 + "@mail.gmail.com>"
    references = ["<root@example.com>", long_id, "<parent@example.com>"]
    raw = build(in_reply_to="<parent@example.com>", references=references)
    assert b"=?" not in raw[: raw.index(b"\r\n\r\n")]
    got = read(raw)
    assert got["In-Reply-To"] == "<parent@example.com>"
    assert got["References"].split() == references
    parsed = parse_message(raw)
    assert parsed.in_reply_to == "parent@example.com"
    assert parsed.references == [r.strip("<>") for r in references]


def test_ids_without_brackets_are_bracketed() -> None:
    got = read(build(message_id="m2@acme.test", in_reply_to="p@x.test", references=["p@x.test"]))
    assert got["Message-ID"] == "<m2@acme.test>" and got["References"] == "<p@x.test>"


def test_date_keeps_the_given_zone_and_a_naive_one_is_utc() -> None:
    vienna = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert read(build(date=vienna))["Date"] == "Wed, 01 Jul 2026 12:00:00 +0200"
    assert read(build(date=datetime(2026, 7, 1, 12, 0)))["Date"].datetime == datetime(
        2026, 7, 1, 12, 0, tzinfo=UTC
    )


def test_the_message_id_is_fresh_each_time_and_names_the_domain() -> None:
    first, second = new_message_id("acme.test"), new_message_id("acme.test")
    assert first != second and first.startswith("<") and first.endswith("@acme.test>")


def test_strip_bcc_removes_only_the_bcc_header_including_folded_lines() -> None:
    raw = build(bcc=[f"hidden{n}@example.net" for n in range(8)])
    assert b"\r\n hidden" in raw  # folded over several lines
    stripped = strip_bcc(raw)
    assert b"hidden" not in stripped
    assert stripped == b"".join(
        line for line in raw.splitlines(keepends=True) if b"hidden" not in line
    )
    assert content(read(stripped)) == content(read(raw))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"From: a@x.test\r\nBcc: b@x.test\r\n\r\nBcc: body line\r\n",
            b"From: a@x.test\r\n\r\nBcc: body line\r\n",
        ),
        (
            b"From: a@x.test\nbcc :b@x.test,\n\tc@x.test\nSubject: s\n\nbody\n",
            b"From: a@x.test\nSubject: s\n\nbody\n",
        ),
        (b"BCC: b@x.test\r\nFrom: a@x.test\r\n\r\nbody", b"From: a@x.test\r\n\r\nbody"),
        (b"From: a@x.test\r\nBcc: b@x.test", b"From: a@x.test\r\n"),
    ],
)
def test_strip_bcc_keeps_every_other_byte(raw: bytes, expected: bytes) -> None:
    assert strip_bcc(raw) == expected


def test_strip_bcc_without_bcc_is_the_identity() -> None:
    raw = build()
    assert strip_bcc(raw) == raw
    assert strip_bcc(b"Subject: no body") == b"Subject: no body"


SUBJECTS = [
    "occurs when divided into an array, and the last e of the array! Привіт світ!!!!!!",
    "Réunion – ordre du jour pour la séance de jeudi prochain à Genève, salle B",
    "東京 大阪 名古屋 札幌 福岡 の 会議 日程 について ご確認 ください",
    "  spaces   inside\tand  Ünïcode  ",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_non_ascii_subjects_keep_every_space(subject: str) -> None:
    """CPython's folder drops the space between two encoded words (RFC 2047 6.2):
    ours keeps the spaces inside the words."""
    raw = build(subject=subject)
    head = raw[: raw.index(b"\r\n\r\n")]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    expected = " ".join(subject.split())
    assert read(raw)["Subject"] == expected
    assert parse_message(raw).subject == expected


LONG_NAMES = [
    "Müller-Lüdenscheidt Ölfabrik Geschäftsführung Überseehandel GmbH & Co. KG",
    "Привіт світ Привіт світ Привіт світ Привіт світ Привіт світ",
    "José María Ñúñez de la Peña y Castañeda-Guzmán Rodríguez",
]


def test_long_non_ascii_names_read_back_whole() -> None:
    to = [Address(name=n, email=f"p{i}@example.com") for i, n in enumerate(LONG_NAMES)]
    raw = build(to=to)
    head = raw[: raw.index(b"\r\n\r\n")]
    assert head.isascii() and all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert parse_message(raw).to == to


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Plain Name", b"To: Plain Name <p@example.com>"),
        ("Doe, John", b'To: "Doe, John" <p@example.com>'),
        ('Jo "JJ" Doe', b'To: "Jo \\"JJ\\" Doe" <p@example.com>'),
        ("=?utf-8?q?x?=", b"To: =?utf-8?b?PT91dGYtOD9xP3g/PQ==?= <p@example.com>"),
    ],
)
def test_ascii_names_are_atoms_or_quoted_strings(name: str, written: bytes) -> None:
    raw = build(to=[Address(name=name, email="p@example.com")])
    assert written + b"\r\n" in raw
    assert read(raw)["To"].addresses[0].display_name == name
