"""What the sending API shows of a message and an upload (what OpenAPI says)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from inboxhub.domain.outgoing import AttachedFile, Mode, OutgoingMessage, State, Upload


class MessageView(BaseModel):
    id: str
    mailbox_id: str
    state: State
    mode: Mode
    original_email_id: str | None
    sender: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text: str
    html: str
    quoted_text: str = Field(description="the quoted original below the text (reply, forward)")
    quoted_html: str
    in_reply_to: str | None
    references: list[str]
    attachments: list[AttachedFile]
    message_id: str = Field(description="its Message-ID header, the same on every attempt")
    send_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None = Field(description="when the next attempt is due")
    last_error: str | None
    rejected: dict[str, str] = Field(description="recipients the provider refused: reason")
    provider_message_id: str | None
    email_id: str | None = Field(description="the sent copy in the mailbox (/api/v1/emails)")
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    status_url: str

    @classmethod
    def of(cls, m: OutgoingMessage) -> MessageView:
        data = m.model_dump(include=set(cls.model_fields) - {"message_id", "status_url"})
        return cls(**data, message_id=m.internet_message_id, status_url=f"/api/v1/messages/{m.id}")


class MessagePage(BaseModel):
    items: list[MessageView]
    next_cursor: str | None


class UploadView(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    expires_at: datetime

    @classmethod
    def of(cls, u: Upload) -> UploadView:
        return cls.model_validate(u.model_dump(include=set(cls.model_fields)))
