"""The indexer's event handler. Idempotent: the index is upserted by email id."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import getaddresses

from inboxhub.domain.events import IndexRequested
from inboxhub.domain.models import Address, EmailDocument, SearchDocument
from inboxhub.domain.search_query import label_key
from inboxhub.mime.sanitize import html_to_text
from inboxhub.ports import EmailStore, Record, SearchIndex


def _addresses(addrs: list[Address]) -> str:
    return " ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in addrs)


def header_values(headers: Iterable[tuple[str, str]], *names: str) -> list[str]:
    """The values of every header called one of ``names`` (any case), in order, each
    unfolded (runs of white space one space) and stripped; empty ones left out."""
    wanted = {n.lower() for n in names}
    values = (" ".join(v.split()) for n, v in headers if n.strip().lower() in wanted)
    return [v for v in values if v]


_ANGLE = re.compile(r"<([^<>]*)>")


def list_ids(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The mailing list ids of the ``List-Id`` header(s), lower case: the part in angle
    brackets (``Dev list <dev.lists.example.org>`` → ``dev.lists.example.org``), or the
    whole value when it has none (RFC 2919)."""
    ids: list[str] = []
    for value in header_values(headers, "List-Id"):
        bracketed = _ANGLE.findall(value)
        found = bracketed[-1] if bracketed else value
        if (lid := found.strip().strip(".").lower()) and lid not in ids:
            ids.append(lid)
    return ids


def delivered_to(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The addresses of the ``Delivered-To`` and ``X-Original-To`` headers (a message
    may carry several of each), lower case, each once."""
    found: list[str] = []
    for value in header_values(headers, "Delivered-To", "X-Original-To"):
        parsed = [addr for _, addr in getaddresses([value]) if "@" in addr]
        for addr in parsed or [value.strip("<>")]:
            if (key := addr.strip().lower()) and key not in found:
                found.append(key)
    return found


def search_body(doc: EmailDocument) -> str:
    """The free text of an email: its body, then its attachments' text (no schema of
    either backend changes; a highlight shows the passage that matched, wherever)."""
    body = doc.text or html_to_text(doc.html)
    return f"{body}\n\n{doc.attachment_text}" if doc.attachment_text else body


def search_document(doc: EmailDocument) -> SearchDocument:
    body = search_body(doc)
    return SearchDocument(
        id=doc.id,
        tenant_id=doc.tenant_id,
        mailbox_id=doc.mailbox_id,
        sort_date=doc.sort_date,
        subject=doc.subject,
        from_text=_addresses([doc.from_]) if doc.from_ else "",
        to_text=_addresses(doc.to + doc.cc + doc.bcc),
        cc_text=_addresses(doc.cc),
        bcc_text=_addresses(doc.bcc),
        body=body,
        attachment_names=" ".join(a.filename for a in doc.attachments if a.filename),
        has_attachments=doc.has_attachments,
        seen=doc.flags.seen,
        flagged=doc.flags.flagged,
        size=doc.size,
        sender_domain=doc.from_.email.rpartition("@")[2].lower() if doc.from_ else "",
        message_id=doc.message_id or "",
        labels=list(dict.fromkeys(k for k in map(label_key, doc.labels) if k)),
        list_ids=list_ids(doc.headers),
        delivered_to=delivered_to(doc.headers),
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
            unique = list(dict.fromkeys(ids))
            docs = await self.emails.get_many(tenant_id, unique)
            await self.search.index_many([search_document(d) for d in docs])
            # A document deleted since the request has nothing left to index, and an
            # entry of it (a refresh in flight while it was deleted) goes too.
            if gone := set(unique) - {d.id for d in docs}:
                await self.search.delete_many(tenant_id, sorted(gone))
