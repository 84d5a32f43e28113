"""The resume cursor (services/notifications/cursor.py) and the grouping of
``email.updated`` events (services/mail_events.py): pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.events import EMAIL_UPDATED, EmailUpdated
from inboxhub.services.mail_events import IDS_PER_EVENT, update_events
from inboxhub.services.notifications.cursor import decode, encode

positions = st.dictionaries(
    st.tuples(st.sampled_from(["email.processed", "email.updated"]), st.integers(0, 7)),
    st.integers(0, 2**53),
)


@given(positions)
def test_a_cursor_decodes_to_the_positions_it_encodes(p: dict[tuple[str, int], int]) -> None:
    decoded = decode(encode(p))
    # partitions below the highest one named read as 0 (nothing read there yet)
    assert {tp: o for tp, o in decoded.items() if tp in p} == p
    assert all(o == 0 for tp, o in decoded.items() if tp not in p)


@pytest.mark.parametrize(
    "bad",
    ["", "c1.", "x" * 10, "c1.!!!", "c1.W10", "c1.eyJhIjoxfQ", "c1.eyJhIjpbLTFdfQ", "c2.e30"],
)
def test_anything_else_is_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        decode(bad)


def test_updates_are_grouped_by_mailbox_and_change_and_split_when_many() -> None:
    changes = [("m1", f"e{i}", ("flags",)) for i in range(IDS_PER_EVENT + 1)]
    changes += [("m2", "x", ("flags",)), ("m1", "y", ("labels", "trash")), ("m1", "z", ())]
    events = update_events("t1", changes)
    assert [e.type for e in events] == [EMAIL_UPDATED] * 4
    data = [EmailUpdated.of(e) for e in events]
    assert [(d.mailbox_id, d.changed, len(d.email_ids)) for d in data] == [
        ("m1", ["flags"], IDS_PER_EVENT),
        ("m1", ["flags"], 1),
        ("m2", ["flags"], 1),
        ("m1", ["labels", "trash"], 1),
    ]
    assert {e.key for e in events} == {"t1:m1", "t1:m2"}  # one mailbox: one key, in order
