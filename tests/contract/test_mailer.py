"""The platform mailer (``ports.Mailer``): a pickup directory, and SMTP submission to a
real server (aiosmtpd on loopback), with and without AUTH."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from inboxhub.adapters.mail_pickup import PickupMailer
from inboxhub.adapters.mail_smtp import SmtpMailer
from inboxhub.domain.errors import MailerError
from tests.support.processes import free_port
from tests.support.smtp_sink import SmtpSink

# AUTH without TLS is what these loopback tests mean to exercise.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def _message(body: str = "Open https://inboxhub.test/reset-password?token=abc\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "inboxhub <no-reply@inboxhub.test>"
    message["To"] = "ada@example.test"
    message["Subject"] = "Reset your password"
    message.set_content(body)
    return message


@pytest.fixture()
def sink() -> Iterator[SmtpSink]:
    with SmtpSink().running() as server:
        yield server


@pytest.fixture()
def auth_sink() -> Iterator[SmtpSink]:
    with SmtpSink("mailer", "s3cret pass").running() as server:
        yield server


async def test_pickup_writes_one_private_eml_per_message(tmp_path: Path) -> None:
    mailer = PickupMailer(tmp_path / "system-mail")
    await mailer.send(_message("first\n"))
    await mailer.send(_message("second\n"))
    files = sorted((tmp_path / "system-mail").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    bodies = {f.read_bytes().split(b"\n\n", 1)[1].strip() for f in files}
    assert bodies == {b"first", b"second"}
    await mailer.close()


async def test_smtp_delivers_the_bytes(sink: SmtpSink) -> None:
    mailer = SmtpMailer.from_url(sink.url)
    await mailer.send(_message())
    [got] = sink.received
    assert got.recipients == ["ada@example.test"] and got.sender == "no-reply@inboxhub.test"
    assert b"https://inboxhub.test/reset-password?token=abc" in got.data
    assert got.message["Subject"] == "Reset your password"


async def test_smtp_logs_in_with_the_urls_credentials(auth_sink: SmtpSink) -> None:
    url = auth_sink.url.replace("s3cret pass", "s3cret%20pass")  # percent-encoded
    await SmtpMailer.from_url(url).send(_message())
    assert [r.login for r in auth_sink.received] == ["mailer"]


async def test_smtp_wrong_credentials_raise_mailer_error(auth_sink: SmtpSink) -> None:
    url = auth_sink.url.replace("s3cret pass", "wrong")
    with pytest.raises(MailerError):
        await SmtpMailer.from_url(url).send(_message())
    assert auth_sink.received == []


async def test_smtp_without_login_where_one_is_required_raises(auth_sink: SmtpSink) -> None:
    with pytest.raises(MailerError):
        await SmtpMailer("127.0.0.1", auth_sink.port, starttls=False).send(_message())


async def test_no_server_raises_mailer_error() -> None:
    with pytest.raises(MailerError):
        await SmtpMailer("127.0.0.1", free_port(), starttls=False, timeout=5).send(_message())
