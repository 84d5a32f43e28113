"""Conversations, the pure part: subjects, thread keys, new thread ids, copies' keys,
and how one batch of emails is placed (``services.processor.threads.plan_threads``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inboxhub.domain.dedup import dedup_key
from inboxhub.domain.encoded import EncodedEmail, encode
from inboxhub.domain.models import Address, EmailDocument, EmailSummary
from inboxhub.domain.threading import (
    MAX_REFERENCES,
    email_key,
    is_reply_subject,
    new_thread_id,
    normalize_subject,
    thread_facts,
    thread_keys,
)
from inboxhub.ports import SubjectThread
from inboxhub.services.processor.threads import needs_subjects, plan_threads
from tests.support.documents import BASE, email_doc


@pytest.mark.parametrize(
    ("subject", "normalized", "reply"),
    [
        ("Budget 2024", "budget 2024", False),
        ("Re: Budget 2024", "budget 2024", True),
        ("RE: RE: re:Budget 2024", "budget 2024", True),
        ("Fwd: Re: Budget", "budget", True),
        ("FW: budget", "budget", True),
        ("Re[2]: Budget", "budget", True),
        ("Re(3): Budget", "budget", True),
        ("RE^2: Budget", "budget", True),
        ("AW: WG: Termin am Montag", "termin am montag", True),
        ("SV: VS: Møte", "møte", True),
        ("Antw: Vergadering", "vergadering", True),
        ("Réf : Réunion", "réunion", True),
        ("TR: Réunion", "réunion", True),
        ("RIF: Riunione", "riunione", True),
        ("RV: Reunión", "reunión", True),
        ("ODP: Spotkanie", "spotkanie", True),
        ("回复：会议", "会议", True),
        ("转发: 会议", "会议", True),
        ("返信: 会議", "会議", True),
        ("Ｒｅ： Ｍｅｅｔｉｎｇ", "meeting", True),  # full-width, NFKC
        ("[dev] Re: [dev] Patch", "patch", True),
        ("[PATCH v2 3/7] fix the parser", "fix the parser", False),
        ("  Re:   lots   of\tspace  ", "lots of space", True),
        ("STRASSE", "strasse", False),
        ("Straße", "strasse", False),  # case-folded, not lower-cased
        ("Research: results", "research: results", False),  # "re" is not a prefix here
        ("Reply to all", "reply to all", False),
        ("Re:", "", True),
        ("", "", False),
    ],
)
def test_subjects_are_normalised_as_mail_clients_write_them(
    subject: str, normalized: str, reply: bool
) -> None:
    assert normalize_subject(subject) == normalized
    assert is_reply_subject(subject) is reply


def test_thread_keys_are_own_id_then_references_in_order_then_in_reply_to() -> None:
    assert thread_keys("c@x", "b@x", ["a@x", "b@x"]) == ["c@x", "a@x", "b@x"]
    assert thread_keys("c@x", "z@x", ["a@x"]) == ["c@x", "a@x", "z@x"]
    assert thread_keys(None, None, []) == []
    assert thread_keys(" c@x ", "", ["", "  "]) == ["c@x"]


def test_a_huge_references_header_keeps_its_root_and_its_newest_ids() -> None:
    refs = [f"r{i}@x" for i in range(5_000)]
    keys = thread_keys("own@x", None, refs)
    assert len(keys) == MAX_REFERENCES + 1
    assert keys[:2] == ["own@x", "r0@x"] and keys[-1] == "r4999@x"


def test_new_thread_ids_come_from_the_oldest_known_ancestor() -> None:
    parent = thread_facts("t1", "e1", "p@x", None, [], "Plan")
    reply = thread_facts("t1", "e2", "r@x", "p@x", ["p@x"], "Re: Plan")
    deeper = thread_facts("t1", "e3", "d@x", "r@x", ["p@x", "r@x"], "Re: Plan")
    only_in_reply_to = thread_facts("t1", "e4", "q@x", "p@x", [], "Re: Plan")
    assert parent.new_thread_id == new_thread_id("t1", "p@x")
    assert reply.new_thread_id == deeper.new_thread_id == only_in_reply_to.new_thread_id
    assert new_thread_id("t2", "p@x") != parent.new_thread_id  # tenants apart
    assert reply.keys == ("r@x", "p@x") and deeper.keys == ("d@x", "p@x", "r@x")
    assert (parent.linked, reply.linked, parent.subject) == (False, True, "plan")


def test_a_message_without_message_id_is_keyed_by_its_email_id() -> None:
    facts = thread_facts("t1", "e9", None, None, [], "Re: Plan")
    assert facts.keys == (email_key("e9"),)
    assert facts.new_thread_id == new_thread_id("t1", email_key("e9"))
    assert facts.subject_fallback
    assert not thread_facts("t1", "e9", None, "p@x", [], "Re: Plan").subject_fallback
    assert not thread_facts("t1", "e9", None, None, [], "Plan").subject_fallback


def test_copies_share_a_dedup_key_and_other_content_does_not() -> None:
    alice, bob = Address(name="Alice", email="alice@x.org"), Address(email="bob@y.org")
    base: dict[str, object] = dict(
        from_=alice,
        to=[bob],
        cc=[],
        subject="Plan",
        date=BASE,
        text="hello",
        html="<p>hello</p>",
        attachment_sha256s=["ab" * 32],
    )
    key = dedup_key("m@x", **base)
    assert len(key) == 64
    renamed = {**base, "from_": Address(name="A. (work)", email="ALICE@x.org")}
    assert dedup_key("m@x", **renamed) == key
    changes: list[dict[str, object]] = [
        {"text": "hello!"},
        {"html": ""},
        {"subject": "Plan B"},
        {"date": BASE + timedelta(seconds=1)},
        {"attachment_sha256s": []},
        {"cc": [alice]},
    ]
    for change in changes:
        assert dedup_key("m@x", **{**base, **change}) != key, change
    assert dedup_key("other@x", **base) != key
    assert dedup_key(None, **base) == "" and dedup_key(" ", **base) == ""


# ---------------------------------------------------------------- placing a batch


def mail(
    n: int,
    message_id: str | None,
    *,
    subject: str = "Plan",
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    days: float = 0,
) -> EncodedEmail:
    doc = email_doc(n, subject=subject, when=BASE + timedelta(days=days, minutes=n))
    return encode(
        doc.model_copy(
            update={
                "message_id": message_id,
                "in_reply_to": in_reply_to,
                "references": references or ([in_reply_to] if in_reply_to else []),
            }
        )
    )


def test_a_reply_and_its_parent_in_one_batch_share_a_new_thread() -> None:
    parent, reply = mail(1, "p@x"), mail(2, "r@x", in_reply_to="p@x", subject="Re: Plan")
    plan = plan_threads([reply, parent], {}, [])
    expected = new_thread_id("t1", "p@x")
    assert plan.thread_of == {"e00002": expected, "e00001": expected}
    assert plan.changes.links == {"p@x": expected, "r@x": expected}
    assert plan.changes.merged == {}


def test_a_known_key_joins_its_thread_and_known_links_are_not_written_again() -> None:
    reply = mail(2, "r@x", in_reply_to="p@x")
    plan = plan_threads([reply], {"p@x": "t-old"}, [])
    assert plan.thread_of == {"e00002": "t-old"}
    assert plan.changes.links == {"r@x": "t-old"}
    again = plan_threads([reply], {"p@x": "t-old", "r@x": "t-old"}, [])
    assert again.thread_of == {"e00002": "t-old"} and again.changes.links == {}


def test_keys_of_two_threads_merge_them_into_the_smaller_id() -> None:
    bridge = mail(3, "b@x", references=["a@x", "c@x"], in_reply_to="c@x")
    plan = plan_threads([bridge], {"a@x": "t-b", "c@x": "t-a"}, [])
    assert plan.thread_of == {"e00003": "t-a"}
    assert plan.changes.merged == {"t-b": "t-a"}
    assert plan.changes.links == {"b@x": "t-a", "a@x": "t-a"}


def test_two_emails_of_one_batch_naming_two_known_threads_merge_them() -> None:
    one = mail(1, "x1@x", in_reply_to="a@x")
    two = mail(2, "x2@x", references=["b@x", "x1@x"])
    plan = plan_threads([one, two], {"a@x": "t-2", "b@x": "t-1"}, [])
    assert set(plan.thread_of.values()) == {"t-1"}
    assert plan.changes.merged == {"t-2": "t-1"}


def test_a_reply_without_headers_joins_by_subject_within_the_window() -> None:
    lonely = mail(5, "l@x", subject="RE: plan", days=10)
    assert needs_subjects([lonely], {}) == [lonely]
    stored = [
        SubjectThread("plan", "t-near", BASE, BASE + timedelta(days=2)),
        SubjectThread("plan", "t-newer", BASE, BASE + timedelta(days=5)),
        SubjectThread("plan", "t-far", BASE - timedelta(days=90), BASE - timedelta(days=60)),
    ]
    assert plan_threads([lonely], {}, stored).thread_of == {"e00005": "t-newer"}
    outside = mail(5, "l@x", subject="RE: plan", days=40)
    assert plan_threads([outside], {}, stored).thread_of == {"e00005": new_thread_id("t1", "l@x")}


def test_the_subject_fallback_is_only_for_replies_without_parents() -> None:
    stored = [SubjectThread("hello", "t-hello", BASE, BASE)]
    hello = mail(1, "h@x", subject="Hello")  # not a reply: a conversation of its own
    assert plan_threads([hello], {}, stored).thread_of == {"e00001": new_thread_id("t1", "h@x")}
    named = mail(2, "n@x", subject="Re: Hello", in_reply_to="gone@x")  # names a parent
    assert needs_subjects([named], {}) == []
    assert plan_threads([named], {}, stored).thread_of == {"e00002": new_thread_id("t1", "gone@x")}


def test_a_reply_by_subject_finds_its_original_in_the_same_batch() -> None:
    original, lonely = mail(1, "o@x", subject="Plan"), mail(2, "l@x", subject="Fwd: plan")
    plan = plan_threads([lonely, original], {}, [])
    assert plan.thread_of == {"e00001": new_thread_id("t1", "o@x")} | {
        "e00002": new_thread_id("t1", "o@x")
    }


def test_a_subject_match_on_a_thread_merged_in_this_batch_takes_the_survivor() -> None:
    bridge = mail(1, "b@x", references=["a@x", "c@x"])
    lonely = mail(2, "l@x", subject="Re: plan")
    stored = [SubjectThread("plan", "t-z", BASE, BASE)]
    plan = plan_threads([bridge, lonely], {"a@x": "t-a", "c@x": "t-z"}, stored)
    assert plan.thread_of == {"e00001": "t-a", "e00002": "t-a"}


def test_the_placement_does_not_depend_on_the_order_of_the_batch() -> None:
    emails = [
        mail(1, "a@x"),
        mail(2, "b@x", in_reply_to="a@x"),
        mail(3, "c@x", in_reply_to="b@x", references=[]),  # broken References
        mail(4, "d@x", references=["a@x", "missing@x"], in_reply_to="missing@x"),
        mail(5, "e@x", subject="Other"),
    ]
    first = plan_threads(emails, {}, []).thread_of
    assert plan_threads(emails[::-1], {}, []).thread_of == first
    assert len({first[f"e0000{n}"] for n in range(1, 5)}) == 1
    assert first["e00005"] != first["e00001"]


def test_stamping_a_thread_id_patches_both_jsons_and_nothing_else() -> None:
    doc = email_doc(1, subject='"thread_id":"" in a subject', text='{"thread_id":""}')
    doc = doc.model_copy(update={"in_reply_to": '"thread_id":""', "dedup_key": "d" * 64})
    encoded = encode(doc)
    placed = encoded.in_thread("ab12")
    assert placed.thread_id == "ab12" and placed.dedup_key == "d" * 64
    assert EmailDocument.model_validate_json(placed.document_json) == doc.model_copy(
        update={"thread_id": "ab12"}
    )
    assert EmailSummary.model_validate_json(placed.summary_json).thread_id == "ab12"
    moved = placed.in_thread("cd34")
    assert EmailDocument.model_validate_json(moved.document_json).thread_id == "cd34"
    assert placed.in_thread("ab12") is placed
