"""The indexer's event handler. Idempotent: the index is upserted by email id."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from inboxhub.domain.events import IndexRequested
from inboxhub.domain.models import Address, EmailDocument, SearchDocument
from inboxhub.mime.sanitize import html_to_text
from inboxhub.ports import EmailStore, Record, SearchIndex


def _addresses(addrs: list[Address]) -> str:
    return " ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in addrs)


def search_document(doc: EmailDocument) -> SearchDocument:
    body = doc.text or html_to_text(doc.html)
    return SearchDocument(
        id=doc.id,
        tenant_id=doc.tenant_id,
        mailbox_id=doc.mailbox_id,
        sort_date=doc.sort_date,
        subject=doc.subject,
        from_text=_addresses([doc.from_]) if doc.from_ else "",
        to_text=_addresses(doc.to + doc.cc + doc.bcc),
        body=body,
        attachment_names=" ".join(a.filename for a in doc.attachments if a.filename),
        has_attachments=doc.has_attachments,
        seen=doc.flags.seen,
        flagged=doc.flags.flagged,
        size=doc.size,
        sender_domain=doc.from_.email.rpartition("@")[2].lower() if doc.from_ else "",
        message_id=doc.message_id or "",
    )


@dataclass
class Indexer:
    emails: EmailStore
    search: SearchIndex

    async def handle(self, records: list[Record]) -> None:
        wanted: dict[str, list[str]] = defaultdict(list)
        for r in records:
            wanted[r.envelope.tenant_id].append(IndexRequested.of(r.envelope).email_id)
        for tenant_id, ids in wanted.items():
            docs = await self.emails.get_many(tenant_id, list(dict.fromkeys(ids)))
            # A document deleted since the request has nothing left to index.
            await self.search.index_many([search_document(d) for d in docs])
