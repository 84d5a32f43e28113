"""What both EmailStore adapters share for ``changes``: the modseq clock and how a
page of changes is made of the live rows and tombstones after a state.

A modseq is microseconds since the epoch, so that its age says how long ago the
change was, and a tombstone's retention is a time. An adapter stamps every write
with one modseq (all it touches get the same; ties are ordered by id).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from inboxhub.ports import ChangeState, EmailChanges


def clock() -> int:
    """Now as a modseq."""
    return time.time_ns() // 1000


def micros(span: timedelta) -> int:
    return (span.days * 86_400 + span.seconds) * 1_000_000 + span.microseconds


@dataclass(frozen=True)
class Entry:
    """An email written (a live row) or deleted (a tombstone) at ``modseq``."""

    id: str
    modseq: int
    created: int  # the modseq of its creation
    gone: bool


def is_after(modseq: int, email_id: str, state: ChangeState) -> bool:
    """Whether (modseq, email_id) comes after the state's position."""
    if modseq != state.modseq:
        return modseq > state.modseq
    return state.id is not None and email_id > state.id


def page(since: ChangeState, entries: Iterable[Entry], limit: int, watermark: int) -> EmailChanges:
    """The first ``limit`` entries after ``since`` (each adapter gives up to ``limit +
    1`` of each kind, in (modseq, id) order) as JMAP reports them. An id both deleted
    and written again counts as its latest entry; one created after ``since`` is
    ``created`` (even if changed since), and a tombstone of one created after
    ``since`` is left out (the client never had it)."""
    ordered = sorted(entries, key=lambda e: (e.modseq, e.id))
    shown = ordered[:limit]
    has_more = len(ordered) > limit
    latest = {e.id: e for e in shown}  # the last entry of each id wins
    created: list[str] = []
    updated: list[str] = []
    destroyed: list[str] = []
    for e in latest.values():
        new = is_after(e.created, e.id, since)
        if e.gone:
            if not new:
                destroyed.append(e.id)
        else:
            (created if new else updated).append(e.id)
    if has_more:
        state = ChangeState(shown[-1].modseq, shown[-1].id)
    else:
        state = since if since.modseq > watermark else ChangeState(watermark)
    return EmailChanges(created, updated, destroyed, state, has_more)
