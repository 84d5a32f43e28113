"""Search on SQLite FTS5 (the embedded adapter).

``docs`` holds the filter columns (tenant, mailbox, date, flags) and ``fts`` the text,
joined by rowid; ``doc_values`` the filters with many values per email (``label``,
``list`` and ``delivered_to`` keys, see ``search_query.index_values``), by ``docs``
rowid. The schema only ever grows by ``IF NOT EXISTS`` statements, run at every open,
so a ``search.db`` made before a table existed gets it in place (``doc_values`` came
with ``label:``, ``list:`` and ``deliveredto:``; emails indexed before then have no
values until indexed again). Every query is restricted to one tenant and a set of mailboxes in
SQL, whatever the user typed. The ``unicode61`` tokenizer with
``remove_diacritics 2`` folds case and accents ("resume" finds "Résumé"), and splits
addresses into local part and domain, so ``alice@example.com`` is found by the whole
address (a phrase of its tokens), by ``alice`` or by ``example.com``.
"""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from inboxhub.adapters.docs_sqlite import sort_key
from inboxhub.adapters.fts_query import compile_match, compile_where, split_filters
from inboxhub.adapters.sqlite_thread import SqliteThread, in_chunks, marks
from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.models import SearchDocument, SearchHit, SearchPage
from inboxhub.domain.search_query import Node, index_values
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
CREATE TABLE IF NOT EXISTS doc_values (
  doc INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (kind, value, doc)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS doc_values_by_doc ON doc_values (doc);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
  subject, from_text, to_text, body, attachment_names,
  tokenize = "unicode61 remove_diacritics 2"
);
"""
# bm25 weights per column: subject, from, to, body, attachment names.
WEIGHTS = "10.0, 5.0, 3.0, 1.0, 4.0"
OPEN, CLOSE = "\x02", "\x03"  # private markers, turned into <mark> after escaping
HIGHLIGHT_COLUMNS = {"subject": 0, "from": 1, "to": 2, "body": 3, "attachment": 4}
MAX_BODY = 1_000_000  # characters of body text indexed per email


def _values(d: SearchDocument) -> list[tuple[str, str]]:
    """``doc_values`` rows (kind, value) of one email: the keys its filters match."""
    fields = {"label": d.labels, "list": d.list_ids, "delivered_to": d.delivered_to}
    return [(kind, key) for kind, values in fields.items() for key in index_values(kind, values)]


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


def _matching(scope: str, args: list[object], match: str | None) -> tuple[str, list[object]]:
    """``FROM … WHERE …`` of the emails in ``scope`` that ``match`` (None: all), with its
    arguments: shared by the page, its count and the facets."""
    if match is None:
        return f"FROM docs d WHERE {scope}", args
    where = f"FROM fts JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ? AND {scope}"
    return where, [match, *args]


class FtsSearchIndex:
    def __init__(self, path: Path) -> None:
        self.db = SqliteThread(path, SCHEMA)

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
                conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
                conn.execute("DELETE FROM doc_values WHERE doc = ?", (rowid,))
                conn.executemany(
                    "INSERT INTO doc_values (doc, kind, value) VALUES (?, ?, ?)",
                    [(rowid, kind, value) for kind, value in _values(d)],
                )
                conn.execute(
                    "INSERT INTO fts (rowid, subject, from_text, to_text, body, attachment_names)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        rowid,
                        d.subject,
                        d.from_text,
                        d.to_text,
                        d.body[:MAX_BODY],
                        d.attachment_names,
                    ),
                )

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

        return await self.db.run(read)

    def _snippets(self) -> str:
        return ", ".join(
            f"snippet(fts, {col}, '{OPEN}', '{CLOSE}', '…', 16)"
            for col in HIGHLIGHT_COLUMNS.values()
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
        sql = (
            f"SELECT d.id, -bm25(fts, {WEIGHTS}) AS score, d.sort_key, {self._snippets()} "
            f"{base} ORDER BY score DESC, d.sort_key DESC, d.id LIMIT ? OFFSET ?"
        )

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], int]:
            rows = conn.execute(sql, [*base_args, limit + 1, offset]).fetchall()
            return rows, conn.execute("SELECT COUNT(*) " + base, base_args).fetchone()[0]

        rows, total = await self.db.run(read)
        more = len(rows) > limit
        return SearchPage(
            hits=self._hits(rows[:limit], True),
            total=total,
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
        columns = "d.id, 0, d.sort_key" + (f", {self._snippets()}" if match else "")
        sql = f"SELECT {columns} {base}{after} ORDER BY d.sort_key DESC, d.id DESC LIMIT ?"

        def read(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], int]:
            rows = conn.execute(sql, [*base_args, *page_args, limit + 1]).fetchall()
            return rows, conn.execute("SELECT COUNT(*) " + base, base_args).fetchone()[0]

        rows, total = await self.db.run(read)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_token({"k": rows[-1][2], "i": rows[-1][0]}) if more and rows else None
        return SearchPage(
            hits=self._hits(rows, match is not None), total=total, next_cursor=next_cursor
        )

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM docs WHERE tenant_id = ?", [tenant_id]
        if mailbox_ids is not None:
            sql += f" AND mailbox_id IN ({marks(len(mailbox_ids))})"
            args += list(mailbox_ids)
        return int((await self.db.run(lambda c: c.execute(sql, args).fetchone()))[0])

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

        return await self.db.run(read) if ids else set()

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        def write(conn: sqlite3.Connection) -> int:
            deleted = 0
            for chunk in in_chunks(ids):
                rows = conn.execute(
                    f"DELETE FROM docs WHERE tenant_id = ? AND id IN ({marks(len(chunk))}) "
                    "RETURNING rowid",
                    (tenant_id, *chunk),
                ).fetchall()
                conn.executemany("DELETE FROM fts WHERE rowid = ?", rows)
                conn.executemany("DELETE FROM doc_values WHERE doc = ?", rows)
                deleted += len(rows)
            return deleted

        return await self.db.write(write) if ids else 0

    async def delete_tenant(self, tenant_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "DELETE FROM docs WHERE tenant_id = ? RETURNING rowid", (tenant_id,)
            ).fetchall()
            conn.executemany("DELETE FROM fts WHERE rowid = ?", rows)
            conn.executemany("DELETE FROM doc_values WHERE doc = ?", rows)
            return len(rows)

        return await self.db.write(write)

    async def ping(self) -> None:
        await self.db.run(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self.db.close()
