"""Conversations built by the processor on the embedded pipeline, from a realistic
exchange arriving out of order: a reply before its parent, a missing middle message,
a client that drops References, replies that lost their headers (subject fallback,
within and outside the window), unrelated messages of the same subject, two threads
merged by a later message, and a replay that changes nothing."""

from __future__ import annotations

from datetime import timedelta

from inboxhub.domain.events import EML_UPLOADED
from inboxhub.domain.ids import email_id
from inboxhub.domain.threading import new_thread_id
from inboxhub.providers.base import FetchedMessage
from inboxhub.runtime import Container
from tests.integration.conftest import TENANT, settle
from tests.support.threads import DAY0, message

BOX = "box"


async def deliver(c: Container, *messages: tuple[str, bytes]) -> None:
    """One batch of (provider id, bytes), processed before this returns."""
    arrived = DAY0 + timedelta(days=365)  # after every Date: the Date orders them
    batch = [FetchedMessage(pid, data, arrived) for pid, data in messages]
    await c.ingest().ingest_batch(TENANT, BOX, batch)
    await settle(c)


async def threads_of(c: Container, *pids: str) -> dict[str, str]:
    docs = await c.emails.get_many(TENANT, [email_id(TENANT, BOX, p) for p in pids])
    assert len(docs) == len(pids)
    return {d.provider_message_id: d.thread_id for d in docs}


async def test_a_conversation_arriving_out_of_order_is_one_thread(container: Container) -> None:
    c = container
    parent = message("plan@x", "Quarterly plan")
    reply = message(
        "r1@x", "Re: Quarterly plan", hours=1, in_reply_to="plan@x", references=["plan@x"]
    )
    # answers a message that never reaches us
    after_gap = message(
        "r2@x",
        "Re: Quarterly plan",
        hours=3,
        in_reply_to="lost@x",
        references=["plan@x", "lost@x"],
    )
    # a client that keeps only In-Reply-To
    broken = message("r3@x", "RE: Quarterly plan", hours=4, in_reply_to="r1@x")
    # and the answer to the lost message's sibling, naming only the lost one
    to_lost = message("r4@x", "Re: Quarterly plan", hours=5, in_reply_to="lost@x")

    await deliver(c, ("reply", reply))  # the reply first
    await deliver(c, ("parent", parent))
    await deliver(c, ("after_gap", after_gap), ("broken", broken), ("to_lost", to_lost))

    found = await threads_of(c, "parent", "reply", "after_gap", "broken", "to_lost")
    assert set(found.values()) == {new_thread_id(TENANT, "plan@x")}
    members = await c.emails.thread_emails(TENANT, [found["parent"]])
    assert [m.subject for m in members] == [
        "Quarterly plan",
        "Re: Quarterly plan",
        "Re: Quarterly plan",
        "RE: Quarterly plan",
        "Re: Quarterly plan",
    ]
    assert members[1].in_reply_to == "plan@x"


async def test_replies_without_headers_join_by_subject_only_within_the_window(
    container: Container,
) -> None:
    c = container
    await deliver(c, ("budget", message("b0@x", "Budget review")))
    await deliver(
        c,
        ("near", message("b1@x", "RE: Budget Review", hours=24 * 5)),
        ("hello1", message("h1@x", "Hello", hours=2)),
    )
    await deliver(
        c,
        ("far", message("b2@x", "Re: budget review", hours=24 * 60)),
        ("hello2", message("h2@x", "Hello", hours=3, sender="Bo <bo@example.org>")),
        ("fwd", message(None, "Fwd: Hello", hours=24 * 100)),  # no Message-ID, no window
    )
    found = await threads_of(c, "budget", "near", "far", "hello1", "hello2", "fwd")
    assert found["near"] == found["budget"] == new_thread_id(TENANT, "b0@x")
    assert found["far"] == new_thread_id(TENANT, "b2@x")  # 55 days after the last one
    # the same subject alone never joins two conversations
    assert found["hello1"] == new_thread_id(TENANT, "h1@x")
    assert found["hello2"] == new_thread_id(TENANT, "h2@x")
    assert found["fwd"] not in {found["hello1"], found["hello2"]} and found["fwd"]


async def test_a_later_message_naming_two_threads_merges_them(container: Container) -> None:
    c = container
    await deliver(c, ("x", message("x@x", "Design")), ("y", message("y@x", "Rollout", hours=1)))
    await deliver(c, ("x2", message("x2@x", "Re: Design", hours=2, in_reply_to="x@x")))
    before = await threads_of(c, "x", "y", "x2")
    assert before["x"] == before["x2"] != before["y"]

    await deliver(
        c,
        (
            "z",
            message(
                "z@x", "Design and rollout", hours=3, in_reply_to="y@x", references=["x@x", "y@x"]
            ),
        ),
    )
    after = await threads_of(c, "x", "y", "x2", "z")
    survivor = min(before["x"], before["y"])
    assert set(after.values()) == {survivor}
    assert len(await c.emails.thread_emails(TENANT, [survivor])) == 4
    gone = max(before["x"], before["y"])
    assert await c.emails.thread_emails(TENANT, [gone]) == []
    # a later reply to the merged-away side lands in the survivor
    await deliver(c, ("y2", message("y2@x", "Re: Rollout", hours=4, in_reply_to="y@x")))
    assert (await threads_of(c, "y2"))["y2"] == survivor


async def test_replaying_every_upload_gives_every_email_the_same_thread(
    container: Container,
) -> None:
    c = container
    await deliver(
        c,
        ("a", message("a@x", "Plan")),
        ("b", message("b@x", "Re: Plan", hours=1, in_reply_to="a@x")),
        ("c", message("c@x", "Re: Plan", hours=2)),  # by subject
        ("d", message(None, "No id")),
    )
    await deliver(c, ("e", message("e@x", "Re: Plan", hours=3, references=["a@x", "b@x"])))
    pids = ("a", "b", "c", "d", "e")
    first = await threads_of(c, *pids)
    assert len({first[p] for p in "abce"}) == 1 and first["d"] != first["a"]

    uploads = await c.bus.read(EML_UPLOADED, 1_000)
    assert len(uploads) == 5
    await c.bus.publish(EML_UPLOADED, [r.envelope for r in uploads][::-1])  # reversed, too
    await settle(c)
    assert await threads_of(c, *pids) == first
    assert await c.emails.count(TENANT, [BOX]) == 5
