"""A real SMTP server for tests: aiosmtpd on a loopback port, keeping every message it
accepts (optionally only after AUTH with one username and password)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.processes import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes  # the bytes as they arrived
    login: str | None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpSink:
    username: str | None = None
    password: str | None = None
    port: int = 0
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        credentials = f"{self.username}:{self.password}@" if self.username else ""
        return f"smtp://{credentials}127.0.0.1:{self.port}?starttls=never"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.auth_data else None
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
        )
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    @contextmanager
    def running(self) -> Iterator[SmtpSink]:
        self.port = free_port()
        auth = self.username is not None
        controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate if auth else None,
            auth_required=auth,
            auth_require_tls=False,  # loopback only
        )
        controller.start()
        try:
            yield self
        finally:
            controller.stop()
