"""A real SMTP submission server for the send tests: aiosmtpd on a loopback port with
AUTH (PLAIN and LOGIN against ``users``, XOAUTH2 against ``tokens``), STARTTLS or
implicit TLS with a certificate of a throwaway CA (``tests/support/tls.py``), and
scripted replies: to MAIL FROM, to each recipient's RCPT TO, to the end of DATA.

It keeps the envelope and the exact bytes of every message it accepted."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.processes import free_port
from tests.support.smtp_sink import Received
from tests.support.tls import write_test_ca_and_certificate

Security = Literal["none", "starttls", "tls"]


@dataclass
class Script:
    """Replies instead of "250 OK": ``mail`` to MAIL FROM, ``rcpt[address]`` to that
    recipient, ``data`` after the message (each used until changed)."""

    mail: str | None = None
    rcpt: dict[str, str] = field(default_factory=dict)
    data: str | None = None


@dataclass
class Submission:
    directory: Path
    security: Security = "starttls"
    users: dict[str, str] = field(default_factory=dict)  # username → password
    tokens: dict[str, str] = field(default_factory=dict)  # access token → username
    script: Script = field(default_factory=Script)
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)  # (mechanism, user)
    port: int = 0

    def __post_init__(self) -> None:
        self.ca_file, self.cert_file, self.key_file = write_test_ca_and_certificate(
            self.directory, ["localhost"], ["127.0.0.1"]
        )

    # -- the handler's hooks ---------------------------------------------------------

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.script.mail:
            return self.script.mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.script.rcpt:
            return self.script.rcpt[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.script.data:
            return self.script.data
        login = session.auth_data.login.decode() if session.auth_data else None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
        )
        return "250 2.0.0 Ok: queued"

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        """Google's and Microsoft's XOAUTH2 (initial response in the AUTH command)."""
        blob = args[1] if len(args) > 1 else ""  # ["XOAUTH2", initial response]
        try:
            fields = base64.b64decode(blob).decode().split("\x01")
        except ValueError:
            return AuthResult(success=False, handled=False)
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        user, auth = values.get("user", ""), values.get("auth", "")
        token = auth.removeprefix("Bearer ")
        ok = auth.startswith("Bearer ") and self.tokens.get(token) == user
        if ok:
            self.logins.append(("XOAUTH2", user))
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(user.encode(), b""))

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.users.get(data.login.decode()) == data.password.decode()
        )
        if ok:
            self.logins.append((mechanism, data.login.decode()))
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    # -- running ------------------------------------------------------------------------

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    @contextmanager
    def running(self) -> Iterator[Submission]:
        self.port = free_port()
        tls: dict[str, Any] = {}
        if self.security == "starttls":
            tls = {"tls_context": self.server_context(), "require_starttls": True}
        elif self.security == "tls":
            tls = {"ssl_context": self.server_context()}
        controller = self._controller(tls)
        controller.start()
        try:
            yield self
        finally:
            controller.stop()

    def _controller(self, tls: dict[str, Any]) -> Controller:
        return Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            # aiosmtpd knows only STARTTLS as TLS; implicit TLS is encrypted all along.
            auth_require_tls=self.security == "starttls",
            enable_SMTPUTF8=True,
            **tls,
        )
