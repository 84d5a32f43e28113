"""The platform's own mail carries what receiving servers expect."""

from __future__ import annotations

from email import message_from_bytes, policy

from inboxhub.mime.system_mail import system_message

LINK = "https://mail.example.com/accept-invitation?token=" + "x" * 90


def test_a_message_has_date_and_message_id_of_the_senders_domain() -> None:
    sent = system_message("inboxhub <no-reply@mail.example.com>", "a@b.test", "Hi", "Hello\n")
    got = message_from_bytes(sent.as_bytes(), policy=policy.default)
    assert got["Date"] and got["Message-ID"].endswith("@mail.example.com>")
    assert got["To"] == "a@b.test" and got["Subject"] == "Hi"


def test_a_subject_stays_on_one_line_and_a_link_stays_whole() -> None:
    sent = system_message("x@y.test", "a@b.test", "Join Acme\r\nBcc: evil@x.test", f"{LINK}\n")
    raw = sent.as_bytes()
    got = message_from_bytes(raw, policy=policy.default)
    assert got["Bcc"] is None and got["Subject"] == "Join Acme Bcc: evil@x.test"
    assert LINK.encode() in raw


def test_a_sender_without_an_address_still_gets_a_message_id() -> None:
    sent = system_message("inboxhub", "a@b.test", "Hi", "Hello\n")
    assert sent["Message-ID"].endswith("@localhost>")
