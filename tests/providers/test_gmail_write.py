"""Users' changes made in Gmail by the connector (``gmail_write``), against the fake
Gmail API over HTTP: modify, trash, untrash, delete, 404s and throttling."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import Outcome, Writable
from inboxhub.providers.gmail import GmailConnector
from inboxhub.providers.gmail_write import FULL_SCOPE
from tests.fakes.gmail import FakeGmail, serve
from tests.providers.test_gmail import EMAIL, Harness, eml


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGmail]:
    with serve() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeGmail) -> FakeGmail:
    server.reset()
    server.add_mailbox(EMAIL)
    return server


@pytest.fixture
async def h(fake: FakeGmail, tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(fake, tmp_path)
    yield harness
    for connector in harness.connectors:
        await connector.close()


def change(mid: str, **fields: Any) -> MailChange:
    return MailChange(email_id="e1", provider_message_id=mid, **fields)


def labels_of(fake: FakeGmail, mid: str) -> set[str]:
    return set(fake.box(EMAIL).messages[mid].labels)


async def test_flags_and_labels_by_name_are_one_modify(h: Harness, fake: FakeGmail) -> None:
    work = fake.add_label(EMAIL, "Work/Projects")
    mid = fake.add_message(EMAIL, eml(1), ["INBOX", "UNREAD"])
    connector = h.connector()
    assert isinstance(connector, Writable)

    [result] = await connector.apply(
        [
            change(
                mid,
                flags=Flags(seen=True, flagged=True),
                add_labels=["work/projects"],
                remove_labels=["INBOX"],
            )
        ]
    )

    assert result.outcome is Outcome.APPLIED and result.detail == ""
    assert labels_of(fake, mid) == {"STARRED", work}
    assert fake.counts["messages.modify"] == 1
    [again] = await connector.apply([change(mid, flags=Flags(), add_labels=["INBOX"])])
    assert again.outcome is Outcome.APPLIED
    assert labels_of(fake, mid) == {"UNREAD", work, "INBOX"}


async def test_the_next_sync_sees_the_change_made(h: Harness, fake: FakeGmail) -> None:
    mid = fake.add_message(EMAIL, eml(1), ["INBOX", "UNREAD"])
    await h.sync()
    connector = h.connector()
    await connector.apply([change(mid, flags=Flags(seen=True, flagged=True))])
    await h.sync()
    assert h.sink.flags_by_id[mid] == Flags(seen=True, flagged=True)
    assert h.sink.labels_by_id[mid] == ("INBOX",)


async def test_a_label_created_after_the_connector_loaded_them(h: Harness, fake: FakeGmail) -> None:
    mid = fake.add_message(EMAIL, eml(1), ["INBOX"])
    connector = h.connector()
    await connector.apply([change(mid, flags=Flags(seen=True))])  # labels loaded now
    fresh = fake.add_label(EMAIL, "Fresh")
    [result] = await connector.apply([change(mid, add_labels=["Fresh", "Nope"])])
    assert result.outcome is Outcome.APPLIED and "Nope" in result.detail
    assert fresh in labels_of(fake, mid)


async def test_trash_untrash_and_delete_without_the_full_scope(h: Harness, fake: FakeGmail) -> None:
    mid = fake.add_message(EMAIL, eml(1), ["INBOX"])
    other = fake.add_message(EMAIL, eml(2), ["INBOX"])
    connector = h.connector()

    results = await connector.apply(
        [change(mid, trash=True), change(mid, untrash=True), change(other, delete=True)]
    )

    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3
    assert labels_of(fake, mid) == {"INBOX"}
    assert fake.counts["messages.trash"] == 2 and fake.counts["messages.untrash"] == 1
    assert "TRASH" in labels_of(fake, other), "no full scope: to the Trash, not gone"
    assert fake.counts["messages.delete"] == 0 and FULL_SCOPE in results[2].detail


async def test_delete_for_good_with_the_full_scope(h: Harness, fake: FakeGmail) -> None:
    h.token = fake.issue_token(
        EMAIL, scope=f"{FULL_SCOPE} https://www.googleapis.com/auth/gmail.modify"
    )
    mid = fake.add_message(EMAIL, eml(1), ["INBOX"])
    connector = h.connector()
    [result] = await connector.apply([change(mid, delete=True)])
    assert result.outcome is Outcome.APPLIED and result.detail == ""
    assert mid not in fake.box(EMAIL).messages
    [again] = await connector.apply([change(mid, delete=True)])
    assert again.outcome is Outcome.REFUSED, "gone already: 404, nothing to retry"


async def test_delete_refused_for_scope_goes_to_the_trash(h: Harness, fake: FakeGmail) -> None:
    mid = fake.add_message(EMAIL, eml(1), ["INBOX"])
    connector: GmailConnector = h.connector()
    connector._tokens.token.scope = FULL_SCOPE  # claims more than Google granted
    [result] = await connector.apply([change(mid, delete=True)])
    assert fake.counts["messages.delete"] == 1, "Google answered 403 insufficientPermissions"
    assert result.outcome is Outcome.APPLIED and FULL_SCOPE in result.detail
    assert labels_of(fake, mid) == {"INBOX", "TRASH"}


async def test_a_missing_message_is_refused_and_the_rest_applied(
    h: Harness, fake: FakeGmail
) -> None:
    mid = fake.add_message(EMAIL, eml(1), ["INBOX", "UNREAD"])
    connector = h.connector()
    results = await connector.apply(
        [change("18c0000000000bad", flags=Flags(seen=True)), change(mid, flags=Flags(seen=True))]
    )
    assert [r.outcome for r in results] == [Outcome.REFUSED, Outcome.APPLIED]
    assert labels_of(fake, mid) == {"INBOX"}


async def test_throttling_is_ridden_out_then_fails_for_now(h: Harness, fake: FakeGmail) -> None:
    mids = [fake.add_message(EMAIL, eml(n), ["INBOX", "UNREAD"]) for n in range(2)]
    connector = h.connector()
    await connector.apply([change(mids[0], flags=Flags())])  # labels loaded
    fake.fail_next(2, 429, retry_after=3, endpoint="messages.modify")
    [ok] = await connector.apply([change(mids[0], flags=Flags(seen=True))])
    assert ok.outcome is Outcome.APPLIED and h.sleeps.waits[-2:] == [3.0, 3.0]

    fake.fail_next(50, 429, endpoint="messages.modify")
    results = await connector.apply([change(m, flags=Flags(seen=True)) for m in mids])
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.SKIPPED]
    assert results[0].detail.startswith("Gmail API: 429")
    assert "UNREAD" in labels_of(fake, mids[1]), "the change after it waits its turn"
