"""The sending rules that need no server: the From address of a mailbox, the bodies
of a reply, the Sent label, the backoff, scheduling and request fingerprints."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.models import Mailbox
from inboxhub.domain.outgoing import MessageCreate, OutgoingMessage
from inboxhub.services.sender.building import bodies
from inboxhub.services.sender.compose import sender_address
from inboxhub.services.sender.filing import sent_label, sent_provider_id
from inboxhub.services.sender.outbox import request_hash, submission
from inboxhub.services.sender.worker import SendWorker
from inboxhub.settings import Settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def box(provider: str, **config: Any) -> Mailbox:
    return Mailbox(
        id="m", tenant_id="t", name="n", provider=provider, created_at=NOW, config=config
    )


def outgoing(**fields: Any) -> OutgoingMessage:
    values: dict[str, Any] = {
        "id": "o",
        "tenant_id": "t",
        "user_id": "u",
        "mailbox_id": "m",
        "state": "draft",
        "sender": "me@acme.test",
        "internet_message_id": "<x@acme.test>",
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return OutgoingMessage(**values)


def test_the_from_address_is_the_mailboxs_account() -> None:
    assert sender_address(box("gmail", email="a@gmail.test")) == "a@gmail.test"
    assert sender_address(box("graph", user="u@contoso.test")) == "u@contoso.test"
    assert sender_address(box("graph", user="0d6c-object-id")) is None
    imap = box("imap", username="alice", smtp={"host": "h", "username": "alice@acme.test"})
    assert sender_address(imap) == "alice@acme.test"
    assert sender_address(box("imap", username="bob@acme.test")) == "bob@acme.test"
    assert sender_address(box("local", paths=["/x"])) is None


def test_the_authors_text_comes_before_the_quote() -> None:
    assert bodies(outgoing(text="Hi")) == ("Hi", "")
    text, html = bodies(outgoing(text="Hi <you>", quoted_text="> old", quoted_html="<q>old</q>"))
    assert text == "Hi <you>\n\n> old"
    assert html.startswith('<div style="white-space:pre-wrap">Hi &lt;you&gt;</div>')
    assert html.endswith("<br><q>old</q>")
    assert bodies(outgoing(html="<p>Hi</p>")) == ("", "<p>Hi</p>")


def test_the_sent_copy_is_labelled_as_the_sync_would() -> None:
    digest = "ab" * 32
    assert sent_label(box("imap"), f"Sent Items:{digest}") == "Sent Items"
    assert sent_label(box("imap"), "sent:<x@y>") == "Sent"
    assert sent_label(box("gmail"), "18c2f") == "SENT"
    assert sent_label(box("graph"), "AAMk") == "Sent Items"
    assert sent_provider_id(outgoing()) == "sent:<x@acme.test>"
    assert sent_provider_id(outgoing(provider_message_id="18c2f")) == "18c2f"


def test_the_backoff_doubles_with_jitter_up_to_its_cap(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, send_retry_base_seconds=30, send_retry_max_seconds=300)
    worker = SendWorker.__new__(SendWorker)
    worker.c = type("C", (), {"settings": settings})()  # type: ignore[assignment]
    worker.rng = random.Random(7)
    for attempts, ceiling in ((1, 30), (2, 60), (3, 120), (4, 240), (5, 300), (9, 300)):
        delays = [worker.backoff(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), attempts
        assert len(set(delays)) > 1  # jittered


def test_a_send_time_ahead_schedules_and_one_past_sends_now() -> None:
    assert submission(None, NOW) == {"state": "queued", "next_attempt_at": NOW}
    assert submission(NOW - timedelta(hours=1), NOW)["state"] == "queued"
    later = NOW + timedelta(hours=1)
    assert submission(later, NOW) == {
        "state": "scheduled",
        "send_at": later,
        "next_attempt_at": later,
    }


@pytest.mark.parametrize(
    "other",
    [{"subject": "B"}, {"to": ["c@d.test"]}, {"draft": True}],
)
def test_the_request_fingerprint_tells_requests_apart(other: dict[str, Any]) -> None:
    base = {"mailbox_id": "m", "to": ["a@b.test"], "subject": "A"}
    assert request_hash(MessageCreate(**base)) == request_hash(MessageCreate(**base))
    assert request_hash(MessageCreate(**base)) != request_hash(MessageCreate(**{**base, **other}))
