"""Request/response shapes of the Email API (what OpenAPI shows)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from inboxhub.domain.models import Address, Attachment, EmailDocument, EmailSummary, Flags


class EmailItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    mailbox_id: str
    message_id: str | None
    subject: str
    from_: Address | None = Field(alias="from")
    to: list[Address]
    date: datetime | None
    snippet: str
    has_attachments: bool
    flags: Flags
    labels: list[str] = Field(
        default=[], description="folders (IMAP, Graph, EWS) or labels (Gmail) holding it"
    )

    @classmethod
    def of(cls, s: EmailSummary) -> EmailItem:
        return cls.model_validate(s.model_dump(include=set(cls.model_fields)))


class SearchItem(EmailItem):
    highlights: dict[str, list[str]] = {}


class EmailView(EmailItem):
    cc: list[Address]
    bcc: list[Address]
    reply_to: list[Address]
    in_reply_to: str | None
    references: list[str]
    text: str
    html: str
    headers: list[tuple[str, str]]
    attachments: list[Attachment]
    parse_errors: list[str]
    size: int
    received_at: datetime

    @classmethod
    def of_document(cls, d: EmailDocument) -> EmailView:
        return cls.model_validate(d.model_dump(include=set(cls.model_fields)))


class EmailPage(BaseModel):
    items: list[EmailItem]
    next_cursor: str | None


class DownloadUrl(BaseModel):
    """A time-limited URL that downloads a file directly from the blob store."""

    url: str
    expires_at: datetime


class SearchResult(BaseModel):
    items: list[SearchItem]
    next_cursor: str | None
    total: int
    facets: dict[str, dict[str, int]] | None = None
