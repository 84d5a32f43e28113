"""An email document serialised once, where the CPU is to spare.

The processor's parse workers encode each document to JSON; the event loop then
only moves strings (unpickling a string is a copy, unpickling a model is not) and
the document store writes them as they are. The few fields the loop needs for keys
and follow-up events travel beside the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from inboxhub.domain.models import EmailDocument, EmailSummary

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
    )
