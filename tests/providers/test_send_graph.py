"""Sending through Microsoft Graph (``providers.send_graph``: sendMail in MIME format)
against the fake Graph (tests/fakes/graph.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from inboxhub.domain.errors import SendPermanentError, SendTemporaryError
from inboxhub.providers.base import ConnectorContext
from inboxhub.providers.graph import GraphConnector, GraphSettings
from inboxhub.providers.send_graph import GraphTransport
from inboxhub.settings import Settings
from tests.fakes.graph import FakeGraph
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets

UPN = "adele@contoso.com"
MESSAGE_ID = "<graph-send-1@contoso.com>"
SEND_SCOPE = "User.Read Mail.ReadWrite Mail.Send"


def message(to: str = "Bob <bob@example.org>") -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Adele <{UPN}>"
    msg["To"] = to
    msg["Bcc"] = "dave@example.com"
    msg["Subject"] = "Über Graph"
    msg["Message-ID"] = MESSAGE_ID
    msg.set_content("Grüße — sent as MIME.\n", charset="utf-8", cte="8bit")
    return msg.as_bytes()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph().start()
    server.add_user(UPN, "Adele Vance")
    try:
        yield server
    finally:
        server.stop()


class Harness:
    def __init__(self, tmp_path: Path, fake: FakeGraph) -> None:
        self.fake = fake
        self.app = Settings(
            data_dir=tmp_path,
            secret_key="x",
            graph_api_url=fake.graph_url,
            microsoft_login_url=fake.login_url,
            microsoft_client_id=fake.client_id,
            microsoft_client_secret=fake.client_secret,
        )
        self.saved = SavedSecrets()
        self.sleeps: list[float] = []
        self.opened: list[GraphConnector] = []

    def connector(self, scope: str = SEND_SCOPE) -> GraphConnector:
        ctx = ConnectorContext("t1", "m1", self.app, MemoryItemMap(), self.saved)
        token = self.fake.issue_tokens(UPN, scope)
        conn = GraphConnector(GraphSettings(user=UPN), {"token": token}, ctx)
        conn.api.sleep = self.no_wait
        self.opened.append(conn)
        return conn

    async def no_wait(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def transport(self, scope: str = SEND_SCOPE) -> GraphTransport:
        return GraphTransport(self.connector(scope), sleep=self.no_wait)


@pytest.fixture
async def harness(tmp_path: Path, fake: FakeGraph) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, fake)
    yield h
    for conn in h.opened:
        await conn.close()


async def test_send_mime_and_the_sync_finds_the_same_id(harness: Harness) -> None:
    t = harness.transport()
    raw = message()
    assert await t.find_sent(MESSAGE_ID) is False
    receipt = await t.send(raw, UPN, ["bob@example.org", "dave@example.com"])
    assert await t.find_sent(MESSAGE_ID) is True

    [post] = [r for r in harness.fake.requests if r.path.endswith("/sendMail")]
    assert post.path == f"/v1.0/users/{UPN}/sendMail"
    assert post.headers["content-type"].startswith("text/plain")
    [(upn, recipients, mime)] = harness.fake.sent
    assert (upn, recipients, mime) == (UPN, ["bob@example.org", "dave@example.com"], raw)
    assert receipt.filed_in_sent and receipt.provider_message_id is not None

    sink = MemorySink()
    sync = harness.connector()
    await sync.sync({}, sink)
    assert receipt.provider_message_id in sink.messages_by_id  # the same immutable id
    assert sink.messages_by_id[receipt.provider_message_id].data == raw


async def test_throttling_is_temporary_with_retry_after(harness: Harness) -> None:
    t = harness.transport()
    harness.fake.throttle(1, retry_after=17)
    with pytest.raises(SendTemporaryError) as caught:
        await t.send(message(), UPN, ["bob@example.org"])
    assert caught.value.retry_after == 17
    assert harness.fake.sent == []
    assert harness.fake.count("/sendMail") == 1  # the worker decides when to try again


async def test_an_invalid_recipient_is_permanent(harness: Harness) -> None:
    t = harness.transport()
    bad = message().replace(b"To: Bob <bob@example.org>", b"To: bob@nowhere")
    with pytest.raises(SendPermanentError, match="ErrorInvalidRecipients"):
        await t.send(bad, UPN, ["bob@nowhere"])
    assert harness.fake.sent == []


async def test_a_grant_without_mail_send_is_permanent(harness: Harness) -> None:
    t = harness.transport(scope="User.Read Mail.ReadWrite")
    with pytest.raises(SendPermanentError, match=r"Mail\.Send"):
        await t.send(message(), UPN, ["bob@example.org"])


async def test_an_expired_token_is_refreshed_once(harness: Harness) -> None:
    t = harness.transport()
    harness.fake.expire_access_tokens()
    await t.send(message(), UPN, ["bob@example.org"])
    assert len(harness.fake.sent) == 1
    assert harness.saved.calls


async def test_a_revoked_grant_is_permanent(harness: Harness) -> None:
    t = harness.transport()
    harness.fake.expire_access_tokens()
    harness.fake.revoke_refresh_tokens(UPN)
    with pytest.raises(SendPermanentError, match="reconnect"):
        await t.send(message(), UPN, ["bob@example.org"])


async def test_find_sent_cannot_tell_when_graph_fails(harness: Harness) -> None:
    t = harness.transport()
    harness.fake.throttle(10, retry_after=500)  # longer than the client waits
    assert await t.find_sent(MESSAGE_ID) is None
