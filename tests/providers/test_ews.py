"""The EWS connector against a fake Exchange server speaking real SOAP over HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import Flags
from inboxhub.providers import ews as ews_module
from inboxhub.providers.base import (
    ConnectorContext,
    Cursor,
    FetchedMessage,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
)
from inboxhub.providers.ews import EwsConnector, EwsSettings, is_exchange_online
from inboxhub.settings import Settings
from tests.fakes.ews import FakeEws, make_message, make_tls_files
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets


@pytest.fixture
def fake() -> Iterator[FakeEws]:
    with FakeEws() as server:
        yield server


@pytest.fixture
def items() -> MemoryItemMap:
    return MemoryItemMap()


def make_ctx(
    tmp_path: Path, items: MemoryItemMap, allow_private: bool = True, ca_file: str = ""
) -> ConnectorContext:
    app = Settings(
        data_dir=tmp_path,
        secret_key="x",
        allow_private_mail_hosts=allow_private,
        mail_tls_ca_file=ca_file,
    )
    return ConnectorContext(
        tenant_id="t1", mailbox_id="mb1", app=app, items=items, save_secrets=SavedSecrets()
    )


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_connector(
    fake: FakeEws,
    ctx: ConnectorContext,
    password: str | None = None,
    page_size: int = 3,
    **settings: Any,
) -> EwsConnector:
    config = EwsSettings(
        **{
            "service_endpoint": fake.url,
            "email": fake.email,
            "username": fake.username,
            "auth_type": "basic",
            "version": "Exchange2016",
            **settings,
        }
    )
    connector = EwsConnector(config, {"password": password or fake.password}, ctx)
    connector.page_size = page_size
    connector.fetch_chunk = 2
    connector.sleep = Sleeps()
    return connector


def sleeps_of(connector: EwsConnector) -> list[float]:
    """The back-offs the connector slept (seconds), in order."""
    assert isinstance(connector.sleep, Sleeps)
    return connector.sleep.calls


async def run_sync(
    connector: EwsConnector, sink: MemorySink, cursor: Cursor | None = None
) -> Cursor:
    try:
        return await connector.sync(cursor if cursor is not None else sink.cursor, sink)
    finally:
        await connector.close()


def fill(fake: FakeEws) -> dict[str, tuple[str, bytes]]:
    """7 messages in the inbox (some read, some flagged), 4 in sent items."""
    made: dict[str, tuple[str, bytes]] = {}
    for n in range(7):
        data = make_message(n, "inbox", size=300 * n)
        received = datetime(2024, 5, 6, 10, n, tzinfo=UTC)
        item_id = fake.add("inbox", data, is_read=n % 2 == 0, flagged=n % 3 == 0, received=received)
        made[item_id] = ("inbox", data)
    for n in range(4):
        data = make_message(n, "sentitems")
        made[fake.add("sentitems", data, is_read=True)] = ("sentitems", data)
    return made


async def test_first_sync_pages_both_folders(fake: FakeEws, items: MemoryItemMap, tmp_path: Path):
    made = fill(fake)
    sink = MemorySink()
    cursor = await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)

    assert set(sink.messages_by_id) == set(made)
    assert sink.received == len(made)  # each handed over once
    for item_id, (folder, data) in made.items():
        message = sink.messages_by_id[item_id]
        assert message.data == data  # exact MIME bytes
        assert message.labels == (folder,)
        fake_item = fake.folders[folder].items[item_id]
        assert message.flags == Flags(seen=fake_item.is_read, flagged=fake_item.flag_status == 2)
        assert message.received_at == fake_item.received
    # 7 inbox changes in pages of 3 → 3 pages; 4 sent → 2 pages; the empty trash → 1;
    # a checkpoint each.
    assert fake.requests["SyncFolderItems"] == 6
    assert len(sink.cursors) >= 6
    assert set(cursor["folders"]) == {"inbox", "sentitems", "deleteditems"}
    assert all(state["sync_state"] for state in cursor["folders"].values())
    assert sink.cursors[-1] == cursor
    assert set(items.folders["inbox"]) == {i for i, (f, _) in made.items() if f == "inbox"}
    assert not fake.unknown_requests

    # Nothing changed: the next sync hands over nothing and downloads nothing.
    get_items = fake.requests["GetItem"]
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert sink.received == len(made)
    assert fake.requests["GetItem"] == get_items


async def test_an_item_moved_to_the_trash_shows_there_as_trashed(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    data = make_message(1, "inbox")
    item_id = fake.add("inbox", data, is_read=True)
    sink = MemorySink()
    cursor = await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert sink.labels_by_id[item_id] == ("inbox",)

    trashed = fake.move(item_id, "deleteditems")  # another client; a new ItemId
    cursor = await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink, cursor)

    assert sink.messages_by_id[trashed].data == data
    assert sink.labels_by_id[trashed] == ("Deleted Items",)
    assert in_trash(sink.labels_by_id[trashed]) and sink.flags_by_id[trashed].seen
    assert sink.deleted_ids == [item_id]  # the inbox's item; the trash's is its successor
    assert set(items.folders["deleteditems"]) == {trashed}

    # With folders configured, the trash is not synced: a trashed item is gone.
    other = fake.add("inbox", make_message(2, "inbox"))
    only_inbox = MemoryItemMap()
    narrow = MemorySink()
    ctx = make_ctx(tmp_path, only_inbox)
    cursor = await run_sync(make_connector(fake, ctx, folders=["inbox"]), narrow)
    assert set(cursor["folders"]) == {"inbox"} and set(narrow.messages_by_id) == {other}
    fake.move(other, "deleteditems")
    await run_sync(make_connector(fake, ctx, folders=["inbox"]), narrow, cursor)
    assert narrow.deleted_ids == [other] and not narrow.messages_by_id


async def test_batches_are_bounded_in_bytes(fake: FakeEws, items: MemoryItemMap, tmp_path: Path):
    for n in range(6):
        fake.add("inbox", make_message(n, size=1500))

    @dataclass
    class SizeSink(MemorySink):
        sizes: list[int] = field(default_factory=list)

        async def messages(self, batch: Sequence[FetchedMessage]) -> None:
            self.sizes.append(sum(len(m.data) for m in batch))
            await super().messages(batch)

    connector = make_connector(fake, make_ctx(tmp_path, items), page_size=6, folders=["inbox"])
    connector.fetch_chunk, connector.batch_bytes = 1, 3000
    sink = SizeSink()
    await run_sync(connector, sink)
    assert sink.received == 6
    assert len(sink.sizes) == 3  # two messages (> 3000 bytes) per batch
    assert all(size < 3000 + 2000 for size in sink.sizes)


async def test_incremental_sync_new_read_flagged_deleted(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    made = fill(fake)
    sink = MemorySink()
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    inbox = fake.ids("inbox")
    flagged_then_read = next(i for i in inbox if fake.folders["inbox"].items[i].flag_status)
    unread = next(i for i in inbox if not fake.folders["inbox"].items[i].is_read)
    plain = next(i for i in inbox if not fake.folders["inbox"].items[i].flag_status and i != unread)
    gone = fake.ids("sentitems")[0]

    new_data = make_message(99, "inbox")
    new_id = fake.add("inbox", new_data)
    fake.mark_read(flagged_then_read)  # a ReadFlagChange: the flag must survive
    fake.mark_read(unread)
    fake.set_flag(plain)  # an Update
    fake.delete(gone)
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)

    assert sink.received == len(made) + 1
    assert sink.messages_by_id[new_id].data == new_data
    assert sink.flags_by_id[flagged_then_read] == Flags(seen=True, flagged=True)
    assert sink.flags_by_id[unread].seen is True
    assert sink.flags_by_id[plain].flagged is True
    assert sink.deleted_ids == [gone]
    assert gone not in items.folders["sentitems"]

    # Unflag and mark unread again: both come back as they are now.
    fake.set_flag(plain, flagged=False)
    fake.mark_read(unread, is_read=False)
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert sink.flags_by_id[plain].flagged is False
    assert sink.flags_by_id[unread].seen is False


async def test_invalid_sync_state_resyncs_without_duplicates(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    made = fill(fake)
    sink = MemorySink()
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    deleted = fake.ids("inbox")[2]
    marked = fake.ids("inbox")[1]
    fake.delete(deleted)
    fake.mark_read(marked, is_read=False)
    new_id = fake.add("inbox", make_message(50, "inbox"))
    fake.invalidate_sync_states()  # e.g. the mailbox moved to another database

    get_items = fake.requests["GetItem"]
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)

    assert sink.received == len(made) + 1  # only the new one downloaded again
    assert fake.requests["GetItem"] == get_items + 1  # one chunk: the new message
    assert new_id in sink.messages_by_id
    assert sink.deleted_ids == [deleted]  # found by comparing with what we knew
    assert sink.flags_by_id[marked].seen is False  # flags refreshed on the way
    assert set(items.folders["inbox"]) == set(fake.ids("inbox"))
    assert "inbox#resync-seen" not in items.folders
    assert "resync" not in sink.cursor["folders"]["inbox"]

    # And the fresh state works incrementally afterwards.
    fake.delete(new_id)
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert sink.deleted_ids == [deleted, new_id]


async def test_wrong_password_is_an_auth_error(fake: FakeEws, items: MemoryItemMap, tmp_path: Path):
    connector = make_connector(fake, make_ctx(tmp_path, items), password="wrong")
    with pytest.raises(ProviderAuthError) as caught:
        await run_sync(connector, MemorySink())
    assert "rejected the user name or password" in str(caught.value)
    assert fake.username in str(caught.value)
    assert fake.requests["401"] == 1
    assert not caught.value.retryable


async def test_mailbox_access_denied_or_missing(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    fake.other_mailboxes.add("boss@example.test")
    connector = make_connector(fake, make_ctx(tmp_path, items), email="boss@example.test")
    with pytest.raises(ProviderAuthError) as denied:
        await run_sync(connector, MemorySink())
    assert "denied" in str(denied.value) and "boss@example.test" in str(denied.value)

    connector = make_connector(fake, make_ctx(tmp_path, items), email="nobody@example.test")
    with pytest.raises(ProviderConfigError) as missing:
        await run_sync(connector, MemorySink())
    assert "no mailbox" in str(missing.value)


async def test_server_busy_storm_honours_back_off(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    made = fill(fake)
    fake.queue_server_busy(3, back_off_ms=1500)
    connector = make_connector(fake, make_ctx(tmp_path, items))
    sink = MemorySink()
    await run_sync(connector, sink)
    assert sleeps_of(connector) == [1.5, 1.5, 1.5]
    assert set(sink.messages_by_id) == set(made)

    # An HTTP 503 with Retry-After is honoured too.
    fake.add("inbox", make_message(77, "inbox"))
    fake.queue_http_error(503, {"Retry-After": "7"})
    connector = make_connector(fake, make_ctx(tmp_path, items))
    await run_sync(connector, sink)
    assert sleeps_of(connector) == [7.0]
    assert sink.received == len(made) + 1


async def test_endless_server_busy_gives_up_retryable(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    fill(fake)
    fake.queue_server_busy(EwsConnector.max_busy_retries + 1, back_off_ms=2000)
    connector = make_connector(fake, make_ctx(tmp_path, items))
    with pytest.raises(ProviderError) as caught:
        await run_sync(connector, MemorySink())
    assert type(caught.value) is ProviderError and caught.value.retryable
    assert caught.value.retry_after == 2.0
    assert sleeps_of(connector) == [2.0] * connector.max_busy_retries

    # A back-off longer than we sit out inside a sync is handed to the engine at once.
    fake.queue_server_busy(1, back_off_ms=10 * 60 * 1000)
    connector = make_connector(fake, make_ctx(tmp_path, items))
    with pytest.raises(ProviderError) as caught:
        await run_sync(connector, MemorySink())
    assert caught.value.retry_after == 600.0
    assert sleeps_of(connector) == []


@pytest.mark.parametrize(
    "where",
    [
        {"server": "outlook.office365.com"},
        {"server": "outlook.office.com"},
        {"server": "eur02.mail.outlook.com"},
        {"service_endpoint": "https://contoso.mail.office365.com/EWS/Exchange.asmx"},
        {"service_endpoint": "https://OUTLOOK.OFFICE365.COM./EWS/Exchange.asmx"},
    ],
)
async def test_exchange_online_is_refused_with_graph_hint(
    where: dict[str, str], items: MemoryItemMap, tmp_path: Path
):
    config = EwsSettings(email="a@contoso.com", username="a@contoso.com", **where)
    with pytest.raises(ProviderConfigError) as caught:
        EwsConnector(config, {"password": "pw"}, make_ctx(tmp_path, items))
    message = str(caught.value)
    assert '"graph"' in message
    assert "1 October 2026" in message and "1 April 2027" in message
    assert not caught.value.retryable


def test_exchange_online_host_list() -> None:
    assert is_exchange_online("outlook.office365.com")
    assert is_exchange_online("x.outlook.com")
    assert not is_exchange_online("mail.contoso.com")
    assert not is_exchange_online("notoutlook.com")
    assert not is_exchange_online("outlook.office365.com.evil.example")


async def test_loopback_refused_unless_allowed(fake: FakeEws, items: MemoryItemMap, tmp_path: Path):
    fill(fake)
    connector = make_connector(fake, make_ctx(tmp_path, items, allow_private=False))
    with pytest.raises(ProviderConfigError) as caught:
        await run_sync(connector, MemorySink())
    assert "internal address" in str(caught.value)
    assert sum(fake.requests.values()) == 0  # refused before connecting

    sink = MemorySink()
    await run_sync(make_connector(fake, make_ctx(tmp_path, items, allow_private=True)), sink)
    assert sink.received == 11


async def test_plain_http_needs_an_allowed_internal_host(
    items: MemoryItemMap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async def public(host: str, port: int, allow_private: bool) -> list[str]:
        return ["192.0.2.80" if host == "internal.example" else "93.184.216.34"]

    monkeypatch.setattr(ews_module.net_guard, "resolve_allowed", public)
    config = EwsSettings(
        service_endpoint="http://mail.example.com/EWS/Exchange.asmx", email="a@b.c"
    )
    connector = EwsConnector(config, {"password": "pw"}, make_ctx(tmp_path, items))
    with pytest.raises(ProviderConfigError) as caught:
        await connector.sync({}, MemorySink())
    assert "plain http" in str(caught.value)


async def test_https_pinned_to_the_vetted_address_trusting_the_operator_ca(
    items: MemoryItemMap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    host = "mail.contoso.test"  # .test never resolves: only the pinned address works
    ca, cert, key = make_tls_files(tmp_path, host)
    vetted: list[tuple[str, int]] = []

    async def resolve(name: str, port: int, allow_private: bool) -> list[str]:
        vetted.append((name, port))
        return ["127.0.0.1"]

    monkeypatch.setattr(ews_module.net_guard, "resolve_allowed", resolve)
    with FakeEws(tls=(cert, key), url_host=host) as server:
        data = make_message(1)
        item_id = server.add("inbox", data)
        with pytest.raises(ProviderConfigError) as caught:  # system CAs only
            await run_sync(make_connector(server, make_ctx(tmp_path, items)), MemorySink())
        assert "INBOXHUB_MAIL_TLS_CA_FILE" in str(caught.value)
        assert sum(server.requests.values()) == 0

        sink = MemorySink()
        ctx = make_ctx(tmp_path, items, ca_file=str(ca))
        await run_sync(make_connector(server, ctx), sink)
        assert sink.messages_by_id[item_id].data == data
        assert vetted == [(host, server.port)] * 2


async def test_restart_from_last_checkpoint_repeats_nothing(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    made = fill(fake)

    class Crash(Exception):
        pass

    class CrashingSink(MemorySink):
        crash_after = 2

        async def checkpoint(self, cursor: Cursor) -> None:
            await super().checkpoint(cursor)
            if len(self.cursors) == self.crash_after:
                raise Crash  # the process dies right after a durable checkpoint

    sink = CrashingSink()
    with pytest.raises(Crash):
        await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert 0 < sink.received < len(made)
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink, sink.cursor)
    assert set(sink.messages_by_id) == set(made)
    assert sink.received == len(made)  # nothing handed over twice


async def test_item_deleted_between_sync_and_fetch(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    doomed = fake.add("inbox", make_message(1))
    kept = fake.add("inbox", make_message(2))

    def delete_before_fetch(operation: str) -> None:
        if operation == "GetItem" and doomed in fake.ids("inbox"):
            fake.delete(doomed)  # ErrorItemNotFound for this one

    fake.on_request = delete_before_fetch
    sink = MemorySink()
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert set(sink.messages_by_id) == {kept}
    fake.on_request = None
    await run_sync(make_connector(fake, make_ctx(tmp_path, items)), sink)
    assert set(sink.messages_by_id) == {kept}


async def test_missing_folder_is_a_config_error(
    fake: FakeEws, items: MemoryItemMap, tmp_path: Path
):
    del fake.folders["junkemail"]
    connector = make_connector(fake, make_ctx(tmp_path, items), folders=["inbox", "junkemail"])
    with pytest.raises(ProviderConfigError) as caught:
        await run_sync(connector, MemorySink())
    assert "'junkemail' does not exist" in str(caught.value)


def test_settings_derive_endpoint_and_validate() -> None:
    config = EwsSettings(server="mail.contoso.com", email="a@contoso.com")
    assert config.service_endpoint == "https://mail.contoso.com/EWS/Exchange.asmx"
    assert config.auth_type == "ntlm" and config.folders is None
    assert config.synced_folders == ["inbox", "sentitems", "deleteditems"]
    config = EwsSettings(service_endpoint="https://ex.contoso.com/EWS/Exchange.asmx", email="a@b.c")
    assert config.server == "ex.contoso.com"
    assert frozenset({"password"}) == EwsSettings.SECRET_FIELDS
    for bad in (
        {"email": "a@b.c"},
        {"server": "mail.contoso.com", "email": "a@b.c", "folders": ["calendar"]},
        {"server": "mail.contoso.com", "email": "a@b.c", "version": "Exchange2099"},
        {"server": "https://mail.contoso.com", "email": "a@b.c"},
    ):
        with pytest.raises(ValueError):
            EwsSettings(**bad)


async def test_version_probed_when_not_given(fake: FakeEws, items: MemoryItemMap, tmp_path: Path):
    item_id = fake.add("inbox", make_message(1))
    connector = make_connector(fake, make_ctx(tmp_path, items), version=None)
    sink = MemorySink()
    await run_sync(connector, sink)
    assert set(sink.messages_by_id) == {item_id}
    assert fake.requests["ConvertId"] == 1  # exchangelib's version probe
    assert not fake.unknown_requests


async def test_wait_for_change_polls(fake: FakeEws, items: MemoryItemMap, tmp_path: Path):
    connector = make_connector(fake, make_ctx(tmp_path, items))
    assert await connector.wait_for_change({}, 12.5) is False
    assert sleeps_of(connector) == [12.5]
    await connector.close()
    assert sum(fake.requests.values()) == 0
