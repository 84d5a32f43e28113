"""One message delivered to several of a user's mailboxes, shown once.

Copies share a ``dedup_key`` (``domain.dedup``; a message without a Message-ID has
none and is never merged with another). Of the copies a user may read, the first in
list order (newest first: sort_date, then id) is shown, listing every mailbox and
the other copies' ids; the others are left out wherever they would have come. So a
page boundary never shows a message twice, nor hides one: whichever page a copy
falls on, it is skipped there only because its first copy is shown elsewhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import EmailSummary
from inboxhub.ports import EmailStore, ListCursor


def list_order(e: EmailSummary) -> tuple[datetime, str]:
    """The key lists sort by, descending."""
    return (e.sort_date, e.id)


@dataclass
class Shown:
    """A message as shown: its first copy, and the others."""

    email: EmailSummary
    others: list[EmailSummary]

    @property
    def copies(self) -> list[EmailSummary]:
        return [self.email, *self.others]

    @property
    def seen(self) -> bool:
        """Read in any mailbox is read."""
        return any(c.flags.seen for c in self.copies)


def collapse(emails: Iterable[EmailSummary]) -> list[Shown]:
    """``emails`` with copies of one message made one, in the order of their shown
    (first) copies' first appearance."""
    groups: dict[str, list[EmailSummary]] = defaultdict(list)
    order: list[str] = []
    for e in emails:
        group = e.dedup_key or f"id {e.id}"
        if group not in groups:
            order.append(group)
        groups[group].append(e)
    shown = []
    for group in order:
        copies = sorted(groups[group], key=list_order, reverse=True)
        shown.append(Shown(copies[0], copies[1:]))
    return shown


async def _copies(
    emails: EmailStore,
    tenant_id: str,
    rows: Sequence[EmailSummary],
    mailbox_ids: set[str],
    trash: bool | None,
) -> dict[str, list[EmailSummary]]:
    """Every copy of the messages of ``rows`` that the list could show (in
    ``mailbox_ids``, in or out of the trash as ``trash`` says), by dedup key."""
    keys = sorted({r.dedup_key for r in rows if r.dedup_key})
    found: dict[str, list[EmailSummary]] = defaultdict(list)
    for e in await emails.duplicates(tenant_id, keys) if keys else []:
        if e.mailbox_id in mailbox_ids and trash in (None, in_trash(e.labels)):
            found[e.dedup_key].append(e)
    return found


async def deduplicated_page(
    emails: EmailStore,
    tenant_id: str,
    mailbox_ids: Sequence[str],
    limit: int,
    after: ListCursor | None,
    trash: bool | None = None,
) -> tuple[list[Shown], bool]:
    """Up to ``limit`` messages after ``after`` in list order, copies shown once, and
    whether more follow; ``trash`` as ``EmailStore.list`` takes it. Rows skipped as
    later copies are made up for by reading on, so a page is short only at the end."""
    allowed = set(mailbox_ids)
    shown: list[Shown] = []
    position = after
    while len(shown) <= limit:
        wanted = limit + 1 - len(shown)
        rows = await emails.list(tenant_id, mailbox_ids, wanted, position, trash)
        copies = await _copies(emails, tenant_id, rows, allowed, trash)
        for row in rows:
            group = copies.get(row.dedup_key) or [row]
            first = max(group, key=list_order)
            if first.id == row.id:
                others = [c for c in group if c.id != row.id]
                shown.append(Shown(row, sorted(others, key=list_order, reverse=True)))
        if len(rows) < wanted:
            break
        position = ListCursor(rows[-1].sort_date, rows[-1].id)
    return shown[:limit], len(shown) > limit
