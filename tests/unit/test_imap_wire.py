"""IMAP wire format without a server: tokens, FETCH items, sequence sets, dates,
mailbox names, SASL strings, and the watch's state comparison."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxhub.domain.models import Flags
from inboxhub.providers.imap import ImapSettings, folder_state_changed
from inboxhub.providers.imap_conn import Response
from inboxhub.providers.imap_wire import (
    ImapParseError,
    decode_mailbox,
    encode_mailbox,
    fetch_items,
    flags_code,
    flags_from_code,
    flags_of,
    in_ranges,
    literal_size,
    mailbox_arg,
    parse_internaldate,
    parse_list,
    parse_uid_set,
    quick_fetch_items,
    quote,
    response_code,
    sasl_oauthbearer,
    sasl_plain,
    sasl_xoauth2,
    tokenize,
    uid_set,
)


def test_tokenize_atoms_strings_lists_literals_and_nil() -> None:
    parts = [
        b'12 FETCH (UID 7 FLAGS (\\Seen $Junk) X "a \\"q\\" \\\\" BODY[] ',
        b"raw{1}",
        b" Y NIL)",
    ]
    assert tokenize(parts) == [
        "12",
        "FETCH",
        [
            "UID",
            "7",
            "FLAGS",
            ["\\Seen", "$Junk"],
            "X",
            b'a "q" \\',
            "BODY[]",
            b"raw{1}",
            "Y",
            None,
        ],
    ]


def test_tokenize_keeps_sections_with_spaces_in_one_atom() -> None:
    tokens = tokenize([b"1 FETCH (BODY[HEADER.FIELDS (FROM TO)]<0> NIL)"])
    assert tokens[2] == ["BODY[HEADER.FIELDS (FROM TO)]<0>", None]


@pytest.mark.parametrize("bad", [b"1 FETCH (UID 1", b"1 FETCH UID 1)", b'1 "unterminated'])
def test_tokenize_rejects_malformed_responses(bad: bytes) -> None:
    with pytest.raises(ImapParseError):
        tokenize([bad])


def test_literal_markers() -> None:
    assert literal_size(b"* 1 FETCH (BODY[] {1234}") == (b"* 1 FETCH (BODY[] ", 1234)
    assert literal_size(b"A1 LOGIN {5+}") == (b"A1 LOGIN ", 5)
    assert literal_size(b"* OK done") is None
    assert literal_size(b"* OK {not a literal}") is None


def test_fetch_items_and_the_quick_path_agree() -> None:
    parts = [
        b"* 3 FETCH (UID 42 MODSEQ (77) FLAGS (\\Seen \\Flagged) "
        b'INTERNALDATE "05-Mar-2024 10:30:15 +0100" BODY[] ',
        b"Subject: x\r\n\r\nbody\r\n",
        b")",
    ]
    r = Response("*", parts)
    slow = fetch_items(r.tokens())
    fast = quick_fetch_items(parts)
    assert fast is not None
    for key in ("UID", "FLAGS", "INTERNALDATE", "BODY[]"):
        assert fast[key] == slow[key]
    assert flags_of(fast["FLAGS"]) == Flags(seen=True, flagged=True)
    assert parse_internaldate(fast["INTERNALDATE"]) == datetime(2024, 3, 5, 9, 30, 15, tzinfo=UTC)
    sizes = quick_fetch_items([b"* 1 FETCH (UID 9 RFC822.SIZE 12000)"])
    assert sizes == {"UID": "9", "RFC822.SIZE": "12000"}


@pytest.mark.parametrize(
    "parts",
    [
        [b'* 1 FETCH (UID 1 X-OTHER "UID 2 " BODY[] ', b"x", b")"],  # an unknown string
        [b"* 1 FETCH (UID 1 BODY[] ", b"x", b" FLAGS (\\Seen))"],  # items after the body
        [b"* 1 FETCH (BODY[HEADER] ", b"x", b")"],  # another section
        [b"* 1 FETCH (FLAGS (\\Seen))"],  # no UID
    ],
)
def test_the_quick_path_declines_other_shapes(parts: list[bytes]) -> None:
    assert quick_fetch_items(parts) is None


def test_response_kinds_and_codes() -> None:
    assert Response("*", [b"* 12 EXISTS"]).kind == "EXISTS"
    assert Response("*", [b"* SEARCH"]).kind == "SEARCH"
    ok = Response("*", [b"* OK [UIDVALIDITY 3857529045] UIDs valid"])
    assert ok.kind == "OK" and response_code(ok.status_text) == ("UIDVALIDITY", "3857529045")
    assert response_code(b"[NOMODSEQ] Sorry") == ("NOMODSEQ", "")
    assert response_code(b"no code") is None


def test_uid_sets_round_trip() -> None:
    assert uid_set([9, 1, 2, 3, 7, 10, 3]) == "1:3,7,9:10"
    assert parse_uid_set("1:3,7,10:9") == [(1, 3), (7, 7), (9, 10)]
    ranges = parse_uid_set("1:3,7")
    assert in_ranges(2, ranges) and in_ranges(7, ranges) and not in_ranges(5, ranges)
    with pytest.raises(ValueError):
        uid_set([])


@given(st.sets(st.integers(min_value=1, max_value=500), min_size=1))
def test_uid_set_covers_exactly_the_uids(uids: set[int]) -> None:
    ranges = parse_uid_set(uid_set(uids))
    assert {u for lo, hi in ranges for u in range(lo, hi + 1)} == uids


def test_internaldate_with_a_space_padded_day_and_a_bad_one() -> None:
    assert parse_internaldate(b" 5-Jul-1996 02:44:25 -0700") == datetime(
        1996, 7, 5, 9, 44, 25, tzinfo=UTC
    )
    with pytest.raises(ImapParseError):
        parse_internaldate(b"yesterday")


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("Tom & Jerry", "Tom &- Jerry"),
        ("日本語", "&ZeVnLIqe-"),
        ("Projects/Q3 Plän", "Projects/Q3 Pl&AOQ-n"),
    ],
)
def test_modified_utf7_mailbox_names(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire
    assert decode_mailbox(wire) == name


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_modified_utf7_round_trips(name: str) -> None:
    assert decode_mailbox(encode_mailbox(name)) == name


def test_quoting() -> None:
    assert quote('a "b" \\c') == b'"a \\"b\\" \\\\c"'
    assert mailbox_arg("Entwürfe") == b'"Entw&APw-rfe"'
    with pytest.raises(ValueError):
        quote("two\r\nlines")


def test_sasl_strings() -> None:
    assert base64.b64decode(sasl_plain("bob", "pässword")) == b"\0bob\0p\xc3\xa4ssword"
    assert (
        base64.b64decode(sasl_xoauth2("bob@example.com", "ya29.tok"))
        == b"user=bob@example.com\x01auth=Bearer ya29.tok\x01\x01"
    )
    assert (
        base64.b64decode(sasl_oauthbearer("a,b=c", "tok", "imap.example.com", 993))
        == b"n,a=a=2Cb=3Dc,\x01host=imap.example.com\x01port=993\x01auth=Bearer tok\x01\x01"
    )


def test_list_responses() -> None:
    r = Response("*", [b'* LIST (\\HasNoChildren \\Sent) "/" "Sent Items"'])
    assert parse_list(r.tokens()) == ({"\\hasnochildren", "\\sent"}, "/", "Sent Items")
    r = Response("*", [b"* LIST (\\Noselect) NIL ", b"Entw&APw-rfe", b""])
    assert parse_list(r.tokens()) == ({"\\noselect"}, None, "Entwürfe")


def test_flag_snapshots() -> None:
    for flags in (Flags(), Flags(seen=True), Flags(flagged=True), Flags(seen=True, flagged=True)):
        assert flags_from_code(flags_code(flags)) == flags
    assert flags_code(Flags()) == "-"


def test_folder_state_comparison() -> None:
    saved = {"uidvalidity": 1, "uidnext": 5, "exists": 4, "modseq": 10}
    same = {"uidvalidity": 1, "uidnext": 5, "exists": 4, "modseq": 10}
    assert not folder_state_changed(saved, same)
    assert folder_state_changed(saved, {**same, "uidnext": 6})
    assert folder_state_changed(saved, {**same, "exists": 3})
    assert folder_state_changed(saved, {**same, "modseq": 11})
    assert folder_state_changed(saved, {**same, "uidvalidity": 2})
    assert not folder_state_changed(saved, {**same, "modseq": None})  # no CONDSTORE
    assert folder_state_changed(None, same)


def test_settings_clean_up_folders_and_refuse_bad_hosts() -> None:
    s = ImapSettings(
        host=" imap.example.com ", username="u", password="p", folders=["INBOX", " INBOX", "Sent"]
    )
    assert s.host == "imap.example.com" and s.folders == ["INBOX", "Sent"]
    with pytest.raises(ValueError):
        ImapSettings(host="http://x/y", username="u", password="p")
    with pytest.raises(ValueError):
        ImapSettings(host="h", username="u", password="p", folders=[" "])
