"""The ``smtp`` section of an IMAP mailbox's settings: where its outgoing mail is
submitted (RFC 6409). Without it the mailbox cannot send. The credentials are the
mailbox's own (its password or OAuth token); ``username`` defaults to the IMAP one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SUBMISSION_PORT = 587  # STARTTLS (RFC 6409)
SUBMISSIONS_PORT = 465  # implicit TLS (RFC 8314)


class SmtpSettings(BaseModel):
    """``security``: "starttls" (default, port 587), "tls" (implicit, port 465) or
    "none" (plain text: refused when saved unless private mail hosts are allowed,
    i.e. in tests)."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None

    @model_validator(mode="after")
    def _check(self) -> SmtpSettings:
        self.host = self.host.strip()
        if not self.host or any(c in self.host for c in "/\\@ \t\r\n"):
            raise ValueError("smtp.host must be a host name or address")
        if self.username is not None and (
            not self.username or any(c in self.username for c in "\r\n\0")
        ):
            raise ValueError("smtp.username must be a non-empty single line")
        if self.port is None:
            self.port = SUBMISSIONS_PORT if self.security == "tls" else SUBMISSION_PORT
        return self
