"""Factories for stored email documents and search documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inboxhub.domain.models import Address, EmailDocument, SearchDocument

BASE = datetime(2024, 3, 1, tzinfo=UTC)


def email_doc(
    n: int,
    tenant: str = "t1",
    mailbox: str = "inbox",
    *,
    subject: str | None = None,
    text: str = "body",
    when: datetime | None = None,
) -> EmailDocument:
    when = when or BASE + timedelta(minutes=n)
    return EmailDocument.model_validate(
        {
            "id": f"e{n:05d}",
            "tenant_id": tenant,
            "mailbox_id": mailbox,
            "provider_message_id": f"p{n}",
            "blob_key": f"t/{tenant}/eml/{n:064x}",
            "size": 100,
            "sha256": f"{n:064x}",
            "message_id": f"m{n}@x",
            "subject": subject or f"Subject {n}",
            "from": Address(name="Alice", email="alice@example.com"),
            "to": [],
            "date": when,
            "sort_date": when,
            "received_at": when,
            "snippet": text[:50],
            "text": text,
        }
    )


def search_doc(
    n: int, tenant: str = "t1", mailbox: str = "inbox", **fields: object
) -> SearchDocument:
    values: dict[str, object] = {
        "id": f"e{n:05d}",
        "tenant_id": tenant,
        "mailbox_id": mailbox,
        "sort_date": BASE + timedelta(minutes=n),
        "subject": f"Subject {n}",
        "from_text": "Alice Example <alice@example.com>",
        "to_text": "bob@example.org",
        "body": "nothing special",
    }
    values.update(fields)
    return SearchDocument.model_validate(values)
