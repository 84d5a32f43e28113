"""Local archives: which messages a Maildir, an mbox or a tree yields, with what ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.ids import sha256_hex
from inboxhub.providers.local import count_local, iter_local, maildir_flags
from tests.support.messages import make_message, write_maildir


def test_maildir_flags_follow_the_info_suffix() -> None:
    assert maildir_flags("123.M1.host:2,FS").model_dump() == {"seen": True, "flagged": True}
    assert maildir_flags("123.M1.host:2,").model_dump() == {"seen": False, "flagged": False}
    assert maildir_flags("123.M1.host;2,S").seen
    assert not maildir_flags("123.M1.host").seen


def test_maildir_yields_new_and_cur_with_content_ids(tmp_path: Path) -> None:
    messages = [make_message(f"m{i}") for i in range(5)]
    root = write_maildir(tmp_path / "md", messages, seen_every=2)
    got = list(iter_local(root))
    assert sorted(m.data for m in got) == sorted(messages)
    assert {m.provider_message_id for m in got} == {sha256_hex(m) for m in messages}
    assert all(m.sha256 == sha256_hex(m.data) for m in got), "hashed once, handed on"
    assert all(m.received_at.tzinfo is not None for m in got)
    assert sum(m.flags.seen for m in got) == 3  # messages 0, 2 and 4
    assert count_local(root) == 5


def test_maildir_plus_plus_subfolders_are_read(tmp_path: Path) -> None:
    root = write_maildir(tmp_path / "md", [make_message("inbox")])
    write_maildir(root / ".Sent", [make_message("sent")])
    assert len(list(iter_local(root))) == 2


def test_mbox_file_is_split_into_messages(tmp_path: Path) -> None:
    one, two = make_message("first"), make_message("second")
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(
        b"From alice@example.com Thu Jan  4 10:00:00 2024\n" + one + b"\n"
        b"From bob@example.com Fri Jan  5 11:00:00 2024\n" + two + b"\n"
    )
    got = list(iter_local(mbox))
    assert len(got) == 2
    assert [b"first" in m.data for m in got] == [True, False]
    assert got[0].received_at.year == 2024 and got[0].received_at.day == 4


def test_tree_of_eml_files_skips_other_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "x.eml").write_bytes(make_message("x"))
    (tmp_path / "a" / "b" / "y.eml").write_bytes(make_message("y"))
    (tmp_path / "a" / "notes.pdf").write_bytes(b"%PDF")
    assert len(list(iter_local(tmp_path / "a"))) == 2


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        iter_local(tmp_path / "nope")
