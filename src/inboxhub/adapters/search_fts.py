"""Search on SQLite FTS5 (the embedded adapter).

``docs`` holds the filter columns (tenant, mailbox, date, flags), ``doc_text`` the
text as given and ``fts`` the words of it, joined by rowid; ``doc_values`` the filters
with many values per email (``label``, ``list``, ``delivered_to`` and exact address
keys, see ``search_query.index_values``), by ``docs`` rowid. Every query is restricted
to one tenant and a set of mailboxes in SQL, whatever the user typed.

Words: the ``unicode61`` tokenizer with ``remove_diacritics 2`` folds case and
accents ("resume" finds "Résumé") and splits addresses into local part and domain, so
``alice@example.com`` is found by the whole address (a phrase of its tokens), by
``alice`` or by ``example.com``. It leaves ``ø``, ``ß``, ``ł`` and the like, so the
text is folded first (``domain/folding.py``, the table Elasticsearch uses too) and
``fts`` is an external-content table over ``doc_text``: it indexes the folded text
while snippets are cut from the original (folding never moves a word boundary, so
the positions agree). Deleting a row's words needs the folded text it was indexed
with, which is the original folded again; the fold table's version is kept in
``meta``, and a file indexed with another table (or made before ``doc_text``, when
``fts`` held the text itself) is rebuilt once when opened (``_upgrade``).

The schema otherwise only grows by ``IF NOT EXISTS`` statements, run at every open,
so a ``search.db`` made before a table existed gets it in place (``doc_values`` came
with ``label:``, ``list:`` and ``deliveredto:``; emails indexed before then have no
values until indexed again).
"""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from inboxhub.adapters.docs_sqlite import sort_key
from inboxhub.adapters.fts_query import compile_match, compile_where, split_filters
from inboxhub.adapters.sqlite_thread import READERS, SqliteThread, in_chunks, marks
from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.folding import FOLD_VERSION, fold, normalise
from inboxhub.domain.models import SearchDocument, SearchHit, SearchPage
from inboxhub.domain.search_query import TOTAL_CAP, Node, index_values
from inboxhub.domain.tokens import BAD_CURSOR, decode_token, encode_token

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
  rowid INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, id TEXT NOT NULL,
  mailbox_id TEXT NOT NULL, sort_key INTEGER NOT NULL,
  has_attachments INTEGER NOT NULL, seen INTEGER NOT NULL, flagged INTEGER NOT NULL,
  size INTEGER NOT NULL DEFAULT 0, sender_domain TEXT NOT NULL DEFAULT '',
  message_id TEXT NOT NULL DEFAULT '',
  UNIQUE (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS docs_by_message_id ON docs (tenant_id, message_id);
CREATE INDEX IF NOT EXISTS docs_by_mailbox ON docs (tenant_id, mailbox_id, sort_key DESC, id);
CREATE INDEX IF NOT EXISTS docs_by_date ON docs (tenant_id, sort_key DESC, id DESC);
CREATE TABLE IF NOT EXISTS doc_values (
  doc INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (kind, value, doc)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_values_by_doc ON doc_values (doc);
CREATE TABLE IF NOT EXISTS doc_text (
  rowid INTEGER PRIMARY KEY, subject TEXT, from_text TEXT, to_text TEXT, body TEXT,
  attachment_names TEXT, cc_text TEXT, bcc_text TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# The text columns, in the order of doc_text and fts: to_text is every recipient,
# cc_text and bcc_text those of one header (cc:, bcc:).
TEXT_COLUMNS = (
    "subject",
    "from_text",
    "to_text",
    "body",
    "attachment_names",
    "cc_text",
    "bcc_text",
)
FTS_TABLE = (
    f"CREATE VIRTUAL TABLE fts USING fts5({', '.join(TEXT_COLUMNS)}, "
    "content = 'doc_text', content_rowid = 'rowid', "
    "tokenize = 'unicode61 remove_diacritics 2')"
)
# bm25 weights per column: subject, from, to, body, attachment names; cc and bcc
# are also in to_text, so they add nothing.
WEIGHTS = "10.0, 5.0, 3.0, 1.0, 4.0, 0.0, 0.0"
OPEN, CLOSE = "\x02", "\x03"  # private markers, turned into <mark> after escaping
HIGHLIGHT_COLUMNS = {"subject": 0, "from": 1, "to": 2, "body": 3, "attachment": 4}
MAX_BODY = 1_000_000  # characters of body text indexed per email
# A newest-first page of at least this many matches walks the scope by date, probing
# a set of the matching rowids, and stops at the page's end; fewer are sorted.
WALK_FROM = 2_000


def _values(d: SearchDocument) -> list[tuple[str, str]]:
    """``doc_values`` rows (kind, value) of one email: the keys its filters match."""
    fields = {
        "label": d.labels,
        "list": d.list_ids,
        "delivered_to": d.delivered_to,
        "from_address": [d.from_text],
        "to_address": [d.to_text],
        "cc_address": [d.cc_text],
        "bcc_address": [d.bcc_text],
    }
    return [(kind, key) for kind, values in fields.items() for key in index_values(kind, values)]


def _texts(d: SearchDocument) -> tuple[str, ...]:
    """The email's text columns as ``doc_text`` keeps them (``TEXT_COLUMNS``)."""
    columns = (
        d.subject,
        d.from_text,
        d.to_text,
        d.body[:MAX_BODY],
        d.attachment_names,
        d.cc_text,
        d.bcc_text,
    )
    return tuple(normalise(c) for c in columns)


_COLUMN_LIST = ", ".join(TEXT_COLUMNS)
_MARKS = ", ?" * len(TEXT_COLUMNS)
_INSERT_TEXT = f"INSERT INTO doc_text (rowid, {_COLUMN_LIST}) VALUES (?{_MARKS})"
_INSERT_WORDS = f"INSERT INTO fts (rowid, {_COLUMN_LIST}) VALUES (?{_MARKS})"
_DELETE_WORDS = f"INSERT INTO fts (fts, rowid, {_COLUMN_LIST}) VALUES ('delete', ?{_MARKS})"


def _add_words(conn: sqlite3.Connection, rowid: int, texts: Sequence[str | None]) -> None:
    conn.execute(_INSERT_WORDS, (rowid, *(fold(t or "") for t in texts)))


def _drop_texts(conn: sqlite3.Connection, rowids: Sequence[int]) -> None:
    """Remove the text and words of ``rowids`` (those that have any)."""
    for chunk in in_chunks(rowids):
        rows = conn.execute(
            f"SELECT rowid, {_COLUMN_LIST} FROM doc_text WHERE rowid IN ({marks(len(chunk))})",
            chunk,
        ).fetchall()
        for rowid, *texts in rows:
            conn.execute(_DELETE_WORDS, (rowid, *(fold(t or "") for t in texts)))
        conn.execute(f"DELETE FROM doc_text WHERE rowid IN ({marks(len(chunk))})", chunk)


def _upgrade(conn: sqlite3.Connection) -> None:
    """Make ``fts`` index ``doc_text`` folded by this version's table (see the module
    docstring): move the text out of an old self-contained ``fts``, and rebuild the
    words if they were folded by another table. A no-op when already so."""
    (fts_sql,) = conn.execute(
        "SELECT coalesce(max(sql), '') FROM sqlite_master WHERE name = 'fts'"
    ).fetchone()
    version = conn.execute("SELECT value FROM meta WHERE key = 'fold'").fetchone()
    if "doc_text" in fts_sql and version == (FOLD_VERSION,):
        return
    if fts_sql and "doc_text" not in fts_sql:  # before doc_text: fts held the text
        old = ", ".join(TEXT_COLUMNS[:5])
        conn.execute(f"INSERT OR REPLACE INTO doc_text (rowid, {old}) SELECT rowid, {old} FROM fts")
        conn.execute("DROP TABLE fts")
        fts_sql = ""
        # exact addresses (from:a@x.org) are doc_values now; cc and bcc were not kept
        for rowid, from_text, to_text in conn.execute(
            "SELECT rowid, from_text, to_text FROM doc_text"
        ).fetchall():
            conn.executemany(
                "INSERT OR IGNORE INTO doc_values (doc, kind, value) VALUES (?, ?, ?)",
                [
                    (rowid, kind, key)
                    for kind, text in (("from_address", from_text), ("to_address", to_text))
                    for key in index_values(kind, [text or ""])
                ],
            )
    if not fts_sql:
        conn.execute(FTS_TABLE)
    else:
        conn.execute("INSERT INTO fts (fts) VALUES ('delete-all')")
    for rowid, *texts in conn.execute(f"SELECT rowid, {_COLUMN_LIST} FROM doc_text"):
        _add_words(conn, rowid, texts)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('fold', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (FOLD_VERSION,),
    )


def _highlight(fragment: str | None) -> str | None:
    if not fragment or OPEN not in fragment:
        return None
    escaped = html.escape(fragment.replace("\x00", ""), quote=False)
    return escaped.replace(OPEN, "<mark>").replace(CLOSE, "</mark>")


def _decode(token: str) -> dict[str, object]:
    data = decode_token(token)
    if not isinstance(data, dict):
        raise InvalidInput(BAD_CURSOR)
    return data


def _count(conn: sqlite3.Connection, base: str, args: list[object], cap: int) -> tuple[int, bool]:
    """How many emails ``base`` finds, exactly up to ``cap``; and whether exact."""
    sql = f"SELECT COUNT(*) FROM (SELECT 1 {base} LIMIT {int(cap) + 1})"
    found = int(conn.execute(sql, args).fetchone()[0])
    return min(found, cap), found <= cap


def _matching(scope: str, args: list[object], match: str | None) -> tuple[str, list[object]]:
    """``FROM … WHERE …`` of the emails in ``scope`` that ``match`` (None: all), with its
    arguments: shared by the page, its count and the facets."""
    if match is None:
        return f"FROM docs d WHERE {scope}", args
    # CROSS JOIN: the matches drive. Left to itself SQLite may walk the scope's index
    # and run the MATCH once per email (a thousand times slower for COUNT(*)).
    where = f"FROM fts CROSS JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ? AND {scope}"
    return where, [match, *args]


class FtsSearchIndex:
    def __init__(self, path: Path, total_cap: int = TOTAL_CAP, walk_from: int = WALK_FROM) -> None:
        """``total_cap``: totals are exact up to it; ``walk_from``: see ``WALK_FROM``."""
        self.db = SqliteThread(path, SCHEMA, upgrade=_upgrade, readers=READERS)
        self.total_cap, self.walk_from = total_cap, walk_from

    async def index_many(self, docs: Sequence[SearchDocument]) -> None:
        def write(conn: sqlite3.Connection) -> None:
            for d in docs:
                (rowid,) = conn.execute(
                    "INSERT INTO docs (tenant_id, id, mailbox_id, sort_key, has_attachments, "
                    "seen, flagged, size, sender_domain, message_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (tenant_id, id) DO UPDATE SET mailbox_id = excluded.mailbox_id, "
                    "sort_key = excluded.sort_key, has_attachments = excluded.has_attachments, "
                    "seen = excluded.seen, flagged = excluded.flagged, size = excluded.size, "
                    "sender_domain = excluded.sender_domain, message_id = excluded.message_id "
                    "RETURNING rowid",
                    (
                        d.tenant_id,
                        d.id,
                        d.mailbox_id,
                        sort_key(d.sort_date),
                        d.has_attachments,
                        d.seen,
                        d.flagged,
                        d.size,
                        d.sender_domain,
                        d.message_id,
                    ),
                ).fetchone()
                _drop_texts(conn, [rowid])
                conn.execute("DELETE FROM doc_values WHERE doc = ?", (rowid,))
                conn.executemany(
                    "INSERT INTO doc_values (doc, kind, value) VALUES (?, ?, ?)",
                    [(rowid, kind, value) for kind, value in _values(d)],
                )
                texts = _texts(d)
                conn.execute(_INSERT_TEXT, (rowid, *texts))
                _add_words(conn, rowid, texts)

        if docs:
            await self.db.write(write)

    async def search(
        self,
        tenant_id: str,
        query: Node,
        mailbox_ids: Sequence[str],
        limit: int,
        cursor: str | None = None,
        order: str = "relevance",
        facets: bool = False,
    ) -> SearchPage:
        if not mailbox_ids:
            return SearchPage(hits=[], total=0)
        scope = f"d.tenant_id = ? AND d.mailbox_id IN ({marks(len(mailbox_ids))})"
        args: list[object] = [tenant_id, *mailbox_ids]
        text, filters = split_filters(query)
        match = compile_match(text)
        # Filters, and negations FTS5 cannot express alone, are SQL conditions.
        for where, extra in map(compile_where, [*filters, *([text] if match is None else [])]):
            scope += f" AND {where}"
            args += extra
        match = match or None  # EVERYTHING: no MATCH at all
        if match is None or order == "date":
            page = await self._by_date(scope, args, match, limit, cursor)
        else:
            page = await self._by_relevance(scope, args, match, limit, cursor)
        if facets:
            page.facets = await self._facets(scope, args, match)
        return page

    async def _facets(
        self, scope: str, args: list[object], match: str | None
    ) -> dict[str, dict[str, int]]:
        base, base_args = _matching(scope, args, match)
        year = "strftime('%Y', d.sort_key / 1000000, 'unixepoch')"
        groups = {
            "mailbox": ("d.mailbox_id", "ORDER BY 2 DESC, 1"),
            "sender_domain": ("d.sender_domain", "ORDER BY 2 DESC, 1 LIMIT 20"),
            "has_attachment": (
                "CASE d.has_attachments WHEN 1 THEN 'true' ELSE 'false' END",
                "ORDER BY 1",
            ),
            "year": (year, "ORDER BY 1 DESC"),
        }

        def read(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
            return {
                name: {
                    str(value): int(n)
                    for value, n in conn.execute(
                        f"SELECT {expr}, COUNT(*) {base} GROUP BY 1 {order}", base_args
                    )
                    if value != ""
                }
                for name, (expr, order) in groups.items()
            }

        return await self.db.read(read)

    def _snippets(self) -> str:
        return ", ".join(
            f"snippet(fts, {col}, '{OPEN}', '{CLOSE}', '…', 16)"
            for col in HIGHLIGHT_COLUMNS.values()
        )

    def _paged(self, page: str, match: str | None, order: str) -> str:
        """``page`` (a query of ``r`` rowid, ``id``, ``score``, ``k`` sort key, already
        ordered and limited) with each row's snippets when ``match`` is given. The
        snippets are cut for the page's rows alone: in one query with the ordering,
        SQLite would cut them for every match before sorting."""
        if match is None:
            return f"SELECT id, score, k FROM ({page})"
        return (
            f"WITH page AS ({page}) SELECT page.id, page.score, page.k, {self._snippets()} "
            f"FROM page CROSS JOIN fts ON fts.rowid = page.r WHERE fts MATCH ? ORDER BY {order}"
        )

    def _hits(self, rows: list[tuple[object, ...]], with_text: bool) -> list[SearchHit]:
        hits = []
        for row in rows:
            highlights: dict[str, list[str]] = {}
            if with_text:
                for name, fragment in zip(HIGHLIGHT_COLUMNS, row[3:], strict=False):
                    if marked := _highlight(fragment):  # type: ignore[arg-type]
                        highlights[name] = [marked]
            score = row[1] if isinstance(row[1], int | float) else 0.0
            hits.append(SearchHit(id=str(row[0]), score=float(score), highlights=highlights))
        return hits

    async def _by_relevance(
        self, scope: str, args: list[object], match: str, limit: int, cursor: str | None
    ) -> SearchPage:
        offset = int(_decode(cursor).get("o", 0)) if cursor else 0  # type: ignore[call-overload]
        base, base_args = _matching(scope, args, match)
        page = (
            f"SELECT d.rowid AS r, d.id AS id, -bm25(fts, {WEIGHTS}) AS score, d.sort_key AS k "
            f"{base} ORDER BY score DESC, k DESC, id LIMIT ? OFFSET ?"
        )
        sql = self._paged(page, match, "page.score DESC, page.k DESC, page.id")

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], tuple[int, bool]]:
            rows = conn.execute(sql, [*base_args, limit + 1, offset, match]).fetchall()
            return rows, _count(conn, base, base_args, self.total_cap)

        rows, (total, exact) = await self.db.read(read)
        more = len(rows) > limit
        return SearchPage(
            hits=self._hits(rows[:limit], True),
            total=total,
            total_exact=exact,
            next_cursor=encode_token({"o": offset + limit}) if more else None,
        )

    async def _by_date(
        self, scope: str, args: list[object], match: str | None, limit: int, cursor: str | None
    ) -> SearchPage:
        after = ""
        page_args: list[object] = []
        if cursor:
            c = _decode(cursor)
            after = " AND (d.sort_key < ? OR (d.sort_key = ? AND d.id < ?))"
            page_args = [c.get("k"), c.get("k"), c.get("i")]
        base, base_args = _matching(scope, args, match)
        columns = "SELECT d.rowid AS r, d.id AS id, 0 AS score, d.sort_key AS k"
        order = "ORDER BY k DESC, id DESC LIMIT ?"
        # Few matches: sort them. Many: walk the scope newest first, each email probed
        # against the set of matching rowids, until the page is full (a set, not a
        # MATCH per email: one MATCH costs as much for one email as for all).
        sorted_page = f"{columns} {base}{after} {order}", [*base_args, *page_args]
        walked_page = (
            f"{columns} FROM docs d WHERE {scope} AND d.rowid IN "
            f"(SELECT rowid FROM fts WHERE fts MATCH ?){after} {order}",
            [*args, match, *page_args],
        )
        snippet_args = [match] if match is not None else []

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], tuple[int, bool]]:
            total, exact = _count(conn, base, base_args, self.total_cap)
            walk = match is not None and total >= self.walk_from
            page_sql, params = walked_page if walk else sorted_page
            sql = self._paged(page_sql, match, "page.k DESC, page.id DESC")
            rows = conn.execute(sql, [*params, limit + 1, *snippet_args]).fetchall()
            return rows, (total, exact)

        rows, (total, exact) = await self.db.read(read)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_token({"k": rows[-1][2], "i": rows[-1][0]}) if more and rows else None
        return SearchPage(
            hits=self._hits(rows, match is not None),
            total=total,
            total_exact=exact,
            next_cursor=next_cursor,
        )

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM docs WHERE tenant_id = ?", [tenant_id]
        if mailbox_ids is not None:
            sql += f" AND mailbox_id IN ({marks(len(mailbox_ids))})"
            args += list(mailbox_ids)
        return int((await self.db.read(lambda c: c.execute(sql, args).fetchone()))[0])

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]:
        def read(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for chunk in in_chunks(ids):
                found.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM docs WHERE tenant_id = ? AND id IN ({marks(len(chunk))})",
                        (tenant_id, *chunk),
                    )
                )
            return found

        return await self.db.read(read) if ids else set()

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        def write(conn: sqlite3.Connection) -> int:
            deleted = 0
            for chunk in in_chunks(ids):
                rows = conn.execute(
                    f"DELETE FROM docs WHERE tenant_id = ? AND id IN ({marks(len(chunk))}) "
                    "RETURNING rowid",
                    (tenant_id, *chunk),
                ).fetchall()
                _drop_texts(conn, [r[0] for r in rows])
                conn.executemany("DELETE FROM doc_values WHERE doc = ?", rows)
                deleted += len(rows)
            return deleted

        return await self.db.write(write) if ids else 0

    async def delete_tenant(self, tenant_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "DELETE FROM docs WHERE tenant_id = ? RETURNING rowid", (tenant_id,)
            ).fetchall()
            _drop_texts(conn, [r[0] for r in rows])
            conn.executemany("DELETE FROM doc_values WHERE doc = ?", rows)
            return len(rows)

        return await self.db.write(write)

    async def ping(self) -> None:
        await self.db.read(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self.db.close()
