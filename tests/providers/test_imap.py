"""The IMAP connector against a real Dovecot 2.3 (tests/support/servers/dovecot.py).

Every test has its own Dovecot user, so no two tests share a mailbox. "Another
client" (flag changes, expunges, new mail) is ``imaplib`` through the harness."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import Flags
from inboxhub.providers import imap as imap_module
from inboxhub.providers.base import (
    ConnectorContext,
    FetchedMessage,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
)
from inboxhub.providers.imap import ImapConnector, ImapSettings
from inboxhub.providers.imap_write import trash_folder
from inboxhub.settings import Settings
from tests.support.messages import make_message
from tests.support.processes import free_port
from tests.support.servers.dovecot import Dovecot
from tests.support.sync_memory import MemoryItemMap, MemorySink, SavedSecrets

WHEN = datetime(2024, 3, 5, 9, 30, 15, tzinfo=UTC)


def pmid(folder: str, raw: bytes) -> str:
    return f"{folder}:{hashlib.sha256(raw).hexdigest()}"


class Mailbox:
    """One Dovecot user and how to build connectors for it."""

    def __init__(self, dovecot: Dovecot, tmp_path: Path, notify: bool = True) -> None:
        self.dovecot = dovecot
        self.user, self.password = dovecot.new_user(notify=notify)
        self.items = MemoryItemMap()
        self.tmp_path = tmp_path
        self.connectors: list[ImapConnector] = []

    def connector(
        self,
        folders: Sequence[str] | None = ("INBOX", "Sent"),
        *,
        security: str = "none",
        host: str = "127.0.0.1",
        allow_private: bool = True,
        ca_file: str = "",
        password: str | None = None,
        token: str | None = None,
        ignore: Sequence[str] = (),
        **app: Any,
    ) -> ImapConnector:
        port = self.dovecot.imaps_port if security == "ssl" else self.dovecot.imap_port
        secrets = {"oauth2_token": token} if token else {"password": password or self.password}
        config = ImapSettings(
            host=host,
            port=port,
            security=security,  # type: ignore[arg-type]
            username=self.user,
            folders=None if folders is None else list(folders),
            **secrets,
        )
        settings = Settings(
            data_dir=self.tmp_path,
            secret_key="x",
            allow_private_mail_hosts=allow_private,
            mail_tls_ca_file=ca_file,
            **app,
        )
        ctx = ConnectorContext("t1", "m1", settings, self.items, SavedSecrets())
        connector = ImapConnector(config, secrets, ctx)
        connector.ignore_extensions = set(ignore)
        self.connectors.append(connector)
        return connector

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = (), when: Any = None) -> int:
        return self.dovecot.append(self.user, folder, raw, flags, when)

    async def close(self) -> None:
        for c in self.connectors:
            await c.close()


@pytest.fixture
async def box(dovecot: Dovecot, tmp_path: Path) -> AsyncIterator[Mailbox]:
    mailbox = Mailbox(dovecot, tmp_path)
    yield mailbox
    await mailbox.close()


def msg(subject: str) -> bytes:
    """A message with CRLF line ends, as IMAP carries it (so bytes compare exactly)."""
    return make_message(subject, text=f"Body of {subject}.\n").replace(b"\n", b"\r\n")


# -- first and incremental sync --------------------------------------------------------


async def test_first_sync_of_inbox_sent_and_a_custom_folder(box: Mailbox) -> None:
    box.dovecot.create_folder(box.user, "Projects/Q3 Plän")
    inbox = [msg("in one"), msg("in two")]
    sent, custom = msg("sent one"), msg("custom one")
    box.append("INBOX", inbox[0], [r"\Seen"], WHEN)
    box.append("INBOX", inbox[1], [], WHEN)
    box.append("Sent", sent, [r"\Seen", r"\Flagged"], WHEN)
    box.append("Projects/Q3 Plän", custom, [r"\Flagged"], WHEN)
    sink = MemorySink()

    cursor = await box.connector(["INBOX", "Sent", "Projects/Q3 Plän"]).sync({}, sink)

    expected = {
        pmid("INBOX", inbox[0]): (inbox[0], Flags(seen=True), "INBOX"),
        pmid("INBOX", inbox[1]): (inbox[1], Flags(), "INBOX"),
        pmid("Sent", sent): (sent, Flags(seen=True, flagged=True), "Sent"),
        pmid("Projects/Q3 Plän", custom): (custom, Flags(flagged=True), "Projects/Q3 Plän"),
    }
    assert set(sink.messages_by_id) == set(expected)
    for key, (raw, flags, folder) in expected.items():
        m: FetchedMessage = sink.messages_by_id[key]
        assert m.data == raw  # exact bytes
        assert m.sha256 == hashlib.sha256(raw).hexdigest()
        assert m.flags == flags
        assert m.labels == (folder,)
        assert m.received_at == WHEN
    assert set(cursor["folders"]) == {"INBOX", "Sent", "Projects/Q3 Plän"}
    assert cursor["folders"]["INBOX"]["uid"] == 2
    assert sink.cursor == cursor
    assert len(box.items.folders["INBOX"]) == 2


async def test_incremental_sync_fetches_only_new_mail(box: Mailbox) -> None:
    first = [msg(f"old {i}") for i in range(3)]
    for raw in first:
        box.append("INBOX", raw)
    connector = box.connector()
    cursor = await connector.sync({}, MemorySink())
    new = msg("new one")
    box.append("INBOX", new)
    box.append("Sent", msg("new sent"))

    sink = MemorySink()
    cursor = await connector.sync(cursor, sink)

    assert sink.received == 2
    assert pmid("INBOX", new) in sink.messages_by_id
    assert not sink.deleted_ids
    again = MemorySink()
    await connector.sync(cursor, again)
    assert again.received == 0 and not again.deleted_ids and not again.flags_by_id


# -- flags and deletions ---------------------------------------------------------------


@pytest.mark.parametrize(
    "ignore",
    [(), ("QRESYNC",), ("QRESYNC", "CONDSTORE")],
    ids=["qresync", "condstore", "snapshot"],
)
async def test_flag_changes_and_deletions_by_another_client(
    box: Mailbox, ignore: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[bytes] = []
    real_command = imap_module.ImapConnection.command

    async def spy(self: Any, command: bytes | str, *args: Any) -> Any:
        sent.append(command.encode() if isinstance(command, str) else command)
        return await real_command(self, command, *args)

    monkeypatch.setattr(imap_module.ImapConnection, "command", spy)
    raws = [msg(f"m{i}") for i in range(4)]
    uids = [box.append("INBOX", raw, [r"\Seen"] if i == 3 else []) for i, raw in enumerate(raws)]
    connector = box.connector(["INBOX"], ignore=ignore)
    sink = MemorySink()
    cursor = await connector.sync({}, sink)

    box.dovecot.store(box.user, "INBOX", uids[0], "+FLAGS", [r"\Seen"])
    box.dovecot.store(box.user, "INBOX", uids[1], "+FLAGS", [r"\Flagged", r"\Seen"])
    box.dovecot.store(box.user, "INBOX", uids[3], "-FLAGS", [r"\Seen"])
    box.dovecot.expunge(box.user, "INBOX", [uids[2]])
    cursor = await connector.sync(cursor, sink)

    assert sink.flags_by_id[pmid("INBOX", raws[0])] == Flags(seen=True)
    assert sink.flags_by_id[pmid("INBOX", raws[1])] == Flags(seen=True, flagged=True)
    assert sink.flags_by_id[pmid("INBOX", raws[3])] == Flags()
    assert sink.deleted_ids == [pmid("INBOX", raws[2])]
    assert (
        f"{cursor['folders']['INBOX']['uidvalidity']}.{uids[2]}" not in box.items.folders["INBOX"]
    )

    box.dovecot.store(box.user, "INBOX", uids[1], "-FLAGS", [r"\Flagged"])
    await connector.sync(cursor, sink)
    assert sink.flags_by_id[pmid("INBOX", raws[1])] == Flags(seen=True)
    assert sink.deleted_ids == [pmid("INBOX", raws[2])]  # nothing more
    used = b"\n".join(sent)
    assert (b"(QRESYNC (" in used) == (not ignore)  # the path under test was taken
    assert (b"CHANGEDSINCE" in used) == (ignore == ("QRESYNC",))


# -- the trash ----------------------------------------------------------------------------


async def test_a_message_moved_to_the_trash_reappears_there_labelled_trash(box: Mailbox) -> None:
    raw, kept = msg("to be trashed"), msg("stays")
    uid = box.append("INBOX", raw, [r"\Seen"])
    box.append("INBOX", kept)
    connector = box.connector(None)  # the default folders
    sink = MemorySink()
    cursor = await connector.sync({}, sink)
    assert set(cursor["folders"]) == {"INBOX", "Sent", "Trash"}
    assert sink.labels_by_id[pmid("INBOX", raw)] == ("INBOX",)

    box.dovecot.move(box.user, "INBOX", uid, "Trash")  # another client trashes it
    cursor = await connector.sync(cursor, sink)

    trashed = pmid("Trash", raw)  # a new id: IMAP ids are folder + hash
    assert sink.messages_by_id[trashed].data == raw
    assert sink.labels_by_id[trashed] == ("Trash",) and in_trash(sink.labels_by_id[trashed])
    assert sink.flags_by_id[trashed] == Flags(seen=True)
    assert sink.deleted_ids == [pmid("INBOX", raw)]  # its INBOX copy, and nothing else
    assert sink.labels_by_id[pmid("INBOX", kept)] == ("INBOX",)
    again = MemorySink()
    await connector.sync(cursor, again)
    assert again.received == 0 and not again.deleted_ids


async def test_configured_folders_leave_the_trash_out(box: Mailbox) -> None:
    raw = msg("to be trashed")
    uid = box.append("INBOX", raw)
    connector = box.connector(["INBOX", "Sent"])
    sink = MemorySink()
    cursor = await connector.sync({}, sink)
    assert set(cursor["folders"]) == {"INBOX", "Sent"}
    box.dovecot.move(box.user, "INBOX", uid, "Trash")
    await connector.sync(cursor, sink)
    assert sink.deleted_ids == [pmid("INBOX", raw)] and not sink.messages_by_id


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        ({"INBOX": set(), "Deleted Messages": {"\\trash"}, "Trash": set()}, "Deleted Messages"),
        ({"INBOX": set(), "trash": set()}, "trash"),
        ({"INBOX": set(), "Bin": {"\\trash", "\\noselect"}}, None),
        ({"INBOX": set(), "Sent": {"\\sent"}}, None),
    ],
)
def test_the_trash_is_the_special_use_folder_else_one_named_trash(
    listing: dict[str, set[str]], expected: str | None
) -> None:
    assert trash_folder(listing) == expected


# -- UIDVALIDITY --------------------------------------------------------------------------


async def test_uidvalidity_change_resyncs_without_duplicates(box: Mailbox) -> None:
    box.dovecot.create_folder(box.user, "Archive 2023")
    raws = [msg(f"archived {i}") for i in range(4)]
    for raw in raws:
        box.append("Archive 2023", raw)
    connector = box.connector(["INBOX", "Archive 2023"])
    sink = MemorySink()
    cursor = await connector.sync({}, sink)
    before = cursor["folders"]["Archive 2023"]["uidvalidity"]

    # The folder comes back (e.g. a restore) without raws[1]: new UIDVALIDITY, new UIDs.
    box.dovecot.recreate_folder(box.user, "Archive 2023", keep=lambda raw: raw != raws[1])
    new = msg("arrived after")
    box.append("Archive 2023", new)
    received = sink.received
    cursor = await connector.sync(cursor, sink)

    state = cursor["folders"]["Archive 2023"]
    assert state["uidvalidity"] != before and state["stale"] == []
    assert sink.deleted_ids == [pmid("Archive 2023", raws[1])]
    wanted = {pmid("Archive 2023", r) for r in (raws[0], raws[2], raws[3], new)}
    assert set(sink.messages_by_id) == wanted  # same ids as before: nothing duplicated
    assert sink.received - received == 4  # the whole folder again; the sink skips known ones
    refs = box.items.folders["Archive 2023"]
    assert len(refs) == 4 and all(r.startswith(f"{state['uidvalidity']}.") for r in refs)


async def test_uidvalidity_set_by_doveadm_changes_nothing_visible(box: Mailbox) -> None:
    raws = [msg(f"inbox {i}") for i in range(3)]
    for raw in raws:
        box.append("INBOX", raw)
    connector = box.connector(["INBOX"])
    sink = MemorySink()
    cursor = await connector.sync({}, sink)
    box.dovecot.set_uidvalidity(box.user, "INBOX", cursor["folders"]["INBOX"]["uidvalidity"] + 7)

    cursor = await connector.sync(cursor, sink)

    assert set(sink.messages_by_id) == {pmid("INBOX", r) for r in raws}
    assert sink.deleted_ids == []
    assert len(box.items.folders["INBOX"]) == 3


# -- push ------------------------------------------------------------------------------


async def _changed_after_append(box: Mailbox, connector: ImapConnector, folder: str) -> bool:
    cursor = await connector.sync({}, MemorySink())
    # Nothing changed since the sync: the watch times out (no timing asserted).
    assert await connector.wait_for_change(cursor, 0.3) is False
    waiting = asyncio.create_task(connector.wait_for_change(cursor, 30))
    await asyncio.sleep(0.2)  # let the watch start waiting (it would also catch up)
    await asyncio.to_thread(box.append, folder, msg(f"pushed to {folder}"))
    changed = await waiting
    sink = MemorySink()
    await connector.sync(cursor, sink)
    assert sink.received == 1
    return changed


async def test_wait_for_change_over_notify_sees_mail_in_sent(box: Mailbox) -> None:
    with box.dovecot.client(box.user) as imap:
        assert b"NOTIFY" in imap.capability()[1][0]
    connector = box.connector(["INBOX", "Sent"])
    assert await _changed_after_append(box, connector, "Sent") is True
    assert connector._watch is not None and len(connector._watch.conns) == 1
    assert not connector._watch.dead  # told by the server, not by a dropped connection
    # A sync (as the engine runs after a True) does not itself wake the watch up.
    cursor = await connector.sync({}, MemorySink())
    assert await connector.wait_for_change(cursor, 0.5) is False


async def test_wait_for_change_over_idle_without_notify(dovecot: Dovecot, tmp_path: Path) -> None:
    box = Mailbox(dovecot, tmp_path, notify=False)  # this user is not offered NOTIFY
    try:
        dovecot.create_folder(box.user, "Receipts")
        connector = box.connector(["INBOX", "Sent", "Receipts"])
        assert await _changed_after_append(box, connector, "Receipts") is True
        assert connector._watch is not None and len(connector._watch.conns) == 3
        assert not connector._watch.dead
    finally:
        await box.close()


async def test_idle_connections_are_capped(box: Mailbox) -> None:
    connector = box.connector(["INBOX", "Sent"], ignore=["NOTIFY"], imap_max_idle_connections=1)
    assert await _changed_after_append(box, connector, "INBOX") is True
    assert connector._watch is not None and len(connector._watch.conns) == 1


async def test_watch_catches_mail_that_arrived_before_it_started(box: Mailbox) -> None:
    connector = box.connector(["INBOX", "Sent"])
    cursor = await connector.sync({}, MemorySink())
    box.append("Sent", msg("between sync and watch"))
    assert await connector.wait_for_change(cursor, 10) is True


# -- authentication and transport ----------------------------------------------------------


async def test_wrong_password_is_an_auth_error(box: Mailbox) -> None:
    connector = box.connector(password="not-the-password")
    with pytest.raises(ProviderAuthError) as err:
        await connector.sync({}, MemorySink())
    assert box.user in str(err.value) and "127.0.0.1" in str(err.value)


async def test_xoauth2_login(box: Mailbox) -> None:
    box.dovecot.add_token(box.user, "good-token-" + box.user)
    raw = msg("via oauth")
    box.append("INBOX", raw)
    sink = MemorySink()
    await box.connector(["INBOX"], token="good-token-" + box.user).sync({}, sink)
    assert pmid("INBOX", raw) in sink.messages_by_id

    with pytest.raises(ProviderAuthError):
        await box.connector(["INBOX"], token="revoked").sync({}, MemorySink())


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_tls_with_the_servers_ca(box: Mailbox, security: str) -> None:
    raw = msg(f"over {security}")
    box.append("INBOX", raw)
    sink = MemorySink()
    ca = str(box.dovecot.ca_file)
    await box.connector(["INBOX"], security=security, host="localhost", ca_file=ca).sync({}, sink)
    assert sink.messages_by_id[pmid("INBOX", raw)].data == raw

    untrusted = box.connector(["INBOX"], security=security, host="localhost")
    with pytest.raises(ProviderError, match="not trusted"):
        await untrusted.sync({}, MemorySink())


# -- settings -------------------------------------------------------------------------------


async def test_a_folder_that_does_not_exist_is_a_config_error(box: Mailbox) -> None:
    with pytest.raises(ProviderConfigError, match="Nonexistent Folder"):
        await box.connector(["INBOX", "Nonexistent Folder"]).sync({}, MemorySink())


async def test_sent_resolves_by_special_use(dovecot: Dovecot, box: Mailbox) -> None:
    raw = msg("sent item")
    box.append("Sent", raw)
    sink = MemorySink()
    await box.connector(["Sent Items"]).sync({}, sink)  # Outlook's name: → the \Sent folder
    assert list(sink.messages_by_id) == [pmid("Sent", raw)]


async def test_private_hosts_are_refused_unless_allowed(
    box: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = imap_module.ImapConnection.open

    async def spy(*args: Any, **kwargs: Any) -> Any:
        opened.append(args[0])
        return await real_open(*args, **kwargs)

    monkeypatch.setattr(imap_module.ImapConnection, "open", spy)
    with pytest.raises(ProviderConfigError, match="internal address"):
        await box.connector(allow_private=False).sync({}, MemorySink())
    assert opened == []  # refused before any connection

    raw = msg("allowed")
    box.append("INBOX", raw)
    sink = MemorySink()
    await box.connector(allow_private=True).sync({}, sink)
    assert opened and pmid("INBOX", raw) in sink.messages_by_id


def test_settings_need_exactly_one_secret() -> None:
    with pytest.raises(ValidationError):
        ImapSettings(host="imap.example.com", username="u")
    with pytest.raises(ValidationError):
        ImapSettings(host="imap.example.com", username="u", password="p", oauth2_token="t")
    s = ImapSettings(host="imap.example.com", username="u", password="p")
    assert (s.port, s.security, s.folders) == (993, "ssl", None)  # None: the defaults
    assert {"password", "oauth2_token"} == ImapSettings.SECRET_FIELDS
    plain = ImapSettings(host="h", username="u", oauth2_token="t", security="starttls")
    assert plain.port == 143


# -- crash and restart ----------------------------------------------------------------------


class CrashingSink(MemorySink):
    """Stores the first ``after`` batches, then dies as a process would."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    async def messages(self, batch: Sequence[FetchedMessage]) -> None:
        if self.batches >= self.after:
            raise RuntimeError("crash")
        await super().messages(batch)


async def test_restart_from_the_last_checkpoint_loses_and_repeats_nothing(box: Mailbox) -> None:
    raws = [msg(f"bulk {i}") for i in range(2 * imap_module.BATCH_MESSAGES + 50)]
    box.dovecot.bulk_load(box.user, "INBOX", raws, flags="S")
    crashing = CrashingSink(after=1)
    with pytest.raises(RuntimeError, match="crash"):
        await box.connector(["INBOX"]).sync({}, crashing)
    assert crashing.received == imap_module.BATCH_MESSAGES
    checkpoint = crashing.cursor
    assert checkpoint["folders"]["INBOX"]["uid"] == imap_module.BATCH_MESSAGES

    sink = MemorySink()
    await box.connector(["INBOX"]).sync(checkpoint, sink)  # a new process, same ItemMap

    assert sink.received == len(raws) - imap_module.BATCH_MESSAGES  # nothing again
    assert set(crashing.messages_by_id) | set(sink.messages_by_id) == {
        pmid("INBOX", r) for r in raws
    }
    assert all(m.flags == Flags(seen=True) for m in sink.messages_by_id.values())
    assert len(box.items.folders["INBOX"]) == len(raws)


async def test_a_message_the_server_cannot_deliver_is_skipped_not_fatal(box: Mailbox) -> None:
    """Dovecot drops the connection when it cannot read a message file. The folder
    retries, narrows the failing fetch down to the one message, skips it after a few
    attempts (listed in the cursor), and delivers everything around it."""
    raws = [msg(f"around {i}") for i in range(5)]
    for raw in raws:
        box.append("INBOX", raw)
    files = [
        p
        for sub in ("cur", "new")
        for p in (box.dovecot.maildir(box.user, "INBOX") / sub).iterdir()
    ]
    assert len(files) == 5
    # Found by content: Maildir names do not sort in delivery order (unpadded usecs).
    (third,) = [p for p in files if b"Subject: around 2" in p.read_bytes()]
    os.chmod(third, 0)  # unreadable for Dovecot's mail processes
    sink, cursor, failures = MemorySink(), {}, []
    for _ in range(10):  # the engine's retries, without their backoff
        try:
            cursor = await box.connector(["INBOX"]).sync(cursor, sink)
            break
        except ProviderError as exc:
            cursor = sink.cursor
            failures.append((str(exc), cursor["folders"]["INBOX"].get("failing")))
    else:
        pytest.fail(f"the folder never got past the unreadable message: {failures}")
    # The whole chunk fails twice, then the message alone until it is skipped (Dovecot
    # now and then refuses one more fetch after such an error: hence the range).
    assert 2 + imap_module.MAX_FETCH_ATTEMPTS <= len(failures) <= 8, failures
    delivered = set(sink.messages_by_id)
    assert delivered == {pmid("INBOX", r) for i, r in enumerate(raws) if i != 2}
    assert cursor["folders"]["INBOX"]["skipped"] == [3]
    assert "failing" not in cursor["folders"]["INBOX"]
    later = msg("after the bad one")
    box.append("INBOX", later)
    await box.connector(["INBOX"]).sync(cursor, sink)
    assert pmid("INBOX", later) in sink.messages_by_id


@pytest.mark.parametrize("ignore", [(), ("NOTIFY",)], ids=["notify", "idle"])
async def test_wait_for_change_sees_flag_changes_and_expunges(
    box: Mailbox, ignore: tuple[str, ...]
) -> None:
    uid = box.append("Sent", msg("to be flagged"))
    gone = box.append("Sent", msg("to be expunged"))
    connector = box.connector(["INBOX", "Sent"], ignore=ignore)
    cursor = await connector.sync({}, MemorySink())
    assert await connector.wait_for_change(cursor, 0.3) is False

    waiting = asyncio.create_task(connector.wait_for_change(cursor, 30))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(box.dovecot.store, box.user, "Sent", uid, "+FLAGS", [r"\Flagged"])
    assert await waiting is True

    assert await connector.wait_for_change(cursor, 0.3) is False  # nothing new meanwhile
    waiting = asyncio.create_task(connector.wait_for_change(cursor, 30))
    await asyncio.sleep(0.2)
    await asyncio.to_thread(box.dovecot.expunge, box.user, "Sent", [gone])
    assert await waiting is True


async def test_lost_connections_are_replaced(box: Mailbox) -> None:
    connector = box.connector(["INBOX", "Sent"])
    cursor = await connector.sync({}, MemorySink())
    assert await connector.wait_for_change(cursor, 0.2) is False
    assert connector._watch is not None and connector._conn is not None
    connector._watch.conns[0].writer.transport.abort()  # as if the network dropped it
    assert await connector.wait_for_change(cursor, 10) is True  # sync to find out
    connector._conn.writer.transport.abort()

    raw = msg("after reconnecting")
    box.append("INBOX", raw)
    sink = MemorySink()
    cursor = await connector.sync(cursor, sink)  # a new sync connection
    assert list(sink.messages_by_id) == [pmid("INBOX", raw)]
    assert await connector.wait_for_change(cursor, 0.2) is False  # a new watch
    assert connector._watch is not None and not connector._watch.dead


async def test_an_unreachable_server_is_a_retryable_error(box: Mailbox) -> None:
    connector = box.connector(["INBOX"])
    connector.port = free_port()  # nothing listens there
    with pytest.raises(ProviderError, match="cannot connect") as err:
        await connector.sync({}, MemorySink())
    assert err.value.retryable
