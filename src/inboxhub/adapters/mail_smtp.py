"""The production ``Mailer``: SMTP submission with aiosmtplib.

``smtp://user:pass@host:587`` submits with STARTTLS when the server offers it (and
requires it with ``?starttls=require``); ``smtps://host:465`` is implicit TLS. The
credentials in the URL are percent-decoded.
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlparse

import aiosmtplib

from inboxhub.domain.errors import MailerError


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        implicit_tls: bool = False,
        starttls: bool | None = None,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.implicit_tls, self.starttls = implicit_tls, starttls
        self.tls_context = tls_context
        self.timeout = timeout

    @classmethod
    def from_url(cls, url: str, tls_context: ssl.SSLContext | None = None) -> SmtpMailer:
        parts = urlparse(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"not an SMTP URL: {url!r} (smtp://host:587 or smtps://host:465)")
        implicit = parts.scheme == "smtps"
        mode = parse_qs(parts.query).get("starttls", ["auto"])[0]
        return cls(
            parts.hostname,
            parts.port or (465 if implicit else 587),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
            starttls={"auto": None, "require": True, "never": False}.get(mode),
            tls_context=tls_context,
        )

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.implicit_tls,
                start_tls=None if self.implicit_tls else self.starttls,
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailerError(f"the SMTP server {self.host}:{self.port} refused: {exc}") from exc

    async def close(self) -> None:
        return None
