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


class FlagsChange(BaseModel):
    """The flags to change; those left out (or null) keep their value."""

    model_config = ConfigDict(extra="forbid")

    seen: bool | None = None
    flagged: bool | None = None

    def applied_to(self, flags: Flags) -> Flags:
        return flags.model_copy(update=self.model_dump(exclude_none=True))


class EmailPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flags: FlagsChange = FlagsChange()


MAX_BULK_IDS = 1000


class BulkFlags(FlagsChange):
    """Set ``seen`` and/or ``flagged`` on up to 1000 emails at once."""

    ids: list[str] = Field(min_length=1, max_length=MAX_BULK_IDS)


class BulkFlagsResult(BaseModel):
    updated: int = Field(description="emails whose flags changed (those already so are not)")
    not_found: list[str] = Field(description="ids that name no email of the tenant")


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
