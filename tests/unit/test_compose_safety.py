"""Nothing a user types can add a header to a message we send, and an address a server
would refuse is refused first, naming the entry at fault."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from inboxhub.domain.models import Address
from inboxhub.mime.compose import (
    BadAddress,
    HeaderInjection,
    Part,
    build_message,
    check_header_value,
    parse_addresses,
)

CONTROLS = ["\r\n", "\n", "\r", "\x00", "\x0b", "\x1b", "\x7f"]


def build(**overrides: Any) -> bytes:
    fields: dict[str, Any] = {
        "sender": "alice@acme.test",
        "to": ["bob@example.com"],
        "cc": [],
        "bcc": [],
        "subject": "Hi",
        "text": "body",
        "html": None,
        "attachments": [],
        "message_id": "<m1@acme.test>",
        "date": datetime(2026, 1, 1, tzinfo=UTC),
    }
    fields.update(overrides)
    return bytes(build_message(**fields))


@pytest.mark.parametrize("control", CONTROLS)
def test_check_header_value_refuses_control_characters(control: str) -> None:
    with pytest.raises(HeaderInjection):
        check_header_value(f"Hello{control}Bcc: victim@example.com")


def test_check_header_value_allows_tab_and_unicode() -> None:
    assert check_header_value("a\tb – ü 東京") == "a\tb – ü 東京"


INJECTIONS: list[tuple[str, dict[str, Any]]] = [
    ("subject", {"subject": "Hi\r\nBcc: victim@example.com"}),
    ("subject LF", {"subject": "Hi\nX-Evil: 1"}),
    ("subject NUL", {"subject": "Hi\x00there"}),
    ("display name", {"to": ['"Bob\r\nBcc: victim@example.com" <bob@example.com>']}),
    ("Address name", {"to": [Address(name="Bob\nX-Evil: 1", email="bob@example.com")]}),
    ("address", {"cc": ["bob@example.com\r\nBcc: victim@example.com"]}),
    ("sender", {"sender": "alice@acme.test\nBcc: victim@example.com"}),
    ("filename", {"attachments": [Part("a.txt\r\nX-Evil: 1", "text/plain", b"x")]}),
    ("content id", {"attachments": [Part("a.png", "image/png", b"x", "id\r\nX-Evil: 1")]}),
    ("message id", {"message_id": "<m1@acme.test>\r\nBcc: victim@example.com"}),
    ("in-reply-to", {"in_reply_to": "<p@x.test>\nBcc: victim@example.com"}),
    ("references", {"references": ["<p@x.test>", "<q@x.test>\r\nX-Evil: 1"]}),
]


@pytest.mark.parametrize(
    "overrides", [case for _, case in INJECTIONS], ids=[name for name, _ in INJECTIONS]
)
def test_a_line_break_in_any_field_is_refused(overrides: dict[str, Any]) -> None:
    html = {"html": "<img src=cid:x>"} if "attachments" in overrides else {}
    with pytest.raises(HeaderInjection):
        build(**overrides, **html)


@pytest.mark.parametrize("value", ["not an id", "<a b@c>", "<>", "<no-at-sign>"])
def test_a_malformed_message_id_is_refused(value: str) -> None:
    with pytest.raises(HeaderInjection, match="not a message id"):
        build(message_id=value)


def test_an_attachment_body_may_hold_anything() -> None:
    data = b"Bcc: victim@example.com\r\n\r\n\x00\xff"
    raw = build(attachments=[Part("x.bin", "application/octet-stream", data)])
    assert b"victim" not in raw  # base64-encoded


def test_parse_addresses_keeps_display_names_and_normalises_domains() -> None:
    got = parse_addresses(
        [
            "plain@example.com",
            "Bob Smith <Bob@Example.COM>",
            '"Doe, Jane (Sales)" <jane@example.org>',
            'José "Pepe" <pepe@bücher.example>',
            "  <angle@example.net>  ",
        ]
    )
    assert got == [
        Address(name="", email="plain@example.com"),
        Address(name="Bob Smith", email="Bob@example.com"),
        Address(name="Doe, Jane (Sales)", email="jane@example.org"),
        Address(name="José Pepe", email="pepe@xn--bcher-kva.example"),
        Address(name="", email="angle@example.net"),
    ]


def test_a_quoted_name_keeps_escaped_quotes_and_a_name_may_hold_specials() -> None:
    got = parse_addresses([r'"Jo \"JJ\" Doe" <jo@example.com>', "Ann (HR) <ann@example.com>"])
    assert [a.name for a in got] == ['Jo "JJ" Doe', "Ann (HR)"]


def test_parse_addresses_drops_repeats_case_insensitively() -> None:
    got = parse_addresses(["a@example.com", "Someone <A@EXAMPLE.com>", "b@example.com"])
    assert [a.email for a in got] == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "   ",
        "no-at-sign",
        "two@@example.com",
        "a@b",
        "a..b@example.com",
        "user@localhost",
        "user@[192.168.0.1]",
        '"quoted local"@example.com',
        "josé@example.com",  # needs SMTPUTF8
        "undisclosed-recipients:;",
        "Team: a@example.com, b@example.com;",
        "a@example.com, b@example.com",
        "a@example.com b@example.com",
        "Name <a@example.com",
        "<a@example.com> trailing",
        "Bad: name <a@example.com>",
        "x" * 65 + "@example.com",
        "a@" + "b" * 64 + ".com",
        "a@-example.com",
        "a@exa_mple.com",
    ],
)
def test_parse_addresses_refuses_garbage_naming_the_entry(entry: str) -> None:
    with pytest.raises(BadAddress) as caught:
        parse_addresses(["good@example.com", entry])
    assert caught.value.entry == entry
    assert repr(entry) in str(caught.value)


def test_a_bad_recipient_in_build_message_raises_bad_address() -> None:
    with pytest.raises(BadAddress, match="nobody@localhost"):
        build(bcc=["ok@example.com", "nobody@localhost"])


def test_test_domains_are_accepted_for_test_setups() -> None:
    assert parse_addresses(["a@acme.test"])[0].email == "a@acme.test"
