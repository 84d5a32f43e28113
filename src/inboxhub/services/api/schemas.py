"""Request/response shapes of the Email API (what OpenAPI shows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from inboxhub.domain.models import Address, Attachment, EmailDocument, EmailSummary, Flags
from inboxhub.services.api.mail_schemas import LabelsChange


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
    thread_id: str = Field(default="", description="its conversation (/api/v1/threads/{id})")
    mailbox_ids: list[str] = Field(
        default=[], description="every mailbox holding this message (all copies)"
    )
    duplicate_ids: list[str] = Field(
        default=[], description="the other copies' ids, where copies are shown once"
    )

    @classmethod
    def of(cls, s: EmailSummary, copies: Sequence[EmailSummary] = ()) -> EmailItem:
        """The item of ``s``; ``copies``: the same message in other mailboxes."""
        item = cls.model_validate(s.model_dump(include=set(cls.model_fields)))
        item.mailbox_ids = list(dict.fromkeys([s.mailbox_id, *(c.mailbox_id for c in copies)]))
        item.duplicate_ids = [c.id for c in copies]
        return item


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
        view = cls.model_validate(d.model_dump(include=set(cls.model_fields)))
        view.mailbox_ids = [d.mailbox_id]
        return view


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
    labels: LabelsChange | None = None


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
    state: str | None = Field(
        default=None,
        description="changes after this listing began: /api/v1/changes?since= (keep the "
        "first page's)",
    )


class DownloadUrl(BaseModel):
    """A time-limited URL that downloads a file directly from the blob store."""

    url: str
    expires_at: datetime


class SearchResult(BaseModel):
    items: list[SearchItem]
    next_cursor: str | None
    total: int
    total_exact: bool = True  # False: at least ``total`` (counted up to 10,000)
    facets: dict[str, dict[str, int]] | None = None
