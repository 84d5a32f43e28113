"""Copies of one message shown once (``services.api.dedup.collapse``), pure."""

from __future__ import annotations

from datetime import timedelta

from inboxhub.domain.models import EmailSummary, Flags
from inboxhub.services.api.dedup import collapse
from tests.support.documents import BASE, email_doc


def summary(
    n: int, mailbox: str, dedup: str = "", minutes: int = 0, seen: bool = False
) -> EmailSummary:
    doc = email_doc(n, mailbox=mailbox, when=BASE + timedelta(minutes=minutes))
    return doc.model_copy(update={"dedup_key": dedup, "flags": Flags(seen=seen)}).summary()


def test_copies_collapse_onto_the_first_in_list_order() -> None:
    emails = [
        summary(1, "inbox", "k", minutes=5),
        summary(2, "work", "k", minutes=5),  # same date: the greater id comes first
        summary(3, "inbox", "", minutes=5),
        summary(4, "work", "", minutes=5),  # no key: never merged
        summary(5, "archive", "k", minutes=1),
    ]
    shown = collapse(emails)
    assert [(s.email.id, [o.id for o in s.others]) for s in shown] == [
        ("e00002", ["e00001", "e00005"]),
        ("e00003", []),
        ("e00004", []),
    ]
    assert [c.mailbox_id for c in shown[0].copies] == ["work", "inbox", "archive"]


def test_a_message_read_in_any_mailbox_is_read() -> None:
    [unread] = collapse([summary(1, "inbox", "k"), summary(2, "work", "k")])
    [read] = collapse([summary(1, "inbox", "k"), summary(2, "work", "k", seen=True)])
    assert (unread.seen, read.seen) == (False, True)
