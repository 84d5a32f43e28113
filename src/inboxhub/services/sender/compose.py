"""Composing: a request (new, reply, reply-all, forward, or an edit) → the fields of an
``OutgoingMessage``, checked.

Every header field a user fills in is checked before it is stored (a CR or LF in a
subject or an address would start a header of its own: 422 naming the field), every
address is validated (422 naming it), and the attachments are resolved to what the
caller may attach: their own uploads, or attachments of emails they may read. A
reply or forward reads the original (404 unless the caller may read it) and starts
from what answering it gives (``mime.compose``): recipients, subject, threading
headers, the quoted original, and (forward) its attachments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Any

from inboxhub.domain.errors import InvalidInput, NotFound
from inboxhub.domain.models import Address, EmailDocument, Mailbox
from inboxhub.domain.outgoing import (
    AttachedFile,
    AttachmentRef,
    MessageCreate,
    MessageFields,
    OutgoingMessage,
)
from inboxhub.mime.compose import (
    BadAddress,
    HeaderInjection,
    Original,
    Part,
    check_header_value,
    forward_fields,
    parse_addresses,
    reply_fields,
)
from inboxhub.ports import EmailStore, OutgoingStore
from inboxhub.providers.send import cannot_send
from inboxhub.services.api.access import MailAccess
from inboxhub.services.gateway.security import Principal
from inboxhub.settings import Settings

ADDRESS_FIELDS = ("to", "cc", "bcc")


def sender_address(box: Mailbox) -> str | None:
    """The address a mailbox sends from: its account's address (Gmail, EWS, a Graph
    user's UPN, an IMAP or SMTP username that is an address)."""
    config = box.config
    smtp = config.get("smtp") if isinstance(config.get("smtp"), dict) else {}
    for value in (
        config.get("address"),
        config.get("email"),
        config.get("user"),
        (smtp or {}).get("username"),
        config.get("username"),
    ):
        if isinstance(value, str) and "@" in value:
            return value
    return None


def check_fields(fields: MessageFields) -> None:
    """422 naming the field (and entry) that may not go into a header."""
    for name in ADDRESS_FIELDS:
        for entry in getattr(fields, name) or []:
            try:
                parse_addresses([entry])
            except HeaderInjection as exc:
                raise InvalidInput(f"{name}: {exc}", field=name) from None
            except BadAddress as exc:
                raise InvalidInput(f"{name}: {exc}", field=name, entry=entry) from None
    if fields.subject is not None:
        try:
            check_header_value(fields.subject, "subject")
        except HeaderInjection as exc:
            raise InvalidInput(str(exc), field="subject") from None


def _formatted(addresses: Sequence[Address]) -> list[str]:
    return [formataddr((a.name, a.email)) for a in addresses if a.email]


def original_of(doc: EmailDocument) -> Original:
    """What answering ``doc`` needs; its attachments without their bytes (the quoting
    rules only look at names and content ids; the bytes go by reference)."""
    return Original.of(
        doc,
        [
            Part(a.filename, a.content_type, b"", a.content_id if a.inline else None)
            for a in doc.attachments
        ],
    )


def _carried(doc: EmailDocument, parts: Sequence[Part]) -> list[AttachedFile]:
    """References to ``doc``'s attachments that ``parts`` (some of ``original_of``'s)
    stand for."""
    wanted = {p.content_id for p in parts if p.content_id}
    forwarded_all = any(not p.content_id for p in parts)
    return [
        AttachedFile(
            email_id=doc.id,
            attachment_id=a.id,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            sha256=a.sha256,
            content_id=a.content_id if a.inline else None,
        )
        for a in doc.attachments
        if forwarded_all or (a.inline and a.content_id in wanted)
    ]


@dataclass
class Composer:
    emails: EmailStore
    access: MailAccess
    store: OutgoingStore
    settings: Settings

    async def readable_email(self, principal: Principal, email_id: str) -> EmailDocument:
        doc = await self.emails.get(principal.tenant_id, email_id)
        if doc is None or not await self.access.may_read(principal, doc.mailbox_id):
            raise NotFound(f"no email {email_id}")
        return doc

    async def attachments(
        self, principal: Principal, refs: Sequence[AttachmentRef], now: datetime
    ) -> list[AttachedFile]:
        out = []
        for ref in refs:
            if ref.upload_id is not None:
                up = await self.store.get_upload(principal.tenant_id, ref.upload_id)
                if up is None or up.user_id != principal.user_id:
                    raise NotFound(f"no upload {ref.upload_id}")
                if up.expires_at <= now:
                    raise InvalidInput(f"upload {ref.upload_id} has expired", field="attachments")
                out.append(
                    AttachedFile(
                        upload_id=up.id,
                        filename=up.filename,
                        content_type=up.content_type,
                        size=up.size,
                        sha256=up.sha256,
                    )
                )
                continue
            assert ref.email_id is not None and ref.attachment_id is not None
            doc = await self.readable_email(principal, ref.email_id)
            att = next((a for a in doc.attachments if a.id == ref.attachment_id), None)
            if att is None:
                raise NotFound(f"no attachment {ref.attachment_id} in email {ref.email_id}")
            out.append(
                AttachedFile(
                    email_id=doc.id,
                    attachment_id=att.id,
                    filename=att.filename,
                    content_type=att.content_type,
                    size=att.size,
                    sha256=att.sha256,
                )
            )
        return out

    async def compose(
        self, principal: Principal, box: Mailbox, body: MessageCreate, now: datetime
    ) -> dict[str, Any]:
        """The fields of a new message from ``body`` (checked), sent from ``box``."""
        check_fields(body)
        sender = sender_address(box)
        why = cannot_send(box) or (None if sender else "this mailbox has no address to send from")
        if why is not None:
            raise InvalidInput(why, field="mailbox_id")
        assert sender is not None
        fields: dict[str, Any] = {
            "to": body.to or [],
            "cc": body.cc or [],
            "bcc": body.bcc or [],
            "subject": body.subject or "",
            "text": body.text or "",
            "html": body.html or "",
        }
        carried: list[AttachedFile] = []
        if body.original_email_id is not None:
            doc = await self.readable_email(principal, body.original_email_id)
            original = original_of(doc)
            if body.mode == "forward":
                fw = forward_fields(original)
                fields.update(subject=fw.subject, quoted_text=fw.text, quoted_html=fw.html)
                carried = _carried(doc, fw.attachments)
            else:
                rf = reply_fields(original, reply_all=body.mode == "reply_all", me=sender)
                fields.update(
                    to=_formatted(rf.to),
                    cc=_formatted(rf.cc),
                    subject=rf.subject,
                    in_reply_to=rf.in_reply_to,
                    references=rf.references,
                    quoted_text=rf.quoted_text,
                    quoted_html=rf.quoted_html,
                )
                carried = _carried(doc, rf.inline)
        # what the caller gave wins over what answering the original suggests
        fields.update(body.model_dump(include={"to", "cc", "bcc", "subject"}, exclude_none=True))
        attached = await self.attachments(principal, body.attachments or [], now)
        fields["attachments"] = [*carried, *attached]
        fields["sender"] = sender
        return fields

    async def changes(
        self, principal: Principal, patch: MessageFields, now: datetime
    ) -> dict[str, Any]:
        """The fields an edit sets (those given), checked."""
        check_fields(patch)
        values = patch.model_dump(
            include={"to", "cc", "bcc", "subject", "text", "html"}, exclude_none=True
        )
        if patch.attachments is not None:
            values["attachments"] = await self.attachments(principal, patch.attachments, now)
        if patch.send_at is not None:
            values["send_at"] = patch.send_at
        return values

    def check_limits(self, m: OutgoingMessage) -> None:
        """422 for a message with too many recipients, or too large to send."""
        if len(m.recipients) > self.settings.send_max_recipients:
            raise InvalidInput(
                f"at most {self.settings.send_max_recipients} recipients in one message",
                field="to",
            )
        texts = (m.text, m.html, m.quoted_text, m.quoted_html)
        size = sum(len(t.encode()) for t in texts) + sum(a.size for a in m.attachments)
        if size > self.settings.send_max_bytes:
            raise InvalidInput(
                f"the message is {size} bytes; at most {self.settings.send_max_bytes} may be sent",
                field="attachments",
            )
