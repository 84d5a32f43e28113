"""Request/response shapes of the conversation routes (``threads.py``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from inboxhub.domain.models import Address
from inboxhub.services.api.schemas import EmailItem


class ThreadSummary(BaseModel):
    """What a conversation list shows of one conversation. Copies of one message in
    several mailboxes count once; a message read in any of them is read."""

    thread_id: str
    subject: str = Field(description="the subject of its first message")
    participants: list[Address] = Field(description="the senders, each once, first first")
    message_count: int
    unread_count: int
    mailbox_ids: list[str] = Field(description="every mailbox holding one of its messages")
    date: datetime = Field(description="when its latest message was sent (or received)")
    latest_id: str = Field(description="the id of its latest message")
    snippet: str = Field(description="the start of its latest message")
    has_attachments: bool
    flagged: bool = Field(description="one of its messages is starred")
    labels: list[str] = Field(description="the folders or labels of its messages")


class ThreadPage(BaseModel):
    items: list[ThreadSummary]
    next_cursor: str | None


class ThreadMessage(EmailItem):
    position: int = Field(description="0 for the first message of the conversation, and on")
    in_reply_to: str | None = Field(description="the Message-ID it answers")


class ThreadView(ThreadSummary):
    messages: list[ThreadMessage] = Field(description="oldest first, each message once")
