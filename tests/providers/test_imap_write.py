"""Users' changes made on a real Dovecot by the IMAP connector (``imap_write``): flags,
folders as labels, trash, untrash and delete; what the server holds afterwards is
read back through the harness's own ``imaplib`` session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers import imap_conn
from inboxhub.providers.base import FlagChange, Outcome, ProviderError, Writable
from inboxhub.providers.imap_write import placed_key
from tests.providers.test_imap import Mailbox, msg, pmid
from tests.support.servers.dovecot import Dovecot
from tests.support.sync_memory import MemorySink


@pytest.fixture
async def box(dovecot: Dovecot, tmp_path: Path) -> AsyncIterator[Mailbox]:
    mailbox = Mailbox(dovecot, tmp_path)
    yield mailbox
    await mailbox.close()


@dataclass
class FlagSpy(MemorySink):
    """Every flag change reported, known message or not."""

    reported: list[FlagChange] = field(default_factory=list)

    async def flags(self, changes: Sequence[FlagChange]) -> None:
        self.reported.extend(changes)
        await super().flags(changes)


def change(raw: bytes, folder: str = "INBOX", **fields: Any) -> MailChange:
    fields.setdefault("labels", [folder])
    return MailChange(email_id="e1", provider_message_id=pmid(folder, raw), **fields)


async def synced(box: Mailbox, *raws: bytes, folders: Sequence[str] = ("INBOX",)) -> Any:
    """A connector that has synced INBOX holding ``raws`` (appended unseen)."""
    for raw in raws:
        box.append("INBOX", raw)
    connector = box.connector(list(folders))
    sink = MemorySink()
    cursor = await connector.sync({}, sink)
    return connector, sink, cursor


async def test_the_imap_connector_is_writable(box: Mailbox) -> None:
    assert isinstance(box.connector(), Writable)


@pytest.mark.parametrize("ignore", [(), ("QRESYNC", "CONDSTORE")], ids=["condstore", "plain"])
async def test_flags_are_stored_and_the_next_sync_reports_nothing_back(
    box: Mailbox, ignore: tuple[str, ...]
) -> None:
    raws = [msg("read me"), msg("star me")]
    for raw in raws:
        box.append("INBOX", raw)
    connector = box.connector(["INBOX"], ignore=ignore)
    cursor = await connector.sync({}, MemorySink())
    uids = box.dovecot.uids(box.user, "INBOX")

    results = await connector.apply(
        [
            change(raws[0], flags=Flags(seen=True)),
            change(raws[1], flags=Flags(seen=False, flagged=True)),
        ]
    )

    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    on_server = box.dovecot.flags(box.user, "INBOX")
    assert on_server[uids[0]] == {"\\Seen"}
    assert on_server[uids[1]] == {"\\Flagged"}
    again = FlagSpy()
    await connector.sync(cursor, again)
    assert again.reported == [] and again.deleted_ids == [], "no flip-flop"


async def test_only_the_flags_the_user_changed_are_written(box: Mailbox) -> None:
    raw = msg("both flags")
    connector, _, _ = await synced(box, raw)
    [uid] = box.dovecot.uids(box.user, "INBOX")
    # Another client flags it; the user, who has not seen that yet, marks it read.
    box.dovecot.store(box.user, "INBOX", uid, "+FLAGS", [r"\Flagged"])

    [result] = await connector.apply([change(raw, flags=Flags(seen=True, flagged=False))])

    assert result.outcome is Outcome.APPLIED
    assert box.dovecot.flags(box.user, "INBOX")[uid] == {"\\Seen", "\\Flagged"}


async def test_a_label_is_a_copy_into_that_folder_and_removing_it_expunges_the_copy(
    box: Mailbox,
) -> None:
    box.dovecot.create_folder(box.user, "Work")
    raw = msg("file me")
    connector, _, _ = await synced(box, raw)

    results = await connector.apply(
        [change(raw, add_labels=["Work"]), change(raw, add_labels=["work"])]
    )

    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    assert box.dovecot.bodies(box.user, "Work") == [raw], "copied once, the repeat is a no-op"
    assert box.dovecot.bodies(box.user, "INBOX") == [raw]
    [result] = await connector.apply(
        [change(raw, labels=["INBOX", "Work"], remove_labels=["Work"])]
    )
    assert result.outcome is Outcome.APPLIED
    assert box.dovecot.uids(box.user, "Work") == []
    assert box.dovecot.bodies(box.user, "INBOX") == [raw]
    assert not box.items.folders.get(placed_key("Work"))


async def test_a_missing_folder_is_not_created(box: Mailbox) -> None:
    raw = msg("nowhere to go")
    connector, _, _ = await synced(box, raw)
    [result] = await connector.apply(
        [change(raw, add_labels=["No Such Folder"], flags=Flags(seen=True))]
    )
    assert result.outcome is Outcome.APPLIED and "No Such Folder" in result.detail
    folders = box.dovecot.flags(box.user, "INBOX")
    assert list(folders.values()) == [{"\\Seen"}], "the rest of the change was made"


async def test_moving_to_another_folder_is_add_plus_remove(box: Mailbox) -> None:
    box.dovecot.create_folder(box.user, "Archive")
    raw = msg("archive me")
    connector, _, cursor = await synced(box, raw)

    [result] = await connector.apply([change(raw, add_labels=["Archive"], remove_labels=["INBOX"])])

    assert result.outcome is Outcome.APPLIED
    assert box.dovecot.uids(box.user, "INBOX") == []
    assert box.dovecot.bodies(box.user, "Archive") == [raw]
    sink = MemorySink()
    await connector.sync(cursor, sink)
    assert sink.deleted_ids == [pmid("INBOX", raw)]  # it left the synced folder


@pytest.mark.parametrize("ignore", [(), ("MOVE",)], ids=["move", "copy-expunge"])
async def test_trash_moves_to_the_special_use_trash_and_untrash_moves_back(
    box: Mailbox, ignore: tuple[str, ...]
) -> None:
    raw, other = msg("trash me"), msg("keep me")
    for r in (raw, other):
        box.append("INBOX", r)
    connector = box.connector(["INBOX"], ignore=ignore)
    await connector.sync({}, MemorySink())

    [trashed] = await connector.apply([change(raw, trash=True)])

    assert trashed.outcome is Outcome.APPLIED
    assert box.dovecot.bodies(box.user, "INBOX") == [other]
    assert box.dovecot.bodies(box.user, "Trash") == [raw]
    [untrashed] = await connector.apply([change(raw, labels=["INBOX", "Trash"], untrash=True)])
    assert untrashed.outcome is Outcome.APPLIED
    assert box.dovecot.uids(box.user, "Trash") == []
    assert sorted(box.dovecot.bodies(box.user, "INBOX")) == sorted([raw, other])


async def test_delete_expunges_from_the_folder_and_from_the_trash(box: Mailbox) -> None:
    box.dovecot.create_folder(box.user, "Work")
    raw, trashed_first = msg("delete me"), msg("trash then delete")
    connector, _, cursor = await synced(box, raw, trashed_first)
    await connector.apply([change(raw, add_labels=["Work"]), change(trashed_first, trash=True)])

    results = await connector.apply(
        [
            change(raw, labels=["INBOX", "Work"], delete=True),
            change(trashed_first, delete=True),
        ]
    )

    assert [r.outcome for r in results] == [Outcome.APPLIED, Outcome.APPLIED]
    for folder in ("INBOX", "Work", "Trash"):
        assert box.dovecot.uids(box.user, folder) == [], folder
    sink = MemorySink()
    await connector.sync(cursor, sink)
    assert sorted(sink.deleted_ids) == sorted([pmid("INBOX", raw), pmid("INBOX", trashed_first)])


async def test_changes_to_messages_that_are_gone_are_refused_not_retried(box: Mailbox) -> None:
    raw, kept = msg("gone soon"), msg("still here")
    connector, _, _ = await synced(box, raw, kept)
    uids = box.dovecot.uids(box.user, "INBOX")
    box.dovecot.expunge(box.user, "INBOX", uids[:1])  # another client deleted it

    results = await connector.apply(
        [
            change(raw, flags=Flags(seen=True)),
            change(raw, delete=True),
            change(kept, flags=Flags(flagged=True)),
            MailChange(email_id="x", provider_message_id="not-an-imap-id", trash=True),
        ]
    )

    outcomes = [r.outcome for r in results]
    assert outcomes == [Outcome.REFUSED, Outcome.REFUSED, Outcome.APPLIED, Outcome.REFUSED]
    assert box.dovecot.flags(box.user, "INBOX")[uids[1]] == {"\\Flagged"}


async def test_a_transient_failure_fails_the_change_and_skips_the_rest(
    box: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [msg("first"), msg("second")]
    connector, _, _ = await synced(box, *raws)
    real_check = imap_conn.ImapConnection.check
    failures = [ProviderError("127.0.0.1: connection lost: EOFError()")]

    async def flaky(self: Any, command: bytes | str, *args: Any) -> Any:
        text = command if isinstance(command, str) else command.decode()
        if text.startswith("UID STORE") and failures:
            self.broken = True
            raise failures.pop()
        return await real_check(self, command, *args)

    monkeypatch.setattr(imap_conn.ImapConnection, "check", flaky)
    changes = [change(r, flags=Flags(seen=True)) for r in raws]

    results = await connector.apply(changes)

    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.SKIPPED]
    assert "connection lost" in results[0].detail and not results[0].done
    assert all(flags == set() for flags in box.dovecot.flags(box.user, "INBOX").values())
    again = await connector.apply(changes)
    assert [r.outcome for r in again] == [Outcome.APPLIED, Outcome.APPLIED], "reconnected"
    assert all(f == {"\\Seen"} for f in box.dovecot.flags(box.user, "INBOX").values())


async def test_sync_after_apply_of_a_synced_label_folder(box: Mailbox) -> None:
    """A copy into a synced folder is a message of that folder, as IMAP shows it."""
    box.dovecot.create_folder(box.user, "Work")
    raw = msg("in two folders")
    connector, _, cursor = await synced(box, raw, folders=("INBOX", "Work"))
    await connector.apply([change(raw, add_labels=["Work"])])
    sink = MemorySink()
    await connector.sync(cursor, sink)
    assert set(sink.messages_by_id) == {pmid("Work", raw)}
    assert sink.labels_by_id[pmid("Work", raw)] == ("Work",)
    again = await connector.apply([change(raw, folder="Work", remove_labels=["Work"])])
    assert again[0].outcome is Outcome.APPLIED
    assert box.dovecot.uids(box.user, "Work") == []


async def test_untrash_of_a_message_synced_from_the_trash(box: Mailbox) -> None:
    raw = msg("found in the trash")
    box.append("Trash", raw)
    connector = box.connector(["INBOX", "Trash"])
    await connector.sync({}, MemorySink())
    [result] = await connector.apply([change(raw, folder="Trash", untrash=True)])
    assert result.outcome is Outcome.APPLIED
    assert box.dovecot.uids(box.user, "Trash") == []
    assert box.dovecot.bodies(box.user, "INBOX") == [raw]
