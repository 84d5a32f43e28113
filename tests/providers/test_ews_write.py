"""Users' changes made on Exchange by the EWS connector (``ews_write``), against the
fake EWS server over SOAP: UpdateItem, MoveItem (new ids), DeleteItem, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers.base import Outcome, Writable
from inboxhub.providers.ews import EwsConnector
from inboxhub.providers.ews_write import MOVED
from tests.fakes.ews import FakeEws, make_message
from tests.providers.test_ews import make_connector, make_ctx, sleeps_of
from tests.support.sync_memory import MemoryItemMap, MemorySink


@pytest.fixture
def fake() -> Iterator[FakeEws]:
    with FakeEws() as server:
        yield server


@pytest.fixture
async def connector(fake: FakeEws, tmp_path: Path) -> AsyncIterator[EwsConnector]:
    ctx = make_ctx(tmp_path, MemoryItemMap())
    made = make_connector(fake, ctx)
    yield made
    await made.close()


def change(item_id: str, labels: tuple[str, ...] = ("inbox",), **fields: Any) -> MailChange:
    return MailChange(email_id="e1", provider_message_id=item_id, labels=list(labels), **fields)


def folder_of(fake: FakeEws, item_id: str) -> str | None:
    return next((name for name, f in fake.folders.items() if item_id in f.items), None)


async def test_read_and_flag_are_updated_and_the_next_sync_agrees(
    fake: FakeEws, connector: EwsConnector
) -> None:
    item_id = fake.add("inbox", make_message(1))
    sink = MemorySink()
    cursor = await connector.sync({}, sink)
    assert isinstance(connector, Writable)

    [result] = await connector.apply([change(item_id, flags=Flags(seen=True, flagged=True))])

    assert result.outcome is Outcome.APPLIED
    item = fake.folders["inbox"].items[item_id]
    assert (item.is_read, item.flag_status) == (True, 2)
    cursor = await connector.sync(cursor, sink)
    assert sink.flags_by_id[item_id] == Flags(seen=True, flagged=True)
    await connector.apply([change(item_id, flags=Flags())])
    assert (item.is_read, item.flag_status) == (False, None)
    await connector.sync(cursor, sink)
    assert sink.flags_by_id[item_id] == Flags()
    assert fake.requests["UpdateItem"] == 2


async def test_trash_moves_with_a_new_id_and_untrash_finds_it(
    fake: FakeEws, connector: EwsConnector
) -> None:
    item_id = fake.add("inbox", make_message(1))

    [trashed] = await connector.apply([change(item_id, trash=True)])

    assert trashed.outcome is Outcome.APPLIED
    assert folder_of(fake, item_id) is None, "EWS gives a moved item a new id"
    [now_id] = fake.ids("deleteditems")
    [untrashed] = await connector.apply(
        [change(item_id, labels=("Trash", "sentitems"), untrash=True)]
    )
    assert untrashed.outcome is Outcome.APPLIED and fake.ids("deleteditems") == []
    [back] = fake.ids("sentitems")  # where it was, as its labels say
    assert back != now_id and back != item_id
    [flagged] = await connector.apply([change(item_id, flags=Flags(flagged=True))])
    assert flagged.outcome is Outcome.APPLIED, "later changes follow the item"
    assert fake.folders["sentitems"].items[back].flag_status == 2
    [deleted] = await connector.apply([change(item_id, delete=True)])
    assert deleted.outcome is Outcome.APPLIED and fake.ids("sentitems") == []
    assert not connector.ctx.items.folders.get(MOVED)


async def test_labels_are_distinguished_folders_and_an_item_is_in_one(
    fake: FakeEws, connector: EwsConnector
) -> None:
    item_id = fake.add("inbox", make_message(1))
    other = fake.add("inbox", make_message(2))
    results = await connector.apply(
        [
            change(item_id, add_labels=["JunkEmail"], remove_labels=["inbox"]),
            change(other, add_labels=["Projects"]),
            change(other, remove_labels=["inbox"]),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.APPLIED] * 3
    [moved] = fake.ids("junkemail")
    assert fake.folders["junkemail"].items[moved].mime == make_message(1)
    assert folder_of(fake, other) == "inbox"
    assert "Projects" in results[1].detail and "its folder" in results[2].detail


async def test_a_missing_item_is_refused_and_busy_fails_for_now(
    fake: FakeEws, connector: EwsConnector
) -> None:
    gone = fake.add("inbox", make_message(1))
    kept = fake.add("inbox", make_message(2))
    fake.delete(gone)
    results = await connector.apply(
        [change(gone, flags=Flags(seen=True)), change(gone, delete=True), change(kept, trash=True)]
    )
    assert [r.outcome for r in results] == [Outcome.REFUSED, Outcome.REFUSED, Outcome.APPLIED]

    [now] = fake.ids("deleteditems")
    fake.queue_server_busy(2, back_off_ms=1500)
    [ridden] = await connector.apply([change(kept, flags=Flags(seen=True))])
    assert ridden.outcome is Outcome.APPLIED and sleeps_of(connector)[-2:] == [1.5, 1.5]
    assert fake.folders["deleteditems"].items[now].is_read
    fake.queue_server_busy(20, back_off_ms=600_000)  # longer than a call sits out
    results = await connector.apply([change(kept, flags=Flags()), change(kept, delete=True)])
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.SKIPPED]
    assert fake.ids("deleteditems") == [now]
