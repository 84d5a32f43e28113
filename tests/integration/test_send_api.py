"""Sending over HTTP, delivered by the outbox worker through a real SMTP submission
server, the sent copy filed through the pipeline into the mailbox's Sent view:
compose with an uploaded attachment, reply-all, forward, drafts, scheduled send,
idempotency keys, header injection, quotas and who may send."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses

import pytest
import pytest_asyncio

from inboxhub.domain.events import AUDIT_ACTION
from tests.integration.conftest import settle
from tests.integration.sending import ADDRESS, ORIGINAL_ID, PDF, Sending, open_world
from tests.support.servers.dovecot import Dovecot

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


def addresses(value: str | None) -> list[str]:
    return [a for _, a in getaddresses([value or ""])]


async def test_compose_with_an_upload_is_delivered_and_filed_in_sent(world: Sending) -> None:
    report = b"quarterly numbers\n" * 50
    up = await world.member.post(
        "/api/v1/uploads", files={"file": ("report.txt", report, "text/plain")}
    )
    assert up.status_code == 201, up.text
    r = await world.post(
        {
            "mailbox_id": world.box_id,
            "to": ["Bob <bob@partner.test>"],
            "cc": ["carol@acme.test"],
            "bcc": ["secret@hidden.test"],
            "subject": "Numbers — Q3",
            "text": "See the report.",
            "attachments": [{"upload_id": up.json()["id"]}],
        }
    )
    assert r.status_code == 202, r.text
    view = r.json()
    assert view["state"] == "queued" and r.headers["location"] == view["status_url"]
    assert await world.send_due() == 1

    [got] = world.smtp.received
    msg = got.message
    assert got.sender == ADDRESS
    assert sorted(got.recipients) == ["bob@partner.test", "carol@acme.test", "secret@hidden.test"]
    assert b"secret@hidden.test" not in got.data and msg["Bcc"] is None  # only the envelope
    assert addresses(msg["From"]) == [ADDRESS]
    assert addresses(msg["To"]) == ["bob@partner.test"]
    assert msg["Subject"] == "Numbers — Q3"
    assert msg["Message-ID"] == view["message_id"]
    [attached] = list(msg.iter_attachments())
    assert attached.get_filename() == "report.txt"
    assert attached.get_content().encode() == report
    assert msg.get_body(("plain",)).get_content().strip() == "See the report."

    done = await world.message(view["id"])
    assert done["state"] == "sent" and done["attempts"] == 1 and done["sent_at"]
    assert done["provider_message_id"].startswith("Sent:")  # appended to the IMAP Sent folder
    await settle(world.c)
    email_id = done["email_id"]
    found = await world.member.get("/api/v1/search", params={"q": "in:sent numbers"})
    assert [i["id"] for i in found.json()["items"]] == [email_id]
    copy = (await world.member.get(f"/api/v1/emails/{email_id}")).json()
    assert "Sent" in copy["labels"] and copy["flags"]["seen"]
    assert [a["email"] for a in copy["bcc"]] == ["secret@hidden.test"]  # kept in the copy
    [event] = [e for e in await world.sent_events() if e.data["outgoing_id"] == view["id"]]
    assert event.data["email_id"] == email_id and event.data["mailbox_id"] == world.box_id
    sent_folder = world.dovecot.bodies(world.imap_user, "Sent")
    assert any(view["message_id"].encode() in b for b in sent_folder)


async def test_reply_all_threads_quotes_and_addresses_everyone(world: Sending) -> None:
    r = await world.post(
        {"mode": "reply_all", "original_email_id": world.original_id, "text": "Agreed."}
    )
    assert r.status_code == 202, r.text
    view = r.json()
    assert view["mailbox_id"] == world.box_id and view["subject"] == "Re: Quarterly plan"
    await world.send_due()
    [got] = world.smtp.received
    msg = got.message
    assert msg["In-Reply-To"] == ORIGINAL_ID
    assert msg["References"].split() == ["<root-0@partner.test>", ORIGINAL_ID]
    # as Gmail does: the sender and the original's other To recipients, its Cc; not me
    assert addresses(msg["To"]) == ["pat@partner.test", "carol@acme.test"]
    assert addresses(msg["Cc"]) == ["dan@partner.test"]
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("Agreed.") and "> Here is the plan." in text
    assert list(msg.iter_attachments()) == []  # a reply does not carry attachments


async def test_forward_carries_the_originals_attachment(world: Sending) -> None:
    r = await world.post(
        {
            "mode": "forward",
            "original_email_id": world.original_id,
            "to": ["erin@partner.test"],
            "text": "FYI",
        }
    )
    assert r.status_code == 202, r.text
    assert r.json()["subject"] == "Fwd: Quarterly plan"
    await world.send_due()
    [got] = world.smtp.received
    msg = got.message
    [attached] = list(msg.iter_attachments())
    assert attached.get_filename() == "plan.pdf" and attached.get_content() == PDF
    text = msg.get_body(("plain",)).get_content()
    assert text.startswith("FYI") and "Forwarded message" in text and "Here is the plan." in text
    assert msg["In-Reply-To"] is None


async def test_a_draft_is_saved_edited_and_then_sent(world: Sending) -> None:
    r = await world.post({"mailbox_id": world.box_id, "subject": "Draft one", "draft": True})
    assert r.status_code == 201, r.text
    draft = r.json()
    assert draft["state"] == "draft"
    r = await world.member.patch(
        f"/api/v1/messages/{draft['id']}",
        json={"subject": "Final words", "to": ["bob@partner.test"], "text": "Done."},
    )
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "Final words"
    assert r.json()["message_id"] == draft["message_id"]  # made once, kept
    assert await world.send_due() == 0  # a draft is not sent
    listed = await world.member.get("/api/v1/messages", params={"state": "draft"})
    assert draft["id"] in [m["id"] for m in listed.json()["items"]]

    r = await world.member.post(f"/api/v1/messages/{draft['id']}/send")
    assert r.status_code == 202 and r.json()["state"] == "queued"
    assert (await world.member.patch(f"/api/v1/messages/{draft['id']}", json={})).status_code == 409
    await world.send_due()
    [got] = world.smtp.received
    assert got.message["Subject"] == "Final words"
    assert got.message["Message-ID"] == draft["message_id"]
    again = await world.member.post(f"/api/v1/messages/{draft['id']}/send")
    assert again.status_code == 202 and again.json()["state"] == "sent"  # not twice
    assert await world.send_due() == 0 and len(world.smtp.received) == 1


async def test_a_scheduled_message_goes_when_due_and_can_be_cancelled(world: Sending) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    base = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "text": "Later."}
    r = await world.post({**base, "subject": "Scheduled", "send_at": later.isoformat()})
    assert r.status_code == 202 and r.json()["state"] == "scheduled"
    scheduled = r.json()
    r = await world.post({**base, "subject": "Cancelled", "send_at": later.isoformat()})
    cancelled = r.json()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await world.post({**base, "subject": "Overdue", "send_at": past})
    assert r.json()["state"] == "queued"  # a time in the past: now

    await world.send_due()
    assert [m.message["Subject"] for m in world.smtp.received] == ["Overdue"]
    r = await world.member.patch(
        f"/api/v1/messages/{scheduled['id']}", json={"subject": "Scheduled, edited"}
    )
    assert r.status_code == 200 and r.json()["state"] == "scheduled"
    assert (await world.member.delete(f"/api/v1/messages/{cancelled['id']}")).status_code == 204
    assert (await world.message(cancelled["id"]))["state"] == "cancelled"

    await world.send_due(clock=lambda: later + timedelta(seconds=1))
    subjects = [m.message["Subject"] for m in world.smtp.received]
    assert subjects == ["Overdue", "Scheduled, edited"]


async def test_an_idempotency_key_replays_the_first_message_and_sends_once(
    world: Sending,
) -> None:
    body = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "subject": "Once"}
    first = await world.post(body, **{"Idempotency-Key": "order-42"})
    again = await world.post(body, **{"Idempotency-Key": "order-42"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = await world.post({**body, "subject": "Twice?"}, **{"Idempotency-Key": "order-42"})
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    await world.send_due()
    assert await world.send_due() == 0
    assert [m.message["Subject"] for m in world.smtp.received] == ["Once"]


@pytest.mark.parametrize("field", ["to", "cc", "bcc", "subject"])
async def test_a_line_break_in_a_header_field_is_refused(world: Sending, field: str) -> None:
    value = "bob@partner.test\r\nBcc: victim@x.test" if field != "subject" else "Hi\r\nBcc: v@x"
    body: dict[str, object] = {"mailbox_id": world.box_id, "to": ["bob@partner.test"]}
    body[field] = value if field == "subject" else [value]
    r = await world.post(body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["field"] == field
    assert await world.send_due() == 0


async def test_bad_addresses_and_missing_recipients_are_refused(world: Sending) -> None:
    r = await world.post({"mailbox_id": world.box_id, "to": ["bob@partner.test", "not-an-address"]})
    assert r.status_code == 422 and r.json()["field"] == "to"
    assert r.json()["entry"] == "not-an-address"
    r = await world.post({"mailbox_id": world.box_id, "subject": "To nobody"})
    assert r.status_code == 422 and "recipient" in r.json()["detail"]
    huge = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "text": "x" * 600_000}
    limit = world.c.settings.send_max_bytes
    world.c.settings.send_max_bytes = 500_000
    try:
        assert (await world.post(huge)).status_code == 422
    finally:
        world.c.settings.send_max_bytes = limit


async def test_over_the_quota_is_429_with_retry_after(world: Sending) -> None:
    s = world.c.settings
    used = (
        await world.c.outgoing.submitted_since(
            world.tenant_id, world.users["member"], datetime.now(UTC) - timedelta(days=1)
        )
    )[0]
    s.send_quota_user_per_day = used + 1
    try:
        body = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "subject": "Quota"}
        assert (await world.post(body)).status_code == 202
        r = await world.post(body)
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0
        draft = await world.post({**body, "draft": True})
        assert draft.status_code == 201  # drafts do not count
        r = await world.member.post(f"/api/v1/messages/{draft.json()['id']}/send")
        assert r.status_code == 429
    finally:
        s.send_quota_user_per_day = 500
    await world.send_due()


async def test_who_may_send_and_see(world: Sending) -> None:
    body = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "draft": True}
    r = await world.clients["outsider"].post("/api/v1/messages", json=body)
    assert r.status_code == 404  # a mailbox they cannot see
    r = await world.clients["auditor"].post("/api/v1/messages", json=body)
    assert r.status_code == 403  # auditors never send
    r = await world.clients["auditor"].post(
        "/api/v1/uploads", files={"file": ("a.txt", b"a", "text/plain")}
    )
    assert r.status_code == 403
    draft = (await world.post(body)).json()
    path = f"/api/v1/messages/{draft['id']}"
    for who in ("stranger", "outsider"):
        client = world.clients[who]
        assert (await client.get(path)).status_code == 404
        assert (await client.patch(path, json={"subject": "x"})).status_code == 404
        assert (await client.post(f"{path}/send")).status_code == 404
        assert (await client.delete(path)).status_code == 404
    admin, auditor = world.clients["admin"], world.clients["auditor"]
    assert (await admin.get(path)).status_code == 200  # sees every message
    assert (await auditor.get(path)).status_code == 200
    assert (await admin.patch(path, json={"subject": "x"})).status_code == 403  # not theirs
    assert (await auditor.delete(path)).status_code == 403
    listed = await world.clients["stranger"].get("/api/v1/messages")
    assert listed.status_code == 200 and listed.json()["items"] == []
    # another tenant's upload cannot be attached
    up = await world.clients["stranger"].post(
        "/api/v1/uploads", files={"file": ("b.txt", b"b", "text/plain")}
    )
    assert up.status_code == 201
    r = await world.member.patch(path, json={"attachments": [{"upload_id": up.json()["id"]}]})
    assert r.status_code == 404
    assert (await world.member.delete(path)).status_code == 204
    assert (await world.member.get(path)).status_code == 404  # a draft discarded is gone


async def test_an_upload_over_the_limit_is_413(world: Sending) -> None:
    limit = world.c.settings.upload_max_bytes
    world.c.settings.upload_max_bytes = 1000
    try:
        r = await world.member.post(
            "/api/v1/uploads", files={"file": ("big.bin", b"x" * 1001, "application/octet-stream")}
        )
        assert r.status_code == 413, r.text
        r = await world.member.post("/api/v1/uploads", json={"file": "not multipart"})
        assert r.status_code == 422
    finally:
        world.c.settings.upload_max_bytes = limit


async def test_sending_is_audited_with_its_outcome(world: Sending) -> None:
    body = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "subject": "Audited"}
    sent = (await world.post(body)).json()
    refused = await world.post({**body, "subject": "Bad\nsubject"})
    assert refused.status_code == 422
    await world.send_due()
    records = [r.envelope.data for r in await world.c.bus.read(AUDIT_ACTION, 10_000)]
    mine = [(r["action"], r["outcome"]) for r in records if r["object_id"] == sent["id"]]
    assert ("message.send", "success") in mine and ("message.sent", "success") in mine
    failures = [
        r
        for r in records
        if r["action"] == "message.send"
        and r["outcome"] == "failure"
        and r["actor_id"] == world.users["member"]
    ]
    assert any(r["detail"]["status"] == 422 for r in failures)


async def test_a_member_who_loses_the_mailbox_loses_its_messages(world: Sending) -> None:
    admin, member = world.clients["admin"], world.users["member"]
    draft = (await world.post({"mailbox_id": world.box_id, "draft": True})).json()
    members = f"/api/v1/mailboxes/{world.box_id}/members"
    assert (await admin.put(members, json={"user_ids": []})).status_code < 300
    try:
        assert (await world.member.get(f"/api/v1/messages/{draft['id']}")).status_code == 404
        listed = (await world.member.get("/api/v1/messages")).json()["items"]
        assert draft["id"] not in [m["id"] for m in listed]
    finally:
        assert (await admin.put(members, json={"user_ids": [member]})).status_code < 300
    assert (await world.member.get(f"/api/v1/messages/{draft['id']}")).status_code == 200


async def test_an_attachment_of_a_readable_email_can_be_attached(world: Sending) -> None:
    doc = await world.c.emails.get(world.tenant_id, world.original_id)
    assert doc is not None
    ref = {"email_id": doc.id, "attachment_id": doc.attachments[0].id}
    body = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "attachments": [ref]}
    r = await world.post({**body, "subject": "With the plan"})
    assert r.status_code == 202, r.text
    await world.send_due()
    [got] = world.smtp.received
    [attached] = list(got.message.iter_attachments())
    assert attached.get_filename() == "plan.pdf" and attached.get_content() == PDF
    r = await world.clients["outsider"].post(
        "/api/v1/messages", json={**body, "mailbox_id": world.box_id}
    )
    assert r.status_code == 404  # neither the mailbox nor the email is theirs


async def test_concurrent_requests_with_one_key_make_one_message(world: Sending) -> None:
    body = {"mailbox_id": world.box_id, "to": ["bob@partner.test"], "subject": "Raced"}
    answers = await asyncio.gather(
        *(world.post(body, **{"Idempotency-Key": "race-1"}) for _ in range(4))
    )
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 202]
    assert len({r.json()["id"] for r in answers}) == 1
    await world.send_due()
    assert [m.message["Subject"] for m in world.smtp.received] == ["Raced"]
