"""The outbox worker against a real SMTP submission server: a temporary failure is
retried with the same bytes, a permanent one is reported with the refused recipient,
an interrupted send asks the provider before sending again, and two workers deliver
every message once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from inboxhub.providers.send import open_transport
from inboxhub.services.sender.worker import SendWorker
from tests.integration.sending import ADDRESS, Sending, open_world
from tests.support.servers.dovecot import Dovecot
from tests.support.smtp_submission import Script

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, dovecot: Dovecot
) -> AsyncIterator[Sending]:
    async for w in open_world(tmp_path_factory.mktemp("sending"), dovecot):
        yield w


@pytest.fixture(autouse=True)
def _fresh_server(world: Sending) -> None:
    world.reset()


async def queue(world: Sending, subject: str, to: tuple[str, ...] = ("bob@partner.test",)) -> str:
    r = await world.post({"mailbox_id": world.box_id, "to": list(to), "subject": subject})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def at(when: datetime) -> Any:
    return lambda: when


async def test_a_temporary_failure_is_retried_with_the_same_bytes(world: Sending) -> None:
    message_id = await queue(world, "Try again")
    world.smtp.script = Script(data="451 4.3.0 mailbox busy, try later")
    assert await world.send_due() == 1
    waiting = await world.message(message_id)
    assert waiting["state"] == "queued" and waiting["attempts"] == 1
    assert "451" in waiting["last_error"]
    retry_at = datetime.fromisoformat(waiting["next_attempt_at"])
    assert retry_at > datetime.now(UTC)  # backed off
    assert await world.send_due() == 0  # not before its time
    stored = await world.c.outgoing.get(world.tenant_id, message_id)
    assert stored is not None and stored.eml_key
    built = await world.c.blobs.get(stored.eml_key)

    world.smtp.script = Script()
    assert await world.send_due(clock=at(retry_at + timedelta(seconds=1))) == 1
    done = await world.message(message_id)
    assert done["state"] == "sent" and done["attempts"] == 2 and done["last_error"] is None
    [got] = world.smtp.received
    assert got.message["Message-ID"] == waiting["message_id"]
    assert got.data.replace(b"\r\n", b"\n") in built.replace(b"\r\n", b"\n")  # same bytes


async def test_too_many_temporary_failures_fail_the_message(world: Sending) -> None:
    message_id = await queue(world, "Never")
    world.smtp.script = Script(data="421 4.7.0 go away")
    when = datetime.now(UTC)
    for _ in range(world.c.settings.send_max_attempts):
        await world.send_due(clock=at(when))
        when += timedelta(hours=2)
    failed = await world.message(message_id)
    assert failed["state"] == "failed" and failed["attempts"] == 3
    assert failed["last_error"].startswith("gave up after 3 attempts")


async def test_a_permanent_failure_is_reported_with_the_recipient(world: Sending) -> None:
    refused = "nobody@partner.test"
    world.smtp.script = Script(rcpt={refused: "550 5.1.1 no such user"})
    message_id = await queue(world, "Bounce", (refused,))
    await world.send_due()
    failed = await world.message(message_id)
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert failed["rejected"] == {refused: "550 5.1.1 no such user"}
    assert await world.send_due() == 0 and world.smtp.received == []

    partly = await queue(world, "Partly", ("bob@partner.test", refused))
    await world.send_due()
    sent = await world.message(partly)
    assert sent["state"] == "sent" and sent["rejected"] == {refused: "550 5.1.1 no such user"}
    [got] = world.smtp.received
    assert got.recipients == ["bob@partner.test"]


async def _interrupt(world: Sending, message_id: str, deliver: bool) -> datetime:
    """Do what a worker that dies mid-send did: claim, build, mark ``sending`` (and, with
    ``deliver``, hand the message over); its lease then runs out. When it does."""
    now = datetime.now(UTC)
    dead = SendWorker(world.c, worker_id="dead", clock=at(now))
    [m] = [x for x in await world.c.outgoing.claim_due("dead", now, 300, 50) if x.id == message_id]
    raw = await dead._raw(m)
    m = await dead._mark_sending(m)
    if deliver:
        box = await world.c.directory.get_mailbox(world.tenant_id, world.box_id)
        assert box is not None
        transport = await open_transport(world.c, box)
        await transport.send(raw, ADDRESS, ["bob@partner.test"])
        await transport.close()
    return now + timedelta(seconds=301)


async def test_an_interrupted_send_that_never_left_is_sent_again(world: Sending) -> None:
    message_id = await queue(world, "Interrupted early")
    expired = await _interrupt(world, message_id, deliver=False)
    assert (await world.message(message_id))["state"] == "sending"
    assert await world.send_due(clock=at(expired - timedelta(seconds=2))) == 0  # lease lives
    assert await world.send_due(clock=at(expired)) == 1
    done = await world.message(message_id)
    assert done["state"] == "sent" and done["attempts"] == 2
    assert [m.message["Subject"] for m in world.smtp.received] == ["Interrupted early"]


async def test_an_interrupted_send_that_went_out_is_not_sent_twice(world: Sending) -> None:
    message_id = await queue(world, "Interrupted late")
    expired = await _interrupt(world, message_id, deliver=True)
    assert len(world.smtp.received) == 1
    assert await world.send_due(clock=at(expired)) == 1
    done = await world.message(message_id)
    assert done["state"] == "sent" and done["email_id"]  # the provider had it: found
    assert len(world.smtp.received) == 1
    events = [e for e in await world.sent_events() if e.data["outgoing_id"] == message_id]
    assert len(events) == 1


async def test_two_workers_deliver_every_message_once(world: Sending) -> None:
    subjects = [f"Batch {i}" for i in range(8)]
    ids = [await queue(world, s) for s in subjects]
    s = world.c.settings
    s.send_concurrency, s.send_poll_seconds = 2, 0.02
    stop = asyncio.Event()
    workers = [
        asyncio.create_task(SendWorker(world.c, worker_id=f"w{i}").run(stop)) for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [(await world.c.outgoing.get(world.tenant_id, i)) for i in ids]
            if all(m is not None and m.state == "sent" and m.filed_at for m in states):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*workers)
        s.send_concurrency, s.send_poll_seconds = 8, 0.5
    got = sorted(str(m.message["Subject"]) for m in world.smtp.received)
    assert got == sorted(subjects), "each message delivered exactly once"
    events = [e for e in await world.sent_events() if e.data["outgoing_id"] in ids]
    assert len(events) == len(ids)


async def test_with_a_dkim_key_the_delivered_bytes_verify(world: Sending) -> None:
    """The tenant's active key for the From domain signs; the signature holds over
    the bytes that arrive (the Bcc header removed on the wire)."""
    import dkim

    from inboxhub.mime.dkim_sign import dkim_txt_record, generate_rsa_key

    pem = generate_rsa_key(2048)
    await world.c.tenancy.add_domain(world.tenant_id, "acme.test")
    await world.c.dkim.add(
        world.tenant_id,
        "acme.test",
        "s1",
        algorithm="rsa-sha256",
        private_key_pem=pem,
        dns_value=dkim_txt_record(pem),
        created_by=None,
    )
    await world.c.dkim.activate(world.tenant_id, "acme.test", "s1")
    try:
        r = await world.post(
            {
                "mailbox_id": world.box_id,
                "to": ["bob@partner.test"],
                "bcc": ["hidden@partner.test"],
                "subject": "Signed",
                "text": "Signed and sealed.",
            }
        )
        assert r.status_code == 202, r.text
        await world.send_due()
    finally:
        await world.c.dkim.delete(world.tenant_id, "acme.test", "s1")
    [got] = world.smtp.received
    assert got.message["DKIM-Signature"] is not None and b"hidden@" not in got.data
    published = dkim_txt_record(pem).encode()

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return published if name == b"s1._domainkey.acme.test." else None

    assert dkim.verify(got.data, dnsfunc=dns)


async def test_a_slow_send_keeps_its_lease(world: Sending) -> None:
    """A provider slower than the lease: the worker renews it, so no other worker
    takes the message for an interrupted send and sends it again."""
    s, smtp = world.c.settings, world.smtp
    original = smtp.handle_DATA
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def slow(server: Any, session: Any, envelope: Any) -> str:
        loop.call_soon_threadsafe(started.set)
        await asyncio.sleep(1.5)  # the slow provider (in the server's own thread)
        return await original(server, session, envelope)

    message_id = await queue(world, "Slow")
    s.send_lease_seconds = 0.4
    smtp.handle_DATA = slow  # type: ignore[method-assign]
    try:
        sending = asyncio.create_task(world.worker(name="slow").run_once())
        await asyncio.wait_for(started.wait(), 30)
        taken = 0
        while not sending.done():
            taken += await world.worker(name="eager").run_once()
            await asyncio.sleep(0.1)
        await sending
    finally:
        s.send_lease_seconds = 300.0
        smtp.handle_DATA = original  # type: ignore[method-assign]
    assert taken == 0
    assert (await world.message(message_id))["state"] == "sent"
    assert [m.message["Subject"] for m in smtp.received] == ["Slow"]


async def test_a_crash_after_sending_still_files_the_copy(world: Sending) -> None:
    """Marked sent, then the worker died before filing the copy: the next worker
    files it (once the lease runs out) without sending again."""
    message_id = await queue(world, "Filed later")
    now = datetime.now(UTC)
    dead = SendWorker(world.c, worker_id="dead", clock=at(now))
    [m] = [x for x in await world.c.outgoing.claim_due("dead", now, 300, 50) if x.id == message_id]
    raw = await dead._raw(m)
    m = await dead._mark_sending(m)
    box = await world.c.directory.get_mailbox(world.tenant_id, world.box_id)
    assert box is not None
    transport = await open_transport(world.c, box)
    receipt = await transport.send(raw, ADDRESS, ["bob@partner.test"])
    await transport.close()
    await dead._change(
        m, ("sending",), state="sent", sent_at=now, provider_message_id=receipt.provider_message_id
    )
    assert not [e for e in await world.sent_events() if e.data["outgoing_id"] == message_id]

    assert await world.send_due(clock=at(now + timedelta(seconds=301))) == 1
    [event] = [e for e in await world.sent_events() if e.data["outgoing_id"] == message_id]
    assert event.data["provider_message_id"] == receipt.provider_message_id
    stored = await world.c.outgoing.get(world.tenant_id, message_id)
    assert stored is not None and stored.filed_at is not None and stored.lease_owner is None
    assert len(world.smtp.received) == 1
