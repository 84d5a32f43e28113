"""Request/response shapes of the Email API (what OpenAPI shows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from inboxhub.domain.models import Address, Attachment, EmailDocument, EmailSummary, Flags
from inboxhub.services.api.mail_schemas import LabelsChange

_Item = TypeVar("_Item", bound=BaseModel)


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
        default_factory=list, description="folders (IMAP, Graph, EWS) or labels (Gmail) holding it"
    )
    thread_id: str = Field(default="", description="its conversation (/api/v1/threads/{id})")
    mailbox_ids: list[str] = Field(
        default_factory=list, description="every mailbox holding this message (all copies)"
    )
    duplicate_ids: list[str] = Field(
        default_factory=list, description="the other copies' ids, where copies are shown once"
    )

    @classmethod
    def of(cls, s: EmailSummary, copies: Sequence[EmailSummary] = (), **extra: object) -> Self:
        """The item of ``s``; ``copies``: the same message in other mailboxes;
        ``extra``: the values of a subclass's own fields."""
        return _built_from(
            cls,
            s,
            mailbox_ids=list(dict.fromkeys([s.mailbox_id, *(c.mailbox_id for c in copies)])),
            duplicate_ids=[c.id for c in copies],
            **extra,
        )


def _built_from(cls: type[_Item], source: BaseModel, **values: object) -> _Item:
    """``cls`` with its fields copied from ``source``, a model that was validated when
    it was read: the values (nested models included) are taken as they are instead of
    being dumped and validated again."""
    data: dict[str, Any] = {n: getattr(source, n) for n in _shared_fields(cls, type(source))}
    return cls.model_construct(None, **data, **values)


@cache
def _shared_fields(cls: type[BaseModel], source: type[BaseModel]) -> tuple[str, ...]:
    return tuple(n for n in cls.model_fields if n in source.model_fields)


class SearchItem(EmailItem):
    highlights: dict[str, list[str]] = Field(default_factory=dict)


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
        return _built_from(cls, d, mailbox_ids=[d.mailbox_id])


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
