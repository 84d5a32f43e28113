"""Users' changes made through Microsoft Graph by the connector (``graph_write``),
against the fake Graph over HTTP: PATCH, move, DELETE, 404s and throttling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import Outcome, Writable
from tests.fakes.graph import FakeGraph
from tests.providers.test_graph import UPN, harness

__all__ = ["harness"]  # the fixture, shared with test_graph


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph().start()
    server.add_user(UPN, "Adele Vance")
    try:
        yield server
    finally:
        server.stop()


def change(mid: str, labels: tuple[str, ...] = ("Inbox",), **fields: Any) -> MailChange:
    return MailChange(email_id="e1", provider_message_id=mid, labels=list(labels), **fields)


def where(fake: FakeGraph, mid: str) -> str:
    user = fake.users[UPN]
    return user.folders[user.messages[mid].folder_id].display_name


async def test_flags_are_patched_and_the_next_delta_agrees(fake: FakeGraph, harness: Any) -> None:
    h = harness()
    mid = fake.add_message(UPN, "inbox")
    await h.sync()
    assert isinstance(h.conn, Writable)

    [result] = await h.conn.apply([change(mid, flags=Flags(seen=True, flagged=True))])

    assert result.outcome is Outcome.APPLIED
    message = fake.users[UPN].messages[mid]
    assert (message.is_read, message.flag_status) == (True, "flagged")
    patch = next(r for r in fake.requests if r.method == "PATCH")
    assert 'IdType="ImmutableId"' in patch.headers["prefer"]
    await h.sync()
    assert h.sink.flags_by_id[mid] == Flags(seen=True, flagged=True)
    await h.conn.apply([change(mid, flags=Flags(seen=False))])
    assert (message.is_read, message.flag_status) == (False, "notFlagged")


async def test_a_label_moves_the_message_and_keeps_its_id(fake: FakeGraph, harness: Any) -> None:
    fake.add_folder(UPN, "Projects")
    fake.add_folder(UPN, "Q3", parent="Projects")
    h = harness(folders=["inbox", "Projects/Q3"])
    mid = fake.add_message(UPN, "inbox")
    await h.sync()

    [result] = await h.conn.apply([change(mid, add_labels=["projects/q3"])])

    assert result.outcome is Outcome.APPLIED and where(fake, mid) == "Q3"
    await h.sync()
    assert h.sink.labels_by_id[mid] == ("Q3",), "a move, not a deletion and a new message"
    assert h.sink.deleted_ids == []


async def test_removing_its_folder_archives_and_missing_folders_are_noted(
    fake: FakeGraph, harness: Any
) -> None:
    h = harness()
    mid, other = fake.add_message(UPN, "inbox"), fake.add_message(UPN, "inbox")
    results = await h.conn.apply(
        [
            change(mid, remove_labels=["inbox"]),
            change(other, add_labels=["Nowhere"], flags=Flags(seen=True)),
            change(other, remove_labels=["Somewhere else"]),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3
    assert where(fake, mid) == "Archive"
    assert where(fake, other) == "Inbox" and "Nowhere" in results[1].detail
    assert fake.users[UPN].messages[other].is_read


async def test_trash_untrash_and_delete(fake: FakeGraph, harness: Any) -> None:
    fake.add_folder(UPN, "Receipts")
    h = harness()
    mid = fake.add_message(UPN, "Receipts")
    gone = fake.add_message(UPN, "inbox")

    results = await h.conn.apply([change(mid, labels=("Receipts",), trash=True)])
    assert results[0].outcome is Outcome.APPLIED and where(fake, mid) == "Deleted Items"
    results = await h.conn.apply(
        [
            change(mid, labels=("Receipts", "Trash"), untrash=True),
            change(gone, delete=True),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    assert where(fake, mid) == "Receipts"
    assert gone not in fake.users[UPN].messages
    assert fake.count("/messages/", method="DELETE") == 1


async def test_a_missing_message_is_refused_and_throttling_fails_for_now(
    fake: FakeGraph, harness: Any
) -> None:
    h = harness()
    mid = fake.add_message(UPN, "inbox")
    fake.delete_message(UPN, mid)
    kept = fake.add_message(UPN, "inbox")
    results = await h.conn.apply(
        [change(mid, flags=Flags(seen=True)), change(kept, flags=Flags(seen=True))]
    )
    assert [r.outcome for r in results] == [Outcome.REFUSED, Outcome.APPLIED]
    assert "ErrorItemNotFound" in results[0].detail

    fake.throttle(2, retry_after=4)
    [ridden] = await h.conn.apply([change(kept, flags=Flags(flagged=True))])
    assert ridden.outcome is Outcome.APPLIED and h.sleeps == [4, 4]
    fake.throttle(20, retry_after=500)  # longer than a call waits
    results = await h.conn.apply([change(kept, flags=Flags()), change(kept, delete=True)])
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.SKIPPED]
    assert results[0].retry_after == 500
    assert kept in fake.users[UPN].messages
