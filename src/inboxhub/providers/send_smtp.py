"""Sending for IMAP mailboxes: SMTP submission (RFC 6409) to the server in the
mailbox's ``smtp`` settings, then a copy APPENDed to its IMAP Sent folder, as mail
clients do (a submission server does not file sent mail; Gmail's does, but Gmail
mailboxes send through the API).

* The connection goes to an address ``net_guard`` allowed; TLS (implicit or
  STARTTLS) verifies the certificate against the host name, trusting the system CAs
  and ``mail_tls_ca_file``. "none" is plain text (refused when saved, except where
  private mail hosts are allowed: tests).
* Authentication: the mailbox's IMAP password, or XOAUTH2 with its OAuth token; the
  user is ``smtp.username``, else the IMAP username.
* The envelope: MAIL FROM the sender, RCPT TO every recipient (Bcc included); the
  bytes on the wire have no Bcc header. A 4xx reply, a dropped connection or a
  timeout is a ``SendTemporaryError``; a 5xx reply a ``SendPermanentError``. When the
  server refuses some recipients and takes the others, the message goes to those it
  took and the receipt lists the refused ones with the server's reason.
* The Sent copy keeps the Bcc header (the sender sees whom it went to) and is
  stored with ``\\Seen``. Its ``provider_message_id`` is what ``providers.imap``'s
  sync computes (``<folder>:<sha256 of the bytes>``), so when the sync later fetches
  it, it finds the email already stored instead of adding a second one. A failed
  APPEND does not fail the send (the message is out): the receipt then says it is
  not filed.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
from collections.abc import Sequence

import aiosmtplib
import structlog

from inboxhub.domain.errors import SendPermanentError, SendTemporaryError
from inboxhub.mime.compose import strip_bcc
from inboxhub.ports import SendReceipt
from inboxhub.providers.base import ProviderConfigError, ProviderError
from inboxhub.providers.imap import ImapConnector
from inboxhub.providers.imap_conn import ImapConnection
from inboxhub.providers.imap_wire import mailbox_arg, parse_list, quote
from inboxhub.providers.imap_write import find_folder
from inboxhub.providers.net_guard import resolve_allowed
from inboxhub.providers.smtp_settings import SmtpSettings

log = structlog.get_logger(__name__)

TIMEOUT = 60.0  # seconds, per SMTP command and per connection attempt
SENT = "Sent"  # found by name, else by SPECIAL-USE \Sent (``imap_write.find_folder``)


def crlf(raw: bytes) -> bytes:
    """``raw`` with CRLF line ends, as IMAP stores and returns a message."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def _reply(code: int, message: str) -> str:
    return f"{code} {message}".strip()


class SmtpTransport:
    """One IMAP mailbox's outgoing mail (``MailTransport``)."""

    def __init__(self, connector: ImapConnector, smtp: SmtpSettings) -> None:
        self.connector = connector
        self.smtp = smtp
        self.app = connector.ctx.app
        self._ssl: ssl.SSLContext | None = None

    # -- sending ---------------------------------------------------------------------

    async def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> SendReceipt:
        if not recipients:
            raise SendPermanentError("the message has no recipients")
        rejected = await self._submit(strip_bcc(raw), sender, list(dict.fromkeys(recipients)))
        folder, copy = await self._file_in_sent(crlf(raw))
        if folder is None:
            return SendReceipt(None, False, rejected)
        return SendReceipt(f"{folder}:{hashlib.sha256(copy).hexdigest()}", True, rejected)

    async def _submit(self, wire: bytes, sender: str, recipients: list[str]) -> dict[str, str]:
        """Submit; the recipients refused while others were taken, with the reasons."""
        options = []
        if any(b > 0x7F for b in wire):
            options.append("BODY=8BITMIME")
        if not all(a.isascii() for a in [sender, *recipients]):
            options.append("SMTPUTF8")
        client = await self._connect()
        try:
            await self._login(client)
            if "SMTPUTF8" in options and not client.supports_extension("smtputf8"):
                raise SendPermanentError(
                    f"{self.smtp.host} cannot take non-ASCII addresses (no SMTPUTF8)"
                )
            if "BODY=8BITMIME" in options and not client.supports_extension("8bitmime"):
                options.remove("BODY=8BITMIME")  # 8-bit data anyway: most servers take it
            errors, _ = await client.sendmail(sender, recipients, wire, mail_options=options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            reasons = {r.recipient: _reply(r.code, r.message) for r in exc.recipients}
            if any(400 <= r.code < 500 for r in exc.recipients):
                raise SendTemporaryError(
                    "the server refused the recipients for now: "
                    + "; ".join(f"{a}: {why}" for a, why in reasons.items())
                ) from exc
            raise SendPermanentError("the server refused every recipient", reasons) from exc
        except aiosmtplib.SMTPSenderRefused as exc:
            why = f"refused the sender {exc.sender}: {exc.message}"
            raise self._classify(exc.code, why) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise self._classify(exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendTemporaryError(f"{self.smtp.host}: {exc.__class__.__name__}: {exc}") from exc
        finally:
            await _quit(client)
        return {a: _reply(r.code, r.message) for a, r in errors.items()}

    def _classify(self, code: int, message: str) -> SendTemporaryError | SendPermanentError:
        text = f"{self.smtp.host} answered {_reply(code, message)}"
        if 400 <= code < 500 or code < 200:  # <200: aiosmtplib's own "no answer" codes
            return SendTemporaryError(text)
        return SendPermanentError(text)

    async def _connect(self) -> aiosmtplib.SMTP:
        host, port = self.smtp.host, self.smtp.port or 587
        allow = bool(getattr(self.app, "allow_private_mail_hosts", False))
        try:
            addresses = await resolve_allowed(host, port, allow)
        except ProviderConfigError as exc:
            if isinstance(exc.__cause__, socket.gaierror):  # DNS may come back
                raise SendTemporaryError(str(exc)) from exc
            raise SendPermanentError(str(exc)) from exc
        sock = await _open_socket(host, addresses, port)
        client = aiosmtplib.SMTP(
            hostname=host,
            sock=sock,
            timeout=TIMEOUT,
            use_tls=self.smtp.security == "tls",
            start_tls=self.smtp.security == "starttls",
            tls_context=self._ssl_context(),
        )
        try:
            await client.connect()
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise SendPermanentError(
                f"the TLS certificate of {host}:{port} is not trusted ({exc.verify_message}); "
                "an operator may add its CA with INBOXHUB_MAIL_TLS_CA_FILE"
            ) from exc
        except aiosmtplib.SMTPException as exc:
            sock.close()
            if "STARTTLS" in str(exc) and "not supported" in str(exc).lower():
                raise SendPermanentError(f"{host}:{port} does not offer STARTTLS") from exc
            if isinstance(exc, aiosmtplib.SMTPResponseException):
                raise self._classify(exc.code, exc.message) from exc
            raise SendTemporaryError(f"{host}:{port}: {exc}") from exc
        except (OSError, TimeoutError) as exc:
            sock.close()
            raise SendTemporaryError(f"{host}:{port}: {exc.__class__.__name__}: {exc}") from exc
        return client

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        user = self.smtp.username or self.connector.config.username
        try:
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()  # the extensions: AUTH mechanisms, 8BITMIME, SMTPUTF8
            if self.connector.oauth2_token is not None:
                if "xoauth2" not in client.server_auth_methods:
                    raise SendPermanentError(f"{self.smtp.host} does not offer AUTH XOAUTH2")
                await client.auth_xoauth2(user, self.connector.oauth2_token)
            else:
                await client.login(user, self.connector.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:
                raise SendTemporaryError(f"{self.smtp.host} could not log in now: {exc}") from exc
            raise SendPermanentError(
                f"{self.smtp.host} rejected the login of {user!r}: {_reply(exc.code, exc.message)}"
            ) from exc
        except aiosmtplib.SMTPException as exc:
            if "auth" in str(exc).lower() and not isinstance(exc, aiosmtplib.SMTPResponseException):
                raise SendPermanentError(f"{self.smtp.host}: {exc}") from exc
            raise

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.smtp.security == "none":
            return None
        if self._ssl is None:
            context = ssl.create_default_context()
            ca_file = getattr(self.app, "mail_tls_ca_file", "")
            if ca_file:
                try:
                    context.load_verify_locations(cafile=ca_file)
                except (OSError, ssl.SSLError) as exc:
                    raise SendPermanentError(f"cannot read mail_tls_ca_file: {exc}") from exc
            self._ssl = context
        return self._ssl

    # -- the Sent folder ------------------------------------------------------------------

    async def _file_in_sent(self, copy: bytes) -> tuple[str | None, bytes]:
        """APPEND ``copy`` to the Sent folder; (its name, the bytes), or (None, …)."""
        conn: ImapConnection | None = None
        try:
            conn = await self.connector._connect()  # the sync's own login code
            folder = await _sent_folder(conn)
            if folder is None:
                log.warning("send.no_sent_folder", mailbox=self.connector.ctx.mailbox_id)
                return None, copy
            await _append(conn, folder, copy)
            return folder, copy
        except Exception as exc:  # the message is out: nothing may fail the send now
            log.warning(
                "send.sent_copy_failed", mailbox=self.connector.ctx.mailbox_id, error=str(exc)
            )
            return None, copy
        finally:
            if conn is not None:
                await conn.logout()

    async def find_sent(self, message_id: str) -> bool | None:
        conn: ImapConnection | None = None
        try:
            conn = await self.connector._connect()
            folder = await _sent_folder(conn)
            if folder is None:
                return None
            await conn.check(b"EXAMINE " + mailbox_arg(folder))
            done = await conn.check(b"UID SEARCH HEADER Message-ID " + quote(message_id))
            for r in done.untagged:
                if r.kind == "SEARCH":
                    return bool(r.text.split()[1:])
            return False
        except (ProviderError, ValueError, OSError):  # ValueError: ImapParseError too
            return None
        finally:
            if conn is not None:
                await conn.logout()

    async def close(self) -> None:
        await self.connector.close()


async def _sent_folder(conn: ImapConnection) -> str | None:
    done = await conn.check('LIST "" "*"')
    listing: dict[str, set[str]] = {}
    for r in done.untagged:
        if r.kind == "LIST":
            attrs, _, name = parse_list(r.tokens())
            listing[name] = attrs
    return find_folder(SENT, listing)


async def _append(conn: ImapConnection, folder: str, data: bytes) -> None:
    """APPEND with a non-synchronising literal (RFC 7888) when the server has one,
    else wait for its go-ahead before the bytes."""
    head = b"APPEND " + mailbox_arg(folder) + b" (\\Seen) "
    if "LITERAL+" in conn.capabilities:
        await conn.check(head + b"{%d+}\r\n" % len(data) + data)
        return
    tag = conn.send(head + b"{%d}" % len(data))
    while (ready := await conn.read()).tag == "*":
        pass  # an untagged notice (EXISTS...) before the go-ahead
    if ready.tag != "+":
        conn.broken = True
        raise ProviderError(f"APPEND refused: {ready.parts[0].decode('utf-8', 'replace')}")
    conn.write(data + b"\r\n")
    done = await conn.finish(tag)
    if done.status != "OK":
        raise ProviderError(f"APPEND failed: {done.status} {done.text.decode('utf-8', 'replace')}")


async def _open_socket(host: str, addresses: Sequence[str], port: int) -> socket.socket:
    """A connected socket to the first of ``addresses`` (already vetted) that answers."""
    loop = asyncio.get_running_loop()
    last: Exception | None = None
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(TIMEOUT):
                await loop.sock_connect(sock, (address, port))
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise SendTemporaryError(f"cannot connect to {host}:{port}: {last or 'no address'}")


async def _quit(client: aiosmtplib.SMTP) -> None:
    if client.is_connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()
