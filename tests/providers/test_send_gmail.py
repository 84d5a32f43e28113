"""Sending through the Gmail API (``providers.send_gmail``) against the fake Gmail
(tests/fakes/gmail.py, ``users.messages.send`` as Google documents it)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from inboxhub.domain.errors import SendPermanentError, SendTemporaryError
from inboxhub.providers.base import ConnectorContext
from inboxhub.providers.gmail import GmailConnector, GmailSettings
from inboxhub.providers.send_gmail import GmailTransport
from inboxhub.settings import Settings
from tests.fakes.gmail import FakeGmail, serve
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets

EMAIL = "alice@example.com"
MESSAGE_ID = "<gmail-send-1@example.com>"


def message() -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Alice <{EMAIL}>"
    msg["To"] = "Bob <bob@example.org>"
    msg["Bcc"] = "dave@example.com"
    msg["Subject"] = "Über Gmail"
    msg["Message-ID"] = MESSAGE_ID
    msg.set_content("Grüße — sent through the API.\n", charset="utf-8", cte="8bit")
    return msg.as_bytes()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGmail]:
    with serve() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGmail) -> FakeGmail:
    server.reset()
    server.add_mailbox(EMAIL)
    return server


class Harness:
    def __init__(self, fake: FakeGmail, tmp_path: Path) -> None:
        self.app = Settings(
            data_dir=tmp_path,
            secret_key="x",
            gmail_api_url=fake.url,
            google_token_url=fake.token_url,
            google_auth_url=fake.auth_url,
            google_client_id=fake.client_id,
            google_client_secret=fake.client_secret,
        )
        self.fake = fake
        self.saved = SavedSecrets()
        self.items = MemoryItemMap()

    def connector(self, token: dict[str, object]) -> GmailConnector:
        ctx = ConnectorContext("t1", "m1", self.app, self.items, self.saved)
        return GmailConnector(GmailSettings(email=EMAIL), {"token": token}, ctx)


@pytest.fixture
async def harness(fake: FakeGmail, tmp_path: Path) -> AsyncIterator[Harness]:
    yield Harness(fake, tmp_path)


async def transport(h: Harness, scope: str | None = None) -> GmailTransport:
    token = h.fake.issue_token(EMAIL, scope) if scope else h.fake.issue_token(EMAIL)
    return GmailTransport(h.connector(token))


async def test_send_files_in_sent_and_the_sync_finds_the_same_id(harness: Harness) -> None:
    t = await transport(harness)
    raw = message()
    assert await t.find_sent(MESSAGE_ID) is False
    receipt = await t.send(raw, EMAIL, ["bob@example.org", "dave@example.com"])
    assert await t.find_sent(MESSAGE_ID) is True
    await t.close()

    assert receipt.filed_in_sent and receipt.rejected == {}
    [(sender_box, recipients, sent_raw)] = harness.fake.sent
    assert sender_box == EMAIL
    assert recipients == ["bob@example.org", "dave@example.com"]  # Bcc read by Gmail
    assert sent_raw == raw  # the whole message, Bcc and 8-bit body included
    [request_body] = [r for r in harness.fake.box(EMAIL).messages.values()]
    assert request_body.labels == ["SENT"]

    sink = MemorySink()
    sync = harness.connector(harness.fake.issue_token(EMAIL))
    try:
        await sync.sync({}, sink)
    finally:
        await sync.close()
    assert list(sink.messages_by_id) == [receipt.provider_message_id]


async def test_the_raw_field_is_base64url(harness: Harness) -> None:
    # Bytes whose standard base64 has "+" and "/": Gmail wants "-" and "_".
    raw = message() + b"\xfb\xff\xfe\r\n"
    assert b"+" in base64.b64encode(raw) or b"/" in base64.b64encode(raw)
    t = await transport(harness)
    await t.send(raw, EMAIL, ["bob@example.org"])
    await t.close()
    assert harness.fake.sent[0][2] == raw


async def test_throttling_is_temporary_with_retry_after(harness: Harness) -> None:
    harness.fake.fail_next(1, 429, retry_after=42, endpoint="messages.send")
    t = await transport(harness)
    with pytest.raises(SendTemporaryError) as caught:
        await t.send(message(), EMAIL, ["bob@example.org"])
    await t.close()
    assert caught.value.retry_after == 42
    assert harness.fake.sent == []
    assert harness.fake.counts["messages.send"] == 1  # not retried behind the worker's back


async def test_a_server_error_is_temporary(harness: Harness) -> None:
    harness.fake.fail_next(1, 503, endpoint="messages.send")
    t = await transport(harness)
    with pytest.raises(SendTemporaryError):
        await t.send(message(), EMAIL, ["bob@example.org"])
    await t.close()


async def test_an_invalid_recipient_is_permanent(harness: Harness) -> None:
    t = await transport(harness)
    with pytest.raises(SendPermanentError, match="Invalid To header"):
        bad = message().replace(b"To: Bob <bob@example.org>", b"To: bob@")
        await t.send(bad, EMAIL, ["bob@"])
    await t.close()
    assert harness.fake.sent == []


async def test_a_grant_without_a_sending_scope_is_permanent(harness: Harness) -> None:
    t = await transport(harness, scope="https://www.googleapis.com/auth/gmail.readonly")
    with pytest.raises(SendPermanentError, match="reconnect the mailbox"):
        await t.send(message(), EMAIL, ["bob@example.org"])
    await t.close()


async def test_the_send_scope_alone_is_enough(harness: Harness) -> None:
    t = await transport(harness, scope="https://www.googleapis.com/auth/gmail.send")
    receipt = await t.send(message(), EMAIL, ["bob@example.org"])
    await t.close()
    assert receipt.provider_message_id in harness.fake.box(EMAIL).messages


async def test_an_expired_token_is_refreshed_once_and_saved(harness: Harness) -> None:
    t = await transport(harness)
    harness.fake.expire_access_tokens(EMAIL)
    await t.send(message(), EMAIL, ["bob@example.org"])
    await t.close()
    assert len(harness.fake.sent) == 1
    assert harness.saved.calls  # the new token is stored for the next run


async def test_a_revoked_grant_is_permanent(harness: Harness) -> None:
    t = await transport(harness)
    harness.fake.revoke_refresh_tokens(EMAIL)
    with pytest.raises(SendPermanentError, match="reconnect"):
        await t.send(message(), EMAIL, ["bob@example.org"])
    await t.close()


async def test_find_sent_cannot_tell_when_gmail_fails(harness: Harness) -> None:
    harness.fake.fail_next(1, 500, endpoint="messages.list")
    t = await transport(harness)
    assert await t.find_sent(MESSAGE_ID) is None
    await t.close()


async def test_a_reply_is_sent_into_the_thread_it_answers(harness: Harness) -> None:
    original = (
        b"From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: Plans\r\n"
        b"Message-ID: <plans-1@example.org>\r\n\r\nShall we?\r\n"
    )
    first = harness.fake.add_message(EMAIL, original, thread_id="thread-plans")
    reply = message().replace(
        b"Message-ID: " + MESSAGE_ID.encode(),
        b"Message-ID: " + MESSAGE_ID.encode() + b"\r\nIn-Reply-To: <plans-1@example.org>",
    )
    assert b"In-Reply-To" in reply
    t = await transport(harness)
    receipt = await t.send(reply, EMAIL, ["bob@example.org"])
    await t.close()
    box = harness.fake.box(EMAIL)
    assert receipt.provider_message_id is not None
    assert box.messages[receipt.provider_message_id].thread_id == box.messages[first].thread_id
