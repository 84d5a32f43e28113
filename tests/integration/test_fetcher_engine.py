"""The fetcher's engine on the embedded adapters: mailboxes spread over workers,
taken over when a worker dies, synced into the pipeline, errors shown, not looped."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxhub.domain.ids import email_id
from inboxhub.domain.models import Flags, Mailbox
from inboxhub.domain.search_query import Term
from inboxhub.providers.base import FetchedMessage, FlagChange
from inboxhub.runtime import Container
from inboxhub.services.fetcher.engine import FetcherEngine, owner
from inboxhub.services.fetcher.mailbox_sync import MailboxRunner
from inboxhub.services.fetcher.sink import LeaseLost
from tests.integration.conftest import TENANT, settle
from tests.support.messages import make_message, write_maildir
from tests.support.processes import wait_until


async def local_box(c: Container, name: str, paths: list[Path]) -> Mailbox:
    return await c.directory.create_mailbox(
        TENANT, name, "local", {"paths": [str(p) for p in paths]}, None
    )


async def test_mailboxes_are_spread_over_live_workers_without_overlap(
    container: Container, tmp_path: Path
) -> None:
    boxes = [await local_box(container, f"box{i}", [tmp_path / f"none{i}"]) for i in range(12)]
    a, b = FetcherEngine(container, "worker-a"), FetcherEngine(container, "worker-b")
    try:
        await a.reconcile()  # a alone: it takes everything
        assert len(a.running) == 12
        await b.reconcile()  # b joins; a hands over b's share at its next pass
        await a.reconcile()
        await b.reconcile()
        live = ["worker-a", "worker-b"]
        expected_b = {(x.tenant_id, x.id) for x in boxes if owner(live, TENANT, x.id) == "worker-b"}
        assert 0 < len(expected_b) < 12
        assert set(b.running) == expected_b
        assert set(a.running) == {(x.tenant_id, x.id) for x in boxes} - expected_b
    finally:
        await a.shutdown()
        await b.shutdown()


async def test_a_dead_workers_mailboxes_are_taken_over_after_its_lease(
    container: Container, tmp_path: Path
) -> None:
    container.settings.fetcher_lease_seconds = 1.0
    box = await local_box(container, "inbox", [tmp_path / "missing"])
    dead, heir = FetcherEngine(container, "worker-dead"), FetcherEngine(container, "worker-heir")
    await dead.reconcile()
    assert (TENANT, box.id) in dead.running
    for run in dead.running.values():  # it dies: no release, no goodbye
        run.task.cancel()
    await heir.reconcile()
    assert not heir.running, "the lease of the dead worker still holds"
    await asyncio.sleep(1.2)
    await heir.reconcile()
    try:
        assert (TENANT, box.id) in heir.running
        status = await container.sync.get_status(TENANT, box.id)
        assert status.worker in (None, "worker-heir")
    finally:
        await heir.shutdown()


async def test_new_mail_in_a_watched_archive_becomes_searchable(
    container: Container, tmp_path: Path
) -> None:
    maildir = write_maildir(tmp_path / "md", [make_message("first letter")])
    box = await local_box(container, "archive", [maildir])
    engine = FetcherEngine(container, "worker-1")
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await wait_until(lambda: _count_is(container, box.id, 1))
        (maildir / "new" / "2.eml").write_bytes(make_message("second letter zebra"))
        await wait_until(lambda: _count_is(container, box.id, 2))
        await settle(container)
        hits = await container.search.search(TENANT, Term("zebra"), [box.id], 10)
        assert hits.total == 1
        status = await container.sync.get_status(TENANT, box.id)
        assert status.messages_synced == 2 and status.last_sync_at is not None
    finally:
        stop.set()
        await task
    assert not engine.running  # stopped mailboxes let their leases go
    assert await container.sync.claim(TENANT, box.id, "someone-else", 10)


async def test_a_permanent_error_is_shown_and_not_retried_until_settings_change(
    container: Container, tmp_path: Path
) -> None:
    box = await local_box(container, "broken", [tmp_path / "nowhere"])
    engine = FetcherEngine(container, "worker-1")
    await engine.reconcile()
    try:
        await wait_until(
            lambda: _state(container, box.id, "error"),
        )
        status = await container.sync.get_status(TENANT, box.id)
        assert status.last_error and "does not exist" in status.last_error
        run = engine.running[(TENANT, box.id)]
        await asyncio.sleep(0.5)
        assert not run.task.done(), "the runner parks instead of retrying or exiting"

        maildir = write_maildir(tmp_path / "md", [make_message("fixed")])
        await container.directory.update_mailbox(TENANT, box.id, config={"paths": [str(maildir)]})
        await engine.reconcile()
        assert engine.running[(TENANT, box.id)] is not run
        await wait_until(lambda: _state(container, box.id, "idle"))
        assert (await container.sync.get_status(TENANT, box.id)).last_error is None
    finally:
        await engine.shutdown()


async def _count_is(c: Container, mailbox_id: str, n: int) -> bool:
    return await c.emails.count(TENANT, [mailbox_id]) == n


async def _state(c: Container, mailbox_id: str, state: str) -> bool:
    return (await c.sync.get_status(TENANT, mailbox_id)).state == state


async def test_the_sink_applies_flags_and_deletions_and_guards_the_lease(
    container: Container, tmp_path: Path
) -> None:
    box = await local_box(container, "sinkbox", [])
    assert await container.sync.claim(TENANT, box.id, "worker-1", 30)
    sink = MailboxRunner(container, box, "worker-1").sink()
    raw = make_message("flag me please")
    now = datetime.now(UTC)
    await sink.messages([FetchedMessage("m1", raw, now, labels=("INBOX",))])
    await settle(container)
    eid = email_id(TENANT, box.id, "m1")
    doc = await container.emails.get(TENANT, eid)
    assert doc is not None and doc.labels == ["INBOX"] and not doc.flags.seen

    await sink.flags([FlagChange("m1", Flags(seen=True, flagged=True), ("Archive",))])
    doc = await container.emails.get(TENANT, eid)
    assert doc is not None and doc.flags == Flags(seen=True, flagged=True)
    assert doc.labels == ["Archive"]

    await sink.deleted(["m1"])
    await settle(container)
    assert await container.emails.get(TENANT, eid) is None
    assert (await container.search.search(TENANT, Term("flag"), [box.id], 10)).total == 0

    await sink.checkpoint({"at": 1})
    assert await container.directory.get_sync_state(TENANT, box.id) == {"at": 1}
    await container.sync.release(TENANT, box.id, "worker-1")
    assert await container.sync.claim(TENANT, box.id, "worker-2", 30)
    with pytest.raises(LeaseLost):
        await sink.checkpoint({"at": 2})


async def test_secrets_are_sealed_and_refreshed_tokens_saved(container: Container) -> None:
    from inboxhub.services.fetcher.mailbox_sync import load_secrets, seal_secrets

    sealed = seal_secrets(container, {"password": "hunter2"})
    assert b"hunter2" not in sealed
    box = await container.directory.create_mailbox(TENANT, "sealed", "imap", {}, sealed)
    stored = await container.directory.get_mailbox_credentials(TENANT, box.id)
    assert stored is not None and b"hunter2" not in stored
    assert await load_secrets(container, TENANT, box.id) == {"password": "hunter2"}
    await container.directory.set_mailbox_credentials(
        TENANT, box.id, seal_secrets(container, {"password": "new"})
    )
    assert json.dumps(await load_secrets(container, TENANT, box.id)) == '{"password": "new"}'
