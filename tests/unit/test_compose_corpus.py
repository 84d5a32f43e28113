"""Replying to and forwarding every real-world message of the shared corpus: the
fields come out sane, the built message parses back, and nothing of a hostile
original's HTML survives into the quote."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

from inboxhub.mime.compose import (
    BadAddress,
    HeaderInjection,
    Original,
    build_message,
    forward_fields,
    reply_fields,
)
from inboxhub.mime.parse import parse_message
from tests.support.corpus import message_paths

ME = "me@acme.test"
WHEN = datetime(2026, 11, 26, tzinfo=UTC)
DANGEROUS = ("<script", "javascript:", "onerror=", "onload=", "onclick=", "<iframe")


def _build(**fields: object) -> bytes:
    base: dict[str, object] = {
        "sender": ME,
        "cc": [],
        "bcc": [],
        "message_id": "<c1@acme.test>",
        "date": WHEN,
    }
    return bytes(build_message(**{**base, **fields}))  # type: ignore[arg-type]


def test_every_corpus_message_can_be_answered_and_forwarded() -> None:
    refused: list[str] = []
    for path in message_paths():
        original = Original.from_parsed(parse_message(path.read_bytes()))
        reply = reply_fields(original, reply_all=True, me=ME)
        forward = forward_fields(original)
        assert reply.subject.startswith("Re:") and not reply.subject.startswith("Re: Re:"), path
        assert forward.subject.startswith("Fwd:"), path
        assert all(a.email.lower() != ME for a in reply.to + reply.cc), path
        assert len(reply.references) <= 20, path
        for html in (reply.quoted_html, forward.html):
            assert not any(bad in html.lower() for bad in DANGEROUS), path

        raw = _build(
            to=["bob@example.com"],
            subject=forward.subject,
            text="FYI\n\n" + forward.text,
            html="<p>FYI</p>" + forward.html,
            attachments=forward.attachments,
        )
        back = parse_message(raw)
        assert back.subject == " ".join(forward.subject.split()), path
        assert len(back.attachments) == len(forward.attachments), path
        assert not email.message_from_bytes(raw, policy=policy.default).defects, path
        try:
            _build(
                to=reply.to or ["bob@example.com"],
                cc=reply.cc,
                subject=reply.subject,
                text="Thanks\n\n" + reply.quoted_text,
                html="<p>Thanks</p>" + reply.quoted_html,
                attachments=reply.inline,
                in_reply_to=reply.in_reply_to,
                references=reply.references,
            )
        except (BadAddress, HeaderInjection) as exc:  # the original's own addresses
            refused.append(f"{path.name}: {exc}")
    # Some corpus messages carry broken addresses on purpose; most are answerable.
    assert len(refused) < len(message_paths()) // 4, "\n".join(refused[:20])
