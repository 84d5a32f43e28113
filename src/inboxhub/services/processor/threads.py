"""Conversations, built incrementally as emails arrive (JWZ, batch by batch).

Per tenant the store links every thread key (Message-ID) ever seen to a thread id.
A new email joins the thread of any of its keys; keys of several threads merge them
(the smallest id stays, so any processor merging them picks the same); keys of none
start a thread named after the oldest ancestor the email names, unless the email
names no parent but its subject says it is a reply ("Re: Budget"): then it joins
the newest conversation with a message of that subject within a window of its date
(JWZ's subject grouping, bounded in time so that a yearly "Re: Report" does not
collect a year of reports).

One batch (a processor chunk) is placed at once: a reply and its parent in the same
batch join each other, and the store is asked one or two batched questions and
given one write, however many emails the batch holds. A processor places one batch
at a time and stores its documents before the next is placed, so a merge never
misses a document being written beside it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inboxhub.domain.encoded import EncodedEmail
from inboxhub.ports import EmailStore, SubjectThread, ThreadChanges

DEFAULT_SUBJECT_WINDOW = timedelta(days=30)


class _Groups:
    """Union-find over names (``k:<key>`` for thread keys, ``t:<id>`` for threads)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, name: str) -> str:
        root = self.parent.setdefault(name, name)
        while root != self.parent[root]:
            root = self.parent[root]
        while name != root:  # path compression
            self.parent[name], name = root, self.parent[name]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class Plan:
    """Where each email of a batch goes, and what the store must learn."""

    thread_of: dict[str, str]  # email id → thread id
    changes: ThreadChanges


@dataclass
class _Component:
    emails: list[EncodedEmail] = field(default_factory=list)
    known: set[str] = field(default_factory=set)  # thread ids its keys already have

    @property
    def start(self) -> tuple[datetime, str]:
        return min((e.sort_date, e.id) for e in self.emails)


def needs_subjects(emails: Sequence[EncodedEmail], known: dict[str, str]) -> list[EncodedEmail]:
    """The emails that may join a thread by subject: none of their keys is known."""
    return [
        e
        for e in emails
        if e.thread.subject_fallback and not any(k in known for k in e.thread.keys)
    ]


def plan_threads(
    emails: Sequence[EncodedEmail],
    known: dict[str, str],
    by_subject: Sequence[SubjectThread],
    window: timedelta = DEFAULT_SUBJECT_WINDOW,
) -> Plan:
    """Place one tenant's batch. ``known``: the stored thread of each key that has
    one; ``by_subject``: the stored threads of the subjects of ``needs_subjects``."""
    groups = _Groups()
    for e in emails:
        first = f"k:{e.thread.keys[0]}"
        for k in e.thread.keys:
            groups.union(first, f"k:{k}")
            if k in known:
                groups.union(first, f"t:{known[k]}")
    components: dict[str, _Component] = defaultdict(_Component)
    for e in emails:
        component = components[groups.find(f"k:{e.thread.keys[0]}")]
        component.emails.append(e)
        component.known.update(known[k] for k in e.thread.keys if k in known)

    changes = ThreadChanges()
    subjects = _SubjectSpans(by_subject, window)
    thread_of: dict[str, str] = {}
    # Those joining known threads first, then the new ones oldest first, so that a
    # "Re: x" finds the "x" of the same batch by subject.
    ordered = sorted(components.values(), key=lambda c: (not c.known, c.start))
    for component in ordered:
        if component.known:
            target = min(component.known)
            changes.merged.update((t, target) for t in component.known if t != target)
        else:  # (every merge is known by now: a stored thread may have merged away)
            found = subjects.match(component.emails)
            target = (
                changes.merged.get(found, found)
                if found
                else min(e.thread.new_thread_id for e in component.emails)
            )
        for e in component.emails:
            thread_of[e.id] = target
            changes.links.update((k, target) for k in e.thread.keys if known.get(k) != target)
            if e.thread.subject:
                subjects.add(e.thread.subject, target, e.sort_date)
    return Plan(thread_of, changes)


class _SubjectSpans:
    """The threads known by each subject, with the dates they span: the stored ones
    and those of the batch so far."""

    def __init__(self, stored: Sequence[SubjectThread], window: timedelta) -> None:
        self.window = window
        self.spans: dict[str, dict[str, tuple[datetime, datetime]]] = defaultdict(dict)
        for s in stored:
            self._extend(s.subject, s.thread_id, s.first, s.last)

    def _extend(self, subject: str, thread_id: str, first: datetime, last: datetime) -> None:
        had = self.spans[subject].get(thread_id)
        if had is not None:
            first, last = min(first, had[0]), max(last, had[1])
        self.spans[subject][thread_id] = (first, last)

    def add(self, subject: str, thread_id: str, when: datetime) -> None:
        self._extend(subject, thread_id, when, when)

    def match(self, emails: Sequence[EncodedEmail]) -> str | None:
        """The thread the earliest email that may join by subject joins: the newest
        of its subject whose span comes within the window of its date."""
        candidates = sorted((e.sort_date, e.id, e) for e in emails if e.thread.subject_fallback)
        if not candidates:
            return None
        when, _, email = candidates[0]
        near = [
            (last, thread_id)
            for thread_id, (first, last) in self.spans.get(email.thread.subject, {}).items()
            if last >= when - self.window and first <= when + self.window
        ]
        return max(near)[1] if near else None


@dataclass
class Threader:
    """Places emails in conversations and stores them (``Processor`` calls it)."""

    emails: EmailStore
    subject_window: timedelta = DEFAULT_SUBJECT_WINDOW
    _one_at_a_time: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def store(self, emails: Sequence[EncodedEmail]) -> list[EncodedEmail]:
        """Give each email its thread id, record the links, upsert the documents; the
        emails as stored."""
        async with self._one_at_a_time:
            by_tenant: dict[str, list[EncodedEmail]] = defaultdict(list)
            for e in emails:
                by_tenant[e.tenant_id].append(e)
            thread_of: dict[str, str] = {}
            for tenant_id, batch in by_tenant.items():
                thread_of.update(await self._place(tenant_id, batch))
            placed = [e.in_thread(thread_of[e.id]) for e in emails]
            await self.emails.upsert_encoded(placed)
        return placed

    async def _place(self, tenant_id: str, batch: list[EncodedEmail]) -> dict[str, str]:
        keys = list(dict.fromkeys(k for e in batch for k in e.thread.keys))
        known = await self.emails.thread_links(tenant_id, keys)
        by_subject: list[SubjectThread] = []
        if lonely := needs_subjects(batch, known):
            dates = [e.sort_date for e in lonely]
            by_subject = await self.emails.subject_threads(
                tenant_id,
                sorted({e.thread.subject for e in lonely}),
                min(dates) - self.subject_window,
                max(dates) + self.subject_window,
            )
        plan = plan_threads(batch, known, by_subject, self.subject_window)
        await self.emails.save_threads(tenant_id, plan.changes)
        return plan.thread_of
