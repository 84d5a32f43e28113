"""An email document serialised once, where the CPU is to spare.

The processor's parse workers encode each document to JSON; the event loop then
only moves strings (unpickling a string is a copy, unpickling a model is not) and
the document store writes them as they are. The few fields the loop needs for keys
and follow-up events travel beside the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import EmailDocument, EmailSummary
from inboxhub.domain.threading import ThreadFacts, thread_facts

SUMMARY_FIELDS: set[str] = set(EmailSummary.model_fields)


@dataclass(frozen=True)
class EncodedEmail:
    tenant_id: str
    id: str
    mailbox_id: str
    sort_date: datetime
    schema_version: int
    summary_json: str  # EmailSummary's fields only: what listing reads
    document_json: str  # the whole EmailDocument
    subject: str
    from_email: str
    has_parse_errors: bool
    thread_id: str  # "" until the processor places it in a conversation
    dedup_key: str
    thread: ThreadFacts  # what the processor places it by
    trashed: bool = False  # in the trash (domain.labels): stores keep it to list without

    def in_thread(self, thread_id: str) -> EncodedEmail:
        """This email with its ``thread_id`` set, in the fields and both JSONs. The
        JSON is patched, not made again: ``"thread_id":`` occurs once in each (no
        nested object has the key, and inside a string a quote is escaped), and a
        thread id is hex."""
        if thread_id == self.thread_id:
            return self
        old = f'"thread_id":"{self.thread_id}"'
        new = f'"thread_id":"{thread_id}"'
        if old not in self.summary_json or old not in self.document_json:
            raise ValueError(f"email {self.id}: no thread id to replace in its JSON")
        return replace(
            self,
            thread_id=thread_id,
            summary_json=self.summary_json.replace(old, new, 1),
            document_json=self.document_json.replace(old, new, 1),
        )


def encode(doc: EmailDocument) -> EncodedEmail:
    return EncodedEmail(
        tenant_id=doc.tenant_id,
        id=doc.id,
        mailbox_id=doc.mailbox_id,
        sort_date=doc.sort_date,
        schema_version=doc.schema_version,
        summary_json=doc.model_dump_json(include=SUMMARY_FIELDS, by_alias=True),
        document_json=doc.model_dump_json(by_alias=True),
        subject=doc.subject,
        from_email=doc.from_.email if doc.from_ else "",
        has_parse_errors=bool(doc.parse_errors),
        thread_id=doc.thread_id,
        dedup_key=doc.dedup_key,
        thread=thread_facts(
            doc.tenant_id, doc.id, doc.message_id, doc.in_reply_to, doc.references, doc.subject
        ),
        trashed=in_trash(doc.labels),
    )
