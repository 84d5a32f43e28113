"""Users' outgoing mail: drafts, the send outbox, and uploads to attach.

An ``OutgoingMessage`` is written by its author through the API and moved along by
the send worker (``services/sender/worker.py``):

    draft ──send──► queued ──claim──► sending ──► sent
      │               ▲                  │
      │ send_at       └── temporary ─────┤ (retry with backoff)
      ▼                                  └── permanent / too many tries ──► failed
    scheduled ──(due)──► sending …       (draft, queued, scheduled ──DELETE──► cancelled)

Its ``internet_message_id`` (the Message-ID header) is made once, when the message
is created, from the sender's domain: edits, retries and a resend after a crash all
carry it, so a receiver that got the message twice can tell.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

State = Literal["draft", "queued", "scheduled", "sending", "sent", "failed", "cancelled"]
STATES: tuple[State, ...] = (
    "draft",
    "queued",
    "scheduled",
    "sending",
    "sent",
    "failed",
    "cancelled",
)
EDITABLE: tuple[State, ...] = ("draft", "scheduled")  # PATCH
CANCELLABLE: tuple[State, ...] = ("draft", "queued", "scheduled")  # DELETE
PENDING: tuple[State, ...] = ("queued", "scheduled", "sending")  # the worker's
Mode = Literal["new", "reply", "reply_all", "forward"]

MAX_ADDRESSES = 500  # per field; the total is limited by settings.send_max_recipients
MAX_SUBJECT = 998  # RFC 5322 §2.1.1: a line is at most 998 characters
MAX_ATTACHMENTS = 100

AddressText = Annotated[str, Field(min_length=1, max_length=998)]
Addresses = Annotated[list[AddressText], Field(max_length=MAX_ADDRESSES)]


class AttachmentRef(BaseModel):
    """An attachment to send: an upload of the caller's (``upload_id``), or an
    attachment of an email the caller may read (``email_id`` + ``attachment_id``)."""

    model_config = ConfigDict(extra="forbid")

    upload_id: str | None = Field(default=None, max_length=64)
    email_id: str | None = Field(default=None, max_length=64)
    attachment_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        by_upload = self.upload_id is not None
        by_email = self.email_id is not None or self.attachment_id is not None
        if by_upload == by_email or (by_email and not (self.email_id and self.attachment_id)):
            raise ValueError("give upload_id, or email_id with attachment_id")
        return self


class AttachedFile(AttachmentRef):
    """An attachment of a message as stored and shown: its reference and what it is."""

    model_config = ConfigDict(extra="ignore")

    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0
    sha256: str = ""  # of the bytes, which are a blob (the upload's or the attachment's)
    content_id: str | None = None  # inline (an image the HTML shows), from a forwarded email


class OutgoingMessage(BaseModel):
    id: str
    tenant_id: str
    user_id: str  # the author; only they change or send it
    mailbox_id: str  # sent through this mailbox's provider, from its address
    state: State
    mode: Mode = "new"
    original_email_id: str | None = None  # what a reply or forward answers
    sender: str  # the From address (the mailbox's)
    to: list[str] = []
    cc: list[str] = []
    bcc: list[str] = []
    subject: str = ""
    text: str = ""  # what the author wrote; the quote of a reply/forward is apart
    html: str = ""
    quoted_text: str = ""
    quoted_html: str = ""
    in_reply_to: str | None = None
    references: list[str] = []
    attachments: list[AttachedFile] = []
    internet_message_id: str  # "<…@sender-domain>", made once at creation
    idempotency_key: str | None = None
    request_hash: str | None = None  # of the request that created it (idempotency)
    send_at: datetime | None = None  # scheduled send
    queued_at: datetime | None = None  # when it was submitted for sending (quotas)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    rejected: dict[str, str] = {}  # recipient → the provider's reason
    eml_key: str | None = None  # the built message: every attempt sends these bytes
    provider_message_id: str | None = None
    email_id: str | None = None  # the Sent copy in the mailbox
    filed_at: datetime | None = None  # the Sent copy went into the pipeline
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class Upload(BaseModel):
    """A file uploaded to attach to messages; its bytes are in the blob store under
    ``t/<tenant>/upload/<sha256>``. Only its owner may attach it, until it expires."""

    id: str
    tenant_id: str
    user_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    expires_at: datetime


def upload_blob_key(tenant_id: str, sha256: str) -> str:
    return f"t/{tenant_id}/upload/{sha256}"


# -- requests ---------------------------------------------------------------------


class MessageFields(BaseModel):
    """What the author writes; every field may be left out."""

    model_config = ConfigDict(extra="forbid")

    to: Addresses | None = None
    cc: Addresses | None = None
    bcc: Addresses | None = None
    subject: str | None = Field(default=None, max_length=MAX_SUBJECT)
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentRef] | None = Field(default=None, max_length=MAX_ATTACHMENTS)
    send_at: datetime | None = Field(
        default=None, description="send at this time (scheduled send); in the past: now"
    )


class MessageCreate(MessageFields):
    """A new message, reply, reply-all or forward. ``draft: true`` saves it without
    sending; otherwise it is sent now, or at ``send_at``. A reply's or forward's
    recipients and subject default to what answering the original gives."""

    mailbox_id: str | None = Field(
        default=None,
        max_length=64,
        description="the mailbox to send from; a reply or forward defaults to the original's",
    )
    mode: Mode = "new"
    original_email_id: str | None = Field(
        default=None, max_length=64, description="the email a reply or forward answers"
    )
    draft: bool = False

    @model_validator(mode="after")
    def _original_when_answering(self) -> Self:
        if (self.mode == "new") != (self.original_email_id is None):
            raise ValueError("original_email_id is given with a reply or forward, and only then")
        if self.mode == "new" and self.mailbox_id is None:
            raise ValueError("mailbox_id is required for a new message")
        return self


class MessagePatch(MessageFields):
    """Changes to a draft or a scheduled message: the fields given replace the old."""
