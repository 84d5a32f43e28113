"""The final bytes of an outgoing message, built once (``mime.compose``) and signed
with the tenant's DKIM key for the sender's domain when it has one.

What the author wrote goes first, the quoted original of a reply or forward below
it; when either has HTML, the HTML part holds both (the author's text made HTML if
they wrote none) and the text part holds both as text.
"""

from __future__ import annotations

import html as htmllib
from datetime import datetime

from inboxhub.domain.errors import NotFound, SendPermanentError
from inboxhub.domain.ids import attachment_blob_key
from inboxhub.domain.outgoing import AttachedFile, OutgoingMessage, upload_blob_key
from inboxhub.mime.compose import Part, build_message
from inboxhub.mime.dkim_sign import dkim_sign
from inboxhub.mime.fields import ascii_domain
from inboxhub.ports import BlobStore, DkimKeyStore
from inboxhub.services.sender.uploads import clean_filename


def _blob_key(tenant_id: str, a: AttachedFile) -> str:
    if a.upload_id is not None:
        return upload_blob_key(tenant_id, a.sha256)
    return attachment_blob_key(tenant_id, a.sha256)


def bodies(m: OutgoingMessage) -> tuple[str, str]:
    """(text, html) of the message: the author's, then the quote."""
    text = "\n\n".join(t for t in (m.text, m.quoted_text) if t)
    if not (m.html or m.quoted_html):
        return text, ""
    own = m.html or (
        f'<div style="white-space:pre-wrap">{htmllib.escape(m.text)}</div>' if m.text else ""
    )
    return text, "<br>".join(h for h in (own, m.quoted_html) if h)


async def parts(m: OutgoingMessage, blobs: BlobStore) -> list[Part]:
    out = []
    for a in m.attachments:
        try:
            data = await blobs.get(_blob_key(m.tenant_id, a))
        except NotFound as exc:
            raise SendPermanentError(f"the attachment {a.filename!r} is no longer stored") from exc
        # a forwarded attachment's name is a stranger's: no control characters in it
        out.append(Part(clean_filename(a.filename), a.content_type, data, a.content_id))
    return out


async def build_raw(m: OutgoingMessage, blobs: BlobStore, date: datetime) -> bytes:
    text, html = bodies(m)
    try:
        msg = build_message(
            sender=m.sender,
            to=m.to,
            cc=m.cc,
            bcc=m.bcc,
            subject=m.subject,
            text=text,
            html=html,
            attachments=await parts(m, blobs),
            message_id=m.internet_message_id,
            date=date,
            in_reply_to=m.in_reply_to,
            references=m.references,
        )
    except ValueError as exc:  # checked when stored; a rule changed since
        raise SendPermanentError(f"the message cannot be built: {exc}") from exc
    return bytes(msg)


async def dkim_signed(raw: bytes, keys: DkimKeyStore, tenant_id: str, sender: str) -> bytes:
    """``raw`` signed with the tenant's active DKIM key for the sender's domain, if it
    has one; else as it is."""
    try:
        domain = ascii_domain(sender.rpartition("@")[2])
    except ValueError:
        return raw
    key = await keys.signing_key(tenant_id, domain)
    if key is None:
        return raw
    return dkim_sign(
        raw, domain=key.domain, selector=key.selector, private_key_pem=key.private_key_pem
    )
