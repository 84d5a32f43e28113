"""Users' changes reach the provider: an outbox entry put through the ``SyncStore`` is
applied by a running ``FetcherEngine`` on a real Dovecot mailbox, promptly, and the
syncs around it keep the user's state (no flip-flop)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxhub.domain.ids import email_id
from inboxhub.domain.models import Flags, Mailbox, MailChange
from inboxhub.providers.base import ConnectorContext, FetchedMessage, FlagChange
from inboxhub.providers.gmail import GmailConnector, GmailSettings
from inboxhub.runtime import Container
from inboxhub.services.fetcher.engine import FetcherEngine
from inboxhub.services.fetcher.mailbox_sync import MailboxRunner, seal_secrets
from inboxhub.services.fetcher.outbox import OutboxDrain
from inboxhub.services.fetcher.sink import SqlItemMap
from tests.fakes.gmail import FakeGmail, serve
from tests.integration.conftest import TENANT, settle
from tests.support.messages import make_message, write_maildir
from tests.support.processes import wait_for, wait_until
from tests.support.servers.dovecot import Dovecot


def crlf(subject: str) -> bytes:
    return make_message(subject, text=f"Body of {subject}.\n").replace(b"\n", b"\r\n")


async def imap_box(c: Container, dovecot: Dovecot) -> tuple[Mailbox, str]:
    user, password = dovecot.new_user()
    config = {
        "host": "127.0.0.1",
        "port": dovecot.imap_port,
        "security": "none",
        "username": user,
        "folders": ["INBOX"],
    }
    sealed = seal_secrets(c, {"password": password})
    return await c.directory.create_mailbox(TENANT, user, "imap", config, sealed), user


@pytest.fixture
async def engine(container: Container) -> AsyncIterator[FetcherEngine]:
    container.settings.allow_private_mail_hosts = True
    container.settings.fetcher_poll_seconds = 600  # only push and the outbox wake it
    running = FetcherEngine(container, "worker-1")
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    yield running
    stop.set()
    await task


async def test_a_queued_change_is_applied_on_the_imap_server_by_the_engine(
    container: Container, dovecot: Dovecot, engine: FetcherEngine
) -> None:
    raws = [crlf("read and star me"), crlf("throw me away")]
    box, user = await imap_box(container, dovecot)
    for raw in raws:
        dovecot.append(user, "INBOX", raw)
    pmids = [f"INBOX:{hashlib.sha256(raw).hexdigest()}" for raw in raws]
    ids = [email_id(TENANT, box.id, pmid) for pmid in pmids]
    await engine.reconcile()
    await wait_until(lambda: _count_is(container, box.id, 2))
    await wait_until(lambda: _state(container, box.id, "idle"))

    # What the API does: change its own copy, then queue the change for the provider.
    wanted = Flags(seen=True, flagged=True)
    assert await container.emails.set_flags(TENANT, ids[0], wanted)
    await container.sync.outbox_put(
        TENANT,
        box.id,
        [
            MailChange(
                email_id=ids[0], provider_message_id=pmids[0], labels=["INBOX"], flags=wanted
            ),
            MailChange(email_id=ids[1], provider_message_id=pmids[1], labels=["INBOX"], trash=True),
        ],
    )

    def made() -> bool:
        inbox = list(dovecot.flags(user, "INBOX").values())
        return inbox == [{"\\Seen", "\\Flagged"}] and bool(dovecot.uids(user, "Trash"))

    await asyncio.to_thread(wait_for, made, 30, "the changes made on the server")
    assert dovecot.bodies(user, "INBOX") == [raws[0]]
    assert dovecot.bodies(user, "Trash") == [raws[1]]
    await wait_until(lambda: _outbox_empty(container, box.id))
    # The sync after the changes: the trashed message left INBOX, the flags stay.
    await wait_until(lambda: _count_is(container, box.id, 1))
    doc = await container.emails.get(TENANT, ids[0])
    assert doc is not None and doc.flags == wanted


async def test_a_read_only_archive_drops_its_changes(
    container: Container, tmp_path: Path, engine: FetcherEngine
) -> None:
    maildir = write_maildir(tmp_path / "md", [make_message("archived")])
    box = await container.directory.create_mailbox(
        TENANT, "archive", "local", {"paths": [str(maildir)]}, None
    )
    await container.sync.outbox_put(
        TENANT, box.id, [MailChange(email_id="e", provider_message_id="p", delete=True)]
    )
    await engine.reconcile()
    await wait_until(lambda: _outbox_empty(container, box.id))
    await wait_until(lambda: _count_is(container, box.id, 1))  # synced as ever


async def test_a_failing_change_holds_the_outbox_back_in_order(
    container: Container, tmp_path: Path
) -> None:
    """The drain on its own, against the fake Gmail (transient failures on demand)."""
    box = await container.directory.create_mailbox(TENANT, "gmail", "gmail", {}, None)
    assert await container.sync.claim(TENANT, box.id, "worker-1", 30)
    with serve() as fake:
        connector = gmail_connector(fake, container, box)
        first = fake.add_message("a@example.com", make_message("one"), ["INBOX", "UNREAD"])
        second = fake.add_message("a@example.com", make_message("two"), ["INBOX", "UNREAD"])
        changes = [
            MailChange(email_id="e1", provider_message_id=first, flags=Flags(seen=True)),
            MailChange(email_id="e2", provider_message_id=second, flags=Flags(seen=True)),
        ]
        await container.sync.outbox_put(TENANT, box.id, changes)
        drain = OutboxDrain(container, box, "worker-1")
        try:
            fake.fail_next(100, 503, endpoint="messages.modify")
            assert await drain.drain(connector) == 0
            waiting = await container.sync.outbox_take(TENANT, box.id, 10)
            assert [(e.change.email_id, e.attempts) for e in waiting] == [("e1", 1), ("e2", 0)]
            assert drain.holding > 0 and await drain.drain(connector) == 0, "held back"

            fake.failures.clear()
            drain.hold_until = 0.0
            assert await drain.drain(connector) == 2
            assert await container.sync.outbox_take(TENANT, box.id, 10) == []
            assert "UNREAD" not in fake.box("a@example.com").messages[second].labels
        finally:
            await connector.close()


async def test_a_sync_does_not_undo_a_change_still_waiting(container: Container) -> None:
    box = await container.directory.create_mailbox(TENANT, "sinkbox", "local", {}, None)
    sink = MailboxRunner(container, box, "worker-1").sink()
    now = datetime.now(UTC)
    await sink.messages([FetchedMessage("m1", make_message("mine"), now, labels=("INBOX",))])
    await settle(container)
    eid = email_id(TENANT, box.id, "m1")
    assert await container.emails.set_flags(TENANT, eid, Flags(seen=True))  # the user's
    change = MailChange(email_id=eid, provider_message_id="m1", flags=Flags(seen=True))
    await container.sync.outbox_put(TENANT, box.id, [change])

    await sink.flags([FlagChange("m1", Flags(seen=False), ("Elsewhere",))])  # older news

    doc = await container.emails.get(TENANT, eid)
    assert doc is not None and doc.flags == Flags(seen=True) and doc.labels == ["INBOX"]
    waiting = await container.sync.outbox_take(TENANT, box.id, 10)
    await container.sync.outbox_done(TENANT, box.id, [e.id for e in waiting])
    await sink.flags([FlagChange("m1", Flags(seen=False), ("Elsewhere",))])
    doc = await container.emails.get(TENANT, eid)
    assert doc is not None and doc.flags == Flags() and doc.labels == ["Elsewhere"]


def gmail_connector(fake: FakeGmail, c: Container, box: Mailbox) -> GmailConnector:
    fake.add_mailbox("a@example.com")
    c.settings.gmail_api_url = fake.url
    c.settings.google_token_url = fake.token_url
    c.settings.google_client_id = fake.client_id
    c.settings.google_client_secret = fake.client_secret
    ctx = ConnectorContext(
        TENANT, box.id, c.settings, SqlItemMap(c.sync, TENANT, box.id), _ignore_secrets
    )
    token = fake.issue_token("a@example.com")
    connector = GmailConnector(GmailSettings(email="a@example.com"), {"token": token}, ctx)

    async def no_wait(seconds: float) -> None:
        return None

    connector.backoff.sleep = no_wait
    return connector


async def _ignore_secrets(secrets: dict[str, object]) -> None:
    return None


async def _count_is(c: Container, mailbox_id: str, n: int) -> bool:
    return await c.emails.count(TENANT, [mailbox_id]) == n


async def _state(c: Container, mailbox_id: str, state: str) -> bool:
    return (await c.sync.get_status(TENANT, mailbox_id)).state == state


async def _outbox_empty(c: Container, mailbox_id: str) -> bool:
    return not await c.sync.outbox_take(TENANT, mailbox_id, 1)
