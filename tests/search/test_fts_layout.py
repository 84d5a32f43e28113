"""The FTS5 adapter's words index: folded text indexed, original text highlighted,
deletes that leave nothing behind, and files from before brought up to date."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from inboxhub.adapters.search_fts import FtsSearchIndex
from inboxhub.domain.query_parser import parse_query
from tests.support.documents import search_doc

SOREN = "Søren Kierkegaard <soren@philosophy.dk>"


def integrity_check(path: Path) -> None:
    """FTS5 compares its index with the words of ``doc_text`` folded again: a delete
    made with other words than were indexed would leave entries behind and fail."""
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO fts (fts) VALUES ('integrity-check')")


async def ids(index: FtsSearchIndex, q: str) -> set[str]:
    page = await index.search("t1", parse_query(q), ["inbox"], 50)
    return {h.id for h in page.hits}


async def test_folded_words_are_found_and_the_original_text_is_marked(tmp_path: Path) -> None:
    index = FtsSearchIndex(tmp_path / "search.db")
    try:
        await index.index_many(
            [search_doc(1, subject="Straße in Łódź", from_text=SOREN, body="Øresund ﬁle")]
        )
        page = await index.search("t1", parse_query("strasse lodz"), ["inbox"], 10)
        assert page.hits[0].highlights["subject"] == ["<mark>Straße</mark> in <mark>Łódź</mark>"]
        page = await index.search("t1", parse_query("oresund file"), ["inbox"], 10)
        assert page.hits[0].highlights["body"] == ["<mark>Øresund</mark> <mark>ﬁle</mark>"]
        assert await ids(index, "from:soren@philosophy.dk") == {"e00001"}
    finally:
        await index.close()


async def test_upserts_and_deletes_leave_the_index_consistent(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    index = FtsSearchIndex(path)
    try:
        await index.index_many(
            [search_doc(n, subject=f"Søren {n} ß", from_text=SOREN) for n in range(5)]
        )
        await index.index_many([search_doc(1, subject="Ærø ferry", body="naïve café")])
        assert await ids(index, "soren") == {"e00000", "e00002", "e00003", "e00004"}
        assert await ids(index, "aero cafe") == {"e00001"}
        assert await index.delete_many("t1", ["e00002", "e00003"]) == 2
        assert await ids(index, "soren") == {"e00000", "e00004"}
        integrity_check(path)
        assert await index.delete_tenant("t1") == 3
        assert await ids(index, "") == set()
        integrity_check(path)
    finally:
        await index.close()


# search.db as it was before doc_text: fts held the text itself.
OLD_LAYOUT = """
CREATE TABLE docs (
  rowid INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, id TEXT NOT NULL,
  mailbox_id TEXT NOT NULL, sort_key INTEGER NOT NULL,
  has_attachments INTEGER NOT NULL, seen INTEGER NOT NULL, flagged INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0, sender_domain TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  UNIQUE (tenant_id, id)
);
CREATE TABLE doc_values (
  doc INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (kind, value, doc)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE fts USING fts5(
  subject, from_text, to_text, body, attachment_names,
  tokenize = "unicode61 remove_diacritics 2"
);
INSERT INTO docs (rowid, tenant_id, id, mailbox_id, sort_key, has_attachments, seen, flagged)
  VALUES (7, 't1', 'old', 'inbox', 1700000000000000, 0, 0, 0);
INSERT INTO doc_values (doc, kind, value) VALUES (7, 'label', 'inbox');
INSERT INTO fts (rowid, subject, from_text, to_text, body, attachment_names)
  VALUES (7, 'Forelæsning', 'Søren <soren@philosophy.dk>', 'Bob <bob@x.org>', 'om angst', '');
"""


async def test_a_file_from_before_doc_text_is_rebuilt_folded_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_LAYOUT)
    index = FtsSearchIndex(path)
    try:
        assert await ids(index, "forelaesning soren") == {"old"}, "folded now"
        assert await ids(index, "label:inbox from:soren@philosophy.dk to:bob@x.org") == {"old"}
        page = await index.search("t1", parse_query("angst"), ["inbox"], 10)
        assert page.hits[0].highlights["body"] == ["om <mark>angst</mark>"]
        await index.index_many([search_doc(8, subject="new one")])
        assert await ids(index, "") == {"old", "e00008"}
    finally:
        await index.close()
    integrity_check(path)
    await FtsSearchIndex(path).close()  # opening again changes nothing
    integrity_check(path)


async def test_words_folded_by_another_table_are_folded_again(tmp_path: Path) -> None:
    path = tmp_path / "search.db"
    index = FtsSearchIndex(path)
    await index.index_many([search_doc(1, subject="Ørsted")])
    await index.close()
    with sqlite3.connect(path) as conn:  # as if another version had indexed it
        conn.execute("INSERT INTO fts (fts) VALUES ('delete-all')")
        conn.execute("UPDATE meta SET value = 'older' WHERE key = 'fold'")
    index = FtsSearchIndex(path)
    try:
        assert await ids(index, "orsted") == {"e00001"}
    finally:
        await index.close()
    integrity_check(path)
