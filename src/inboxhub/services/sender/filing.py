"""A sent message's copy in its mailbox: through the normal pipeline, into the Sent view.

The bytes sent (Bcc header kept, as mail clients keep it in Sent) are stored as the
raw message and announced with ``email.eml.uploaded`` like any fetched message
(``Ingest``): the processor files it, the indexer makes it searchable. Its provider
message id is the one the provider gave (for IMAP, what the sync computes for the
copy appended to the Sent folder, so the sync finds it stored already), else the
stable ``sent:<Message-ID>``; its label is the Sent folder (or label) the sync would
give it, so ``in:sent`` finds it. Then ``email.sent`` is published.
"""

from __future__ import annotations

import re
from datetime import datetime

from inboxhub.domain.events import EMAIL_SENT, EmailSent, message_key
from inboxhub.domain.ids import email_id
from inboxhub.domain.models import Flags, Mailbox
from inboxhub.domain.outgoing import OutgoingMessage
from inboxhub.ports import EventBus
from inboxhub.providers.base import FetchedMessage
from inboxhub.services.fetcher.ingest import Ingest

_FOLDER_COPY = re.compile(r"^(?P<folder>.+):[0-9a-f]{64}$")  # providers.imap's ids
SENT_LABELS = {"gmail": "SENT", "graph": "Sent Items"}  # what their syncs label sent mail
SENT = "Sent"


def sent_provider_id(m: OutgoingMessage) -> str:
    return m.provider_message_id or f"sent:{m.internet_message_id}"


def sent_label(box: Mailbox, provider_message_id: str) -> str:
    if box.provider == "imap" and (found := _FOLDER_COPY.match(provider_message_id)):
        return found.group("folder")
    return SENT_LABELS.get(box.provider, SENT)


def sent_email_id(m: OutgoingMessage) -> str:
    return email_id(m.tenant_id, m.mailbox_id, sent_provider_id(m))


async def file_sent(
    ingest: Ingest, bus: EventBus, m: OutgoingMessage, box: Mailbox, raw: bytes, now: datetime
) -> str:
    """Store and announce the Sent copy (a no-op for a copy stored already); publish
    ``email.sent``. The copy's email id."""
    pmid = sent_provider_id(m)
    copy = FetchedMessage(
        pmid, raw, m.sent_at or now, Flags(seen=True), labels=(sent_label(box, pmid),)
    )
    await ingest.ingest_batch(m.tenant_id, m.mailbox_id, [copy])
    eid = sent_email_id(m)
    event = EmailSent(
        mailbox_id=m.mailbox_id,
        email_id=eid,
        outgoing_id=m.id,
        user_id=m.user_id,
        internet_message_id=m.internet_message_id,
        provider_message_id=pmid,
        recipients=len(m.recipients),
        rejected=m.rejected,
    )
    await bus.publish(
        EMAIL_SENT, [event.envelope(m.tenant_id, message_key(m.tenant_id, m.mailbox_id, eid))]
    )
    return eid
