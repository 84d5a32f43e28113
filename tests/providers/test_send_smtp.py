"""SMTP submission for IMAP mailboxes (``providers.send_smtp``) against a real aiosmtpd
server (``tests/support/smtp_submission.py``: AUTH, STARTTLS, implicit TLS, scripted
replies) and, for the Sent copy, the real Dovecot of ``tests/conftest.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.errors import InvalidInput, SendPermanentError, SendTemporaryError
from inboxhub.domain.models import Mailbox
from inboxhub.providers.base import ConnectorContext
from inboxhub.providers.imap import ImapConnector, ImapSettings
from inboxhub.providers.send import cannot_send
from inboxhub.providers.send_smtp import SmtpTransport, crlf
from inboxhub.providers.smtp_settings import SmtpSettings
from inboxhub.settings import Settings
from tests.support.processes import free_port
from tests.support.servers.dovecot import Dovecot
from tests.support.smtp_submission import Script, Submission
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets

# aiosmtpd warns about AUTH without TLS: the "none" tests want exactly that.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USER, PASSWORD = "alice", "s3cret-pässword"
SENDER = "alice@example.com"
TO, CC, BCC = "bob@example.org", "carol@example.net", "dave@example.com"


def message(subject: str = "Hello", text: str | None = None) -> bytes:
    """A message as the compose step builds it: CRLF, 8-bit UTF-8 body, Bcc kept."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Alice <{SENDER}>"
    msg["To"] = f"Bob <{TO}>"
    msg["Cc"] = CC
    msg["Bcc"] = BCC
    msg["Subject"] = subject
    msg["Message-ID"] = "<send-test-1@example.com>"
    body = text or (
        "Grüße aus Köln — ünïcödé stays 8-bit.\n.a line starting with a dot\n.\n..two dots\nend\n"
    )
    msg.set_content(body, charset="utf-8", cte="8bit")
    return msg.as_bytes()


def without_bcc(raw: bytes) -> bytes:
    return re.sub(rb"(?m)^Bcc: [^\r\n]*\r\n", b"", raw, count=1)


def transport(
    tmp_path: Path,
    smtp_port: int,
    *,
    security: str = "starttls",
    host: str = "localhost",
    ca_file: str | None = None,
    password: str | None = PASSWORD,
    token: str | None = None,
    imap: tuple[str, int, str] = ("127.0.0.1", 1, USER),  # a closed port: no Sent copy
) -> SmtpTransport:
    imap_host, imap_port, imap_user = imap
    secrets: dict[str, Any] = {"oauth2_token": token} if token else {"password": password}
    smtp = SmtpSettings(host=host, port=smtp_port, security=security)  # type: ignore[arg-type]
    config = ImapSettings(
        host=imap_host,
        port=imap_port,
        security="none",
        username=imap_user,
        smtp=smtp,
        **secrets,
    )
    settings = Settings(
        data_dir=tmp_path,
        secret_key="x",
        allow_private_mail_hosts=True,
        mail_tls_ca_file=ca_file or "",
    )
    ctx = ConnectorContext("t1", "m1", settings, MemoryItemMap(), SavedSecrets())
    return SmtpTransport(ImapConnector(config, secrets, ctx), smtp)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Submission]:
    with Submission(tmp_path, "starttls", users={USER: PASSWORD}).running() as running:
        yield running


def starttls(tmp_path: Path, server: Submission, **kw: Any) -> SmtpTransport:
    return transport(tmp_path, server.port, ca_file=str(server.ca_file), **kw)


# -- what arrives ---------------------------------------------------------------------


async def test_starttls_password_submission_delivers_the_exact_bytes(
    tmp_path: Path, server: Submission
) -> None:
    raw = message()
    t = starttls(tmp_path, server)
    receipt = await t.send(raw, SENDER, [TO, CC, BCC])
    await t.close()

    [got] = server.received
    assert got.sender == SENDER
    assert got.recipients == [TO, CC, BCC]  # Bcc in the envelope...
    assert got.data == without_bcc(raw)  # ...not on the wire; every other byte intact
    assert b"Bcc" not in got.data
    body = got.message.get_content().replace("\r\n", "\n")
    assert body.startswith("Grüße aus Köln — ünïcödé stays 8-bit.\n")  # 8-bit UTF-8 intact
    assert ".a line starting with a dot\n.\n..two dots\nend\n" in body  # dots survive
    assert server.logins == [("PLAIN", USER)]
    assert receipt.rejected == {}
    assert (receipt.filed_in_sent, receipt.provider_message_id) == (False, None)  # no IMAP


async def test_implicit_tls_with_xoauth2(tmp_path: Path) -> None:
    sub = Submission(tmp_path, "tls", tokens={"ya29.token": USER})
    with sub.running():
        t = transport(
            tmp_path, sub.port, security="tls", ca_file=str(sub.ca_file), token="ya29.token"
        )
        await t.send(message(), SENDER, [TO])
        await t.close()
    assert sub.logins == [("XOAUTH2", USER)]
    assert [r.recipients for r in sub.received] == [[TO]]


async def test_a_refused_token_is_permanent(tmp_path: Path) -> None:
    sub = Submission(tmp_path, "tls", tokens={"ya29.token": USER})
    with sub.running():
        t = transport(tmp_path, sub.port, security="tls", ca_file=str(sub.ca_file), token="old")
        with pytest.raises(SendPermanentError, match="535"):
            await t.send(message(), SENDER, [TO])
    assert sub.received == []


async def test_the_certificate_is_verified_by_default(tmp_path: Path, server: Submission) -> None:
    t = transport(tmp_path, server.port)  # the test CA is not trusted
    with pytest.raises(SendPermanentError, match="not trusted"):
        await t.send(message(), SENDER, [TO])
    assert server.received == []


async def test_plain_text_only_when_configured(tmp_path: Path) -> None:
    sub = Submission(tmp_path, "none", users={USER: PASSWORD})
    with sub.running():
        t = transport(tmp_path, sub.port, security="none", host="127.0.0.1")
        await t.send(message(), SENDER, [TO])
    assert len(sub.received) == 1


# -- failures ---------------------------------------------------------------------------


async def test_a_wrong_password_is_permanent(tmp_path: Path, server: Submission) -> None:
    t = starttls(tmp_path, server, password="wrong")
    with pytest.raises(SendPermanentError, match="rejected the login") as caught:
        await t.send(message(), SENDER, [TO])
    assert caught.value.rejected == {}
    assert server.received == []


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (Script(mail="421 4.3.2 Service shutting down"), SendTemporaryError),
        (Script(data="451 4.3.0 Local error in processing"), SendTemporaryError),
        (Script(mail="553 5.7.1 Sender address rejected: not owned by user"), SendPermanentError),
        (Script(data="554 5.6.0 Message rejected as spam"), SendPermanentError),
    ],
)
async def test_replies_to_mail_and_data_are_classified(
    tmp_path: Path, server: Submission, script: Script, error: type[Exception]
) -> None:
    server.script = script
    with pytest.raises(error) as caught:
        await starttls(tmp_path, server).send(message(), SENDER, [TO, CC])
    assert (script.mail or script.data or "")[:3] in str(caught.value)
    if isinstance(caught.value, SendPermanentError):
        assert caught.value.rejected == {}  # the whole message
    assert server.received == []


async def test_some_recipients_refused_the_others_get_it(
    tmp_path: Path, server: Submission
) -> None:
    server.script = Script(rcpt={CC: "550 5.1.1 <carol@example.net>: Recipient unknown"})
    receipt = await starttls(tmp_path, server).send(message(), SENDER, [TO, CC, BCC])
    assert receipt.rejected == {CC: "550 5.1.1 <carol@example.net>: Recipient unknown"}
    [got] = server.received
    assert got.recipients == [TO, BCC]


async def test_every_recipient_refused_is_permanent_with_each_reason(
    tmp_path: Path, server: Submission
) -> None:
    server.script = Script(rcpt={TO: "550 5.1.1 no such user", CC: "553 5.1.3 bad address syntax"})
    with pytest.raises(SendPermanentError) as caught:
        await starttls(tmp_path, server).send(message(), SENDER, [TO, CC])
    assert caught.value.rejected == {
        TO: "550 5.1.1 no such user",
        CC: "553 5.1.3 bad address syntax",
    }


async def test_recipients_refused_for_now_is_temporary(tmp_path: Path, server: Submission) -> None:
    server.script = Script(rcpt={TO: "451 4.7.1 Greylisted, try again later"})
    with pytest.raises(SendTemporaryError, match="Greylisted"):
        await starttls(tmp_path, server).send(message(), SENDER, [TO])


async def test_no_server_listening_is_temporary(tmp_path: Path) -> None:
    t = transport(tmp_path, free_port(), security="none", host="127.0.0.1")
    with pytest.raises(SendTemporaryError, match="cannot connect"):
        await t.send(message(), SENDER, [TO])


# -- the Sent copy on a real IMAP server -------------------------------------------------


async def test_the_sent_copy_is_appended_and_the_sync_does_not_duplicate_it(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    user, password = dovecot.new_user("sender")
    sub = Submission(tmp_path, "starttls", users={user: password})
    raw = message("Filed in Sent")
    with sub.running():
        t = transport(
            tmp_path,
            sub.port,
            ca_file=str(sub.ca_file),
            password=password,
            imap=("127.0.0.1", dovecot.imap_port, user),
        )
        assert await t.find_sent("<send-test-1@example.com>") is False
        receipt = await t.send(raw, SENDER, [TO, CC, BCC])
        assert await t.find_sent("<send-test-1@example.com>") is True
        assert await t.find_sent("<other@example.com>") is False
        await t.close()
    assert receipt.filed_in_sent
    assert receipt.provider_message_id is not None
    assert receipt.provider_message_id.startswith("Sent:")

    # The mailbox's own sync sees the copy under the same id: no second email.
    sink = MemorySink()
    sync = transport(
        tmp_path, sub.port, password=password, imap=("127.0.0.1", dovecot.imap_port, user)
    ).connector
    try:
        await sync.sync({}, sink)
    finally:
        await sync.close()
    assert list(sink.messages_by_id) == [receipt.provider_message_id]
    copy = sink.messages_by_id[receipt.provider_message_id]
    assert copy.data == crlf(raw)  # Bcc kept in the sender's copy
    assert b"Bcc: dave@example.com" in copy.data
    assert copy.flags.seen


async def test_a_failed_sent_copy_does_not_fail_the_send(
    tmp_path: Path, server: Submission
) -> None:
    receipt = await starttls(tmp_path, server).send(message(), SENDER, [TO])
    assert len(server.received) == 1
    assert not receipt.filed_in_sent


# -- settings ---------------------------------------------------------------------------------


def test_smtp_settings_defaults_and_validation() -> None:
    assert SmtpSettings(host="smtp.example.com").port == 587
    assert SmtpSettings(host="smtp.example.com", security="tls").port == 465
    with pytest.raises(ValueError, match="host"):
        SmtpSettings(host="bad host")
    with pytest.raises(ValueError):
        SmtpSettings(host="smtp.example.com", password="x")  # type: ignore[call-arg]
    config = ImapSettings(
        host="imap.example.com", username="u", password="p", smtp={"host": "smtp.example.com"}
    )
    assert config.mail_hosts() == [("imap.example.com", 993), ("smtp.example.com", 587)]


def test_which_mailboxes_cannot_send() -> None:
    def box(provider: str, **config: Any) -> Mailbox:
        return Mailbox(
            id="m",
            tenant_id="t",
            name="n",
            provider=provider,
            created_at="2024-01-01T00:00:00Z",
            config=config,
        )

    assert "local archive" in (cannot_send(box("local")) or "")
    assert "not supported yet" in (cannot_send(box("ews")) or "")
    assert "no smtp section" in (cannot_send(box("imap", host="h")) or "")
    assert cannot_send(box("imap", host="h", smtp={"host": "s"})) is None
    assert cannot_send(box("gmail")) is None
    assert cannot_send(box("graph")) is None


async def test_open_transport_refuses_a_mailbox_that_cannot_send() -> None:
    from inboxhub.providers.send import open_transport

    local = Mailbox(
        id="m", tenant_id="t", name="n", provider="local", created_at="2024-01-01T00:00:00Z"
    )
    with pytest.raises(InvalidInput, match="cannot send"):
        await open_transport(None, local)  # type: ignore[arg-type]  # refused before use


async def test_the_sent_copy_without_literal_plus(tmp_path: Path, dovecot: Dovecot) -> None:
    """A server without LITERAL+ gets the synchronising literal (waits for "+")."""
    user, password = dovecot.new_user("sender")
    sub = Submission(tmp_path, "starttls", users={user: password})
    with sub.running():
        t = transport(
            tmp_path,
            sub.port,
            ca_file=str(sub.ca_file),
            password=password,
            imap=("127.0.0.1", dovecot.imap_port, user),
        )
        t.connector.ignore_extensions = {"LITERAL+"}
        receipt = await t.send(message("No literal plus"), SENDER, [TO])
        assert await t.find_sent("<send-test-1@example.com>") is True
        await t.close()
    assert receipt.filed_in_sent and receipt.provider_message_id
