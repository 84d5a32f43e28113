"""Replies and forwards start from the fields real mail clients fill in: recipients,
subject, threading headers, the quoted original, and (forward) its attachments."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from inboxhub.domain.models import Address
from inboxhub.mime.compose import (
    Original,
    Part,
    build_message,
    forward_fields,
    reply_fields,
)
from inboxhub.mime.parse import parse_message
from inboxhub.mime.quoting import MAX_REFERENCES, forward_subject, reply_subject

ME = "me@acme.test"
ALICE = Address(name="Alice", email="alice@example.com")
BOB = Address(name="Bob", email="bob@example.com")
CAROL = Address(name="Carol", email="carol@example.org")
WHEN = datetime(2026, 3, 4, 15, 6, tzinfo=UTC)


def original(**overrides: object) -> Original:
    fields: dict[str, object] = {
        "message_id": "<orig@example.com>",
        "subject": "Plan",
        "from_": ALICE,
        "to": [Address(name="Me", email=ME), BOB],
        "cc": [CAROL],
        "date": WHEN,
        "text": "Hi all,\nthe plan is ready.\n",
    }
    fields.update(overrides)
    return Original(**fields)  # type: ignore[arg-type]


def emails(addresses: list[Address]) -> list[str]:
    return [a.email for a in addresses]


def test_reply_goes_to_the_sender_only() -> None:
    reply = reply_fields(original(), reply_all=False, me=ME)
    assert reply.to == [ALICE] and reply.cc == []


def test_reply_goes_to_reply_to_when_the_original_has_one() -> None:
    lists = Address(name="Team list", email="team@lists.example.org")
    reply = reply_fields(original(reply_to=[lists]), reply_all=False, me=ME)
    assert reply.to == [lists]


def test_reply_all_adds_to_and_cc_without_me_whatever_the_case() -> None:
    source = original(
        to=[Address(email="ME@ACME.test"), BOB, Address(email="Alice@Example.com")],
        cc=[CAROL, Address(email="me@acme.TEST"), Address(email="BOB@example.com")],
    )
    reply = reply_fields(source, reply_all=True, me="Me Myself <Me@Acme.test>")
    assert emails(reply.to) == ["alice@example.com", "bob@example.com"]
    assert emails(reply.cc) == ["carol@example.org"]


def test_reply_all_with_reply_to_keeps_the_original_recipients() -> None:
    lists = Address(email="team@lists.example.org")
    reply = reply_fields(original(reply_to=[lists], to=[lists, BOB]), reply_all=True, me=ME)
    assert emails(reply.to) == ["team@lists.example.org", "bob@example.com"]
    assert emails(reply.cc) == ["carol@example.org"]


def test_replying_to_my_own_message_answers_its_recipients() -> None:
    mine = original(from_=Address(name="Me", email=ME), to=[BOB], cc=[CAROL])
    assert reply_fields(mine, reply_all=False, me=ME).to == [BOB]
    reply_all = reply_fields(mine, reply_all=True, me=ME)
    assert reply_all.to == [BOB] and reply_all.cc == [CAROL]


def test_a_message_with_no_sender_gives_an_empty_to() -> None:
    assert reply_fields(original(from_=None), reply_all=False, me=ME).to == []


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Plan", "Re: Plan"),
        ("Re: Plan", "Re: Plan"),
        ("RE: Re: Plan", "Re: Plan"),
        ("re:re:  Plan", "Re: Plan"),
        ("Aw: Plan", "Re: Plan"),
        ("AW: RE: Sv: Plan", "Re: Plan"),
        ("Re[2]: Plan", "Re: Plan"),
        ("RE (3): Plan", "Re: Plan"),
        ("Antw: Plan", "Re: Plan"),
        ("回复：Plan", "Re: Plan"),
        ("Fwd: Plan", "Re: Fwd: Plan"),
        ("Regarding: Plan", "Re: Regarding: Plan"),
        ("Retour", "Re: Retour"),
        ("", "Re:"),
        ("Multi\n line", "Re: Multi line"),
    ],
)
def test_reply_subject_gets_re_once(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Plan", "Fwd: Plan"),
        ("Fwd: Plan", "Fwd: Plan"),
        ("FW: Plan", "Fwd: Plan"),
        ("WG: Plan", "Fwd: Plan"),
        ("Re: Plan", "Fwd: Re: Plan"),
        ("", "Fwd:"),
    ],
)
def test_forward_subject_gets_fwd_once(subject: str, expected: str) -> None:
    assert forward_subject(subject) == expected


def test_reply_threads_under_the_original() -> None:
    reply = reply_fields(
        original(references=["root@example.com", "<mid@example.com>"]), reply_all=False, me=ME
    )
    assert reply.in_reply_to == "<orig@example.com>"
    assert reply.references == ["<root@example.com>", "<mid@example.com>", "<orig@example.com>"]


def test_without_references_the_parents_in_reply_to_starts_the_chain() -> None:
    reply = reply_fields(original(in_reply_to="parent@example.com"), reply_all=False, me=ME)
    assert reply.references == ["<parent@example.com>", "<orig@example.com>"]


def test_a_first_message_has_only_its_own_id_as_references() -> None:
    assert reply_fields(original(), reply_all=False, me=ME).references == ["<orig@example.com>"]


def test_without_a_message_id_there_is_no_in_reply_to() -> None:
    reply = reply_fields(original(message_id=None, references=[]), reply_all=False, me=ME)
    assert reply.in_reply_to is None and reply.references == []


def test_long_references_keep_the_root_and_the_latest_ids() -> None:
    chain = [f"<id{n}@example.com>" for n in range(60)]
    reply = reply_fields(original(references=chain), reply_all=False, me=ME)
    assert len(reply.references) == MAX_REFERENCES
    assert reply.references[0] == "<id0@example.com>"
    assert reply.references[-2:] == ["<id59@example.com>", "<orig@example.com>"]
    assert reply.references[1] == f"<id{60 - MAX_REFERENCES + 2}@example.com>"


def test_broken_and_repeated_ids_are_left_out_of_references() -> None:
    chain = ["<a@example.com>", "not an id", "<a@example.com>", "<b@x>\r\nBcc: evil@x"]
    reply = reply_fields(original(references=chain), reply_all=False, me=ME)
    assert reply.references == ["<a@example.com>", "<orig@example.com>"]


def test_quoted_text_has_an_attribution_and_quote_marks() -> None:
    source = original(text="Hi all,\r\n> earlier words\r\n\r\nthe plan is ready.\r\n")
    quoted = reply_fields(source, reply_all=False, me=ME).quoted_text
    assert quoted == (
        "On Wed, 04 Mar 2026 at 15:06 UTC, Alice <alice@example.com> wrote:\n"
        "> Hi all,\n>> earlier words\n>\n> the plan is ready.\n"
    )


def test_an_html_only_original_is_quoted_as_its_text() -> None:
    source = original(text="", html="<p>First</p><p>Second</p>")
    quoted = reply_fields(source, reply_all=False, me=ME).quoted_text
    assert "> First\n>\n> Second" in quoted


def test_non_ascii_names_survive_into_the_attribution_and_the_built_reply() -> None:
    source = original(from_=Address(name="Zoë Ŝmith", email="zoe@example.com"))
    reply = reply_fields(source, reply_all=False, me=ME)
    assert reply.quoted_text.startswith("On Wed, 04 Mar 2026 at 15:06 UTC, Zoë Ŝmith")
    raw = bytes(
        build_message(
            sender=ME,
            to=reply.to,
            cc=reply.cc,
            bcc=[],
            subject=reply.subject,
            text="Thanks!\n\n" + reply.quoted_text,
            html="<p>Thanks!</p>" + reply.quoted_html,
            attachments=reply.inline,
            message_id="<r1@acme.test>",
            date=WHEN,
            in_reply_to=reply.in_reply_to,
            references=reply.references,
        )
    )
    parsed = parse_message(raw)
    assert parsed.to == [Address(name="Zoë Ŝmith", email="zoe@example.com")]
    assert parsed.in_reply_to == "orig@example.com" and parsed.subject == "Re: Plan"
    assert "Zoë Ŝmith" in parsed.text and "<blockquote" in parsed.html


HOSTILE = (
    '<html><head><script>steal()</script><style>body{}</style></head><body onload="x()">'
    '<p onclick="evil()">Hello</p><img src="x" onerror="alert(1)">'
    '<a href="javascript:alert(2)">click</a><iframe src="https://evil.example"></iframe>'
    '<img src="cid:pic1"><form action="https://evil.example"><input name="p"></form>'
    "<svg><script>alert(3)</script></svg>"
    '<a href="https://ok.example/">fine</a></body></html>'
)


@pytest.mark.parametrize("make", ["reply", "forward"])
def test_hostile_html_in_the_original_is_sanitised(make: str) -> None:
    source = original(html=HOSTILE, text="")
    if make == "reply":
        html = reply_fields(source, reply_all=False, me=ME).quoted_html
    else:
        html = forward_fields(source).html
    lowered = html.lower()
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<form"):
        assert bad not in lowered
    assert "steal()" not in html and "Hello" in html and "https://ok.example/" in html


def test_reply_carries_the_inline_images_its_quote_shows() -> None:
    pic = Part("pic.png", "image/png", b"\x89PNG", content_id="pic1")
    other = Part("unused.png", "image/png", b"\x89PNG2", content_id="pic2")
    doc = Part("doc.pdf", "application/pdf", b"%PDF")
    source = original(html='<p>see</p><img src="cid:pic1">', attachments=[pic, other, doc])
    assert reply_fields(source, reply_all=False, me=ME).inline == [pic]


def test_quoting_plain_text_into_html_escapes_it() -> None:
    html = reply_fields(original(text="a < b & <script>"), reply_all=False, me=ME).quoted_html
    assert "a &lt; b &amp; &lt;script&gt;" in html and "<blockquote" in html


def test_forward_has_the_header_block_and_the_original_body() -> None:
    fields = forward_fields(original(subject="Plan", html="<p>The <b>plan</b></p>"))
    assert fields.subject == "Fwd: Plan"
    assert fields.text.startswith(
        "---------- Forwarded message ---------\n"
        "From: Alice <alice@example.com>\n"
        "Date: Wed, 04 Mar 2026 at 15:06 UTC\n"
        "Subject: Plan\n"
        "To: Me <me@acme.test>, Bob <bob@example.com>\n"
        "Cc: Carol <carol@example.org>\n\n"
        "Hi all,\nthe plan is ready.\n"
    )
    assert "From: Alice &lt;alice@example.com&gt;" in fields.html
    assert "<b>plan</b>" in fields.html


def test_forward_without_cc_leaves_the_cc_line_out() -> None:
    assert "\nCc:" not in forward_fields(original(cc=[])).text


def test_forward_carries_the_attachments_and_they_reach_the_built_message() -> None:
    pic = Part("pic.png", "image/png", b"\x89PNG-data", content_id="pic1")
    doc = Part("doc.pdf", "application/pdf", b"%PDF-data")
    source = original(html='<p>see</p><img src="cid:pic1">', attachments=[pic, doc])
    fields = forward_fields(source)
    assert fields.attachments == [pic, doc]
    raw = bytes(
        build_message(
            sender=ME,
            to=["dave@example.net"],
            cc=[],
            bcc=[],
            subject=fields.subject,
            text=fields.text,
            html=fields.html,
            attachments=fields.attachments,
            message_id="<f1@acme.test>",
            date=WHEN,
        )
    )
    parsed = parse_message(raw)
    got = {(a.filename, a.inline, a.content_id): a.data for a in parsed.attachments}
    assert got == {
        ("pic.png", True, "pic1"): b"\x89PNG-data",
        ("doc.pdf", False, None): b"%PDF-data",
    }
    assert email.message_from_bytes(raw, policy=policy.default)["Subject"] == "Fwd: Plan"


def test_an_original_read_by_our_parser_feeds_a_reply() -> None:
    raw = (
        b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\nTo: me@acme.test\r\n"
        b"Cc: bob@example.com\r\nReply-To: list@example.org\r\nSubject: RE: Re: Hello\r\n"
        b"Message-ID: <p1@example.com>\r\nReferences: <r0@example.com>\r\n"
        b"Date: Tue, 3 Mar 2026 10:00:00 +0100\r\n\r\nHello there\r\n"
    )
    source = Original.from_parsed(parse_message(raw))
    reply = reply_fields(source, reply_all=True, me=ME)
    assert emails(reply.to) == ["list@example.org"] and emails(reply.cc) == ["bob@example.com"]
    assert reply.subject == "Re: Hello"
    assert reply.references == ["<r0@example.com>", "<p1@example.com>"]
    assert reply.quoted_text.startswith("On Tue, 03 Mar 2026 at 09:00 UTC, Zoë <zoe@example.com>")
