"""The plain data that composing a message works with: the parts it carries, the email
being answered or forwarded, and the fields a reply or forward starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from inboxhub.domain.models import Address, EmailDocument, ParsedEmail


@dataclass(frozen=True)
class Part:
    """An attachment; with a ``content_id`` an inline part (an image the HTML shows as
    ``cid:<content_id>``)."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None


@dataclass(frozen=True)
class Original:
    """What a reply or forward needs of the email it answers. Message ids with or
    without angle brackets; ``html`` as received (it is sanitised when quoted)."""

    message_id: str | None = None
    subject: str = ""
    from_: Address | None = None
    reply_to: list[Address] = field(default_factory=list)
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    date: datetime | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[Part] = field(default_factory=list)

    @classmethod
    def of(cls, email: ParsedEmail | EmailDocument, attachments: list[Part]) -> Original:
        """The headers and bodies of a parsed message or a stored email."""
        return cls(
            message_id=email.message_id,
            subject=email.subject,
            from_=email.from_,
            reply_to=list(email.reply_to),
            to=list(email.to),
            cc=list(email.cc),
            date=email.date,
            in_reply_to=email.in_reply_to,
            references=list(email.references),
            text=email.text,
            html=email.html,
            attachments=attachments,
        )

    @classmethod
    def from_parsed(cls, parsed: ParsedEmail) -> Original:
        """From our own parser's reading of the raw original (``mime.parse``)."""
        return cls.of(
            parsed,
            [
                Part(a.filename, a.content_type, a.data, a.content_id if a.inline else None)
                for a in parsed.attachments
            ],
        )


@dataclass(frozen=True)
class ReplyFields:
    """The start of a reply. ``quoted_text``/``quoted_html`` go below the user's own
    text; ``inline`` holds the original's inline images the quoted HTML shows."""

    to: list[Address]
    cc: list[Address]
    subject: str
    in_reply_to: str | None
    references: list[str]
    quoted_text: str
    quoted_html: str
    inline: list[Part] = field(default_factory=list)


@dataclass(frozen=True)
class ForwardFields:
    """The start of a forward: the header block and original body as text and HTML,
    and the original's attachments (inline ones keep their content id)."""

    subject: str
    text: str
    html: str
    attachments: list[Part]
