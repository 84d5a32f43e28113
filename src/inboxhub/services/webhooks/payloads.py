"""What a webhook body says: ``{id, type, created_at, tenant_id, data}``.

``id`` is the bus event's id (the same for every subscription and every retry:
receivers deduplicate by it or by the ``Inboxhub-Delivery`` header). For emails,
``data`` is the list-view summary (ids, addresses, subject, date, flags, labels),
never a body or a snippet of one: a receiver that wants more calls the API. The
body is serialised once, stored, and sent byte for byte on every attempt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from inboxhub.domain.events import EMAIL_PROCESSED, EMAIL_SENT, Envelope
from inboxhub.domain.models import EmailSummary
from inboxhub.ports import EmailStore

EMAIL_EVENTS = (EMAIL_PROCESSED, EMAIL_SENT)


def body(event_id: str, event_type: str, created_at: datetime, tenant_id: str, data: Any) -> bytes:
    document = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at.isoformat(),
        "tenant_id": tenant_id,
        "data": data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def email_data(env: Envelope, summary: EmailSummary | None) -> dict[str, Any]:
    """An email event's data: the stored summary, else (deleted meanwhile) what the
    event itself says."""
    data: dict[str, Any] = {
        "email_id": env.data.get("email_id"),
        "mailbox_id": env.data.get("mailbox_id"),
    }
    if summary is None:
        data["subject"] = env.data.get("subject", "")
        sender = env.data.get("from_email")
        data["from"] = {"name": "", "email": sender} if sender else None
    else:
        data.update(
            summary.model_dump(
                mode="json",
                by_alias=True,
                include={
                    "thread_id",
                    "message_id",
                    "subject",
                    "from_",
                    "to",
                    "date",
                    "flags",
                    "labels",
                    "has_attachments",
                    "in_reply_to",
                },
            )
        )
    if "has_parse_errors" in env.data:
        data["has_parse_errors"] = bool(env.data["has_parse_errors"])
    return data


async def bodies(emails: EmailStore, events: Sequence[Envelope]) -> dict[str, bytes]:
    """The body of each event, by event id (emails looked up once per tenant)."""
    wanted: dict[str, list[str]] = {}
    for env in events:
        if env.type in EMAIL_EVENTS and isinstance(env.data.get("email_id"), str):
            wanted.setdefault(env.tenant_id, []).append(env.data["email_id"])
    found: dict[tuple[str, str], EmailSummary] = {}
    for tenant_id, ids in wanted.items():
        for summary in await emails.summaries(tenant_id, list(dict.fromkeys(ids))):
            found[(tenant_id, summary.id)] = summary
    out: dict[str, bytes] = {}
    for env in events:
        if env.type in EMAIL_EVENTS:
            known = found.get((env.tenant_id, str(env.data.get("email_id"))))
            data: Any = email_data(env, known)
        else:
            data = env.data  # email.updated, mailbox.status: ids and states only
        out[env.id] = body(env.id, env.type, env.time, env.tenant_id, data)
    return out
