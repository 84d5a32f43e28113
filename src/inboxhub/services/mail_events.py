"""``email.updated`` events for edits made through the API (and by the fetcher for
changes seen at the provider): one event per mailbox and kind of change, keyed by
mailbox so one mailbox's updates stay in order, published after the writes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from inboxhub.domain.events import EMAIL_UPDATED, EmailUpdated, Envelope, mailbox_key
from inboxhub.domain.models import MailChange
from inboxhub.ports import EventBus

IDS_PER_EVENT = 500  # a bulk edit of many emails becomes several events


def changed_parts(change: MailChange) -> tuple[str, ...]:
    """What a ``MailChange`` changes, in ``EMAIL_CHANGES`` terms."""
    if change.delete:
        return ("delete",)
    parts = []
    if change.flags is not None:
        parts.append("flags")
    if change.add_labels or change.remove_labels:
        parts.append("labels")
    if change.trash:
        parts.append("trash")
    if change.untrash:
        parts.append("untrash")
    return tuple(parts)


def update_events(
    tenant_id: str, changes: Iterable[tuple[str, str, Sequence[str]]], source: str = "api"
) -> list[Envelope]:
    """Events for (mailbox_id, email_id, what changed) triples, grouped by mailbox
    and by what changed, in the order first seen."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for mailbox_id, email_id, parts in changes:
        if parts:
            groups[(mailbox_id, tuple(parts))].append(email_id)
    return [
        EmailUpdated(
            mailbox_id=mailbox_id,
            email_ids=ids[start : start + IDS_PER_EVENT],
            changed=list(parts),
            source=source,
        ).envelope(tenant_id, mailbox_key(tenant_id, mailbox_id))
        for (mailbox_id, parts), ids in groups.items()
        for start in range(0, len(ids), IDS_PER_EVENT)
    ]


async def publish_updates(
    bus: EventBus,
    tenant_id: str,
    changes: Iterable[tuple[str, str, Sequence[str]]],
    source: str = "api",
) -> None:
    await bus.publish(EMAIL_UPDATED, update_events(tenant_id, changes, source))
