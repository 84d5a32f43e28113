"""Email documents in SQLite (the embedded adapter).

One row per email, keyed (tenant_id, id). The list-view fields live in a small
``summary`` JSON column beside the full ``document``, so listing never reads a
body. ``sort_key`` is the sort date as integer microseconds since the epoch, so
ordering and keyset pagination are exact.

Conversations: ``thread_id`` and ``dedup_key`` are columns too (indexed), beside the
same fields in the JSON, and so is ``thread_subject``, the normalised subject, indexed
with the date for threading by subject; ``thread_links`` maps a tenant's thread keys
(Message-IDs) to thread ids, as they were when set, and ``thread_merges`` each merged
thread id to the one it lives on in: a merge adds a row there (and restamps the
emails) instead of rewriting links, which spares every link an index by thread (on
the hot path, each index is one more page written per email).
"""

from __future__ import annotations

import builtins  # ``list`` is a method of the stores below
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inboxhub.adapters import sqlite_changes
from inboxhub.adapters.sqlite_thread import READERS, SqliteThread, in_chunks, marks
from inboxhub.domain.encoded import EncodedEmail, encode
from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import EmailDocument, EmailSummary, Flags
from inboxhub.ports import (
    TOMBSTONE_RETENTION,
    ChangeState,
    EmailChanges,
    LabelCount,
    ListCursor,
    SubjectThread,
    ThreadChanges,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS emails (
  tenant_id TEXT NOT NULL, id TEXT NOT NULL, mailbox_id TEXT NOT NULL,
  sort_key INTEGER NOT NULL, schema_version INTEGER NOT NULL,
  summary TEXT NOT NULL, document TEXT NOT NULL,
  UNIQUE (tenant_id, id)
);
CREATE INDEX IF NOT EXISTS emails_by_mailbox
  ON emails (tenant_id, mailbox_id, sort_key DESC, id DESC);
CREATE INDEX IF NOT EXISTS emails_by_date ON emails (tenant_id, sort_key DESC, id DESC);
CREATE TABLE IF NOT EXISTS thread_links (
  tenant_id TEXT NOT NULL, key TEXT NOT NULL, thread_id TEXT NOT NULL,
  PRIMARY KEY (tenant_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS thread_merges (
  tenant_id TEXT NOT NULL, thread_id TEXT NOT NULL, merged_into TEXT NOT NULL,
  PRIMARY KEY (tenant_id, thread_id)
) WITHOUT ROWID;
"""
# Columns added since the first version, with what older rows get.
ADDED_COLUMNS = {
    "thread_id": "TEXT NOT NULL DEFAULT ''",
    "dedup_key": "TEXT NOT NULL DEFAULT ''",
    "thread_subject": "TEXT NOT NULL DEFAULT ''",
    **sqlite_changes.COLUMNS,  # the trash and changes
}
ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS emails_by_thread
  ON emails (tenant_id, thread_id, sort_key DESC, id DESC, mailbox_id, trashed);
CREATE INDEX IF NOT EXISTS emails_by_dedup ON emails (tenant_id, dedup_key) WHERE dedup_key != '';
CREATE INDEX IF NOT EXISTS emails_by_thread_subject
  ON emails (tenant_id, thread_subject, sort_key, thread_id) WHERE thread_subject != '';
"""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring an emails table made by an older version up to date, in place."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(emails)")}
    for name, definition in ADDED_COLUMNS.items():
        if name not in have:
            conn.execute(f"ALTER TABLE emails ADD COLUMN {name} {definition}")
    for statement in (ADDED_INDEXES + sqlite_changes.INDEXES).split(";"):
        if statement.strip():
            conn.execute(statement)
    if "trashed" not in have:
        sqlite_changes.backfill(conn)


def sort_key(when: datetime) -> int:
    delta = when.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_sort_key(key: int) -> datetime:
    return EPOCH + timedelta(microseconds=key)


class SqliteEmailStore:
    def __init__(self, path: Path, tombstone_retention: timedelta = TOMBSTONE_RETENTION) -> None:
        self.db = SqliteThread(path, SCHEMA + sqlite_changes.SCHEMA, upgrade, readers=READERS)
        self.tombstone_retention = tombstone_retention

    async def upsert_many(self, emails: Sequence[EmailDocument]) -> None:
        await self.upsert_encoded([encode(e) for e in emails])

    async def upsert_encoded(self, emails: Sequence[EncodedEmail]) -> None:
        rows = [
            (
                e.tenant_id,
                e.id,
                e.mailbox_id,
                sort_key(e.sort_date),
                e.schema_version,
                e.summary_json,
                e.document_json,
                e.thread_id,
                e.dedup_key,
                e.thread.subject,
                e.trashed,
            )
            for e in emails
        ]

        def write(conn: sqlite3.Connection) -> None:
            modseq = sqlite_changes.stamp(conn)
            conn.executemany(
                "INSERT INTO emails (tenant_id, id, mailbox_id, sort_key, schema_version, "
                "summary, document, thread_id, dedup_key, thread_subject, trashed, modseq, "
                "created_modseq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, id) DO UPDATE SET mailbox_id = excluded.mailbox_id, "
                "sort_key = excluded.sort_key, schema_version = excluded.schema_version, "
                "summary = excluded.summary, document = excluded.document, "
                "thread_id = excluded.thread_id, dedup_key = excluded.dedup_key, "
                "thread_subject = excluded.thread_subject, "
                "trashed = excluded.trashed, modseq = excluded.modseq",
                [(*row, modseq, modseq) for row in rows],
            )

        if rows:
            await self.db.write(write)

    async def _select(self, column: str, tenant_id: str, ids: Sequence[str]) -> dict[str, str]:
        def read(conn: sqlite3.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for chunk in in_chunks(ids):
                found.update(
                    conn.execute(
                        f"SELECT id, {column} FROM emails WHERE tenant_id = ? AND id IN "
                        f"({marks(len(chunk))})",
                        (tenant_id, *chunk),
                    ).fetchall()
                )
            return found

        return await self.db.read(read) if ids else {}

    async def get(self, tenant_id: str, email_id: str) -> EmailDocument | None:
        found = await self.get_many(tenant_id, [email_id])
        return found[0] if found else None

    async def get_many(self, tenant_id: str, ids: Sequence[str]) -> list[EmailDocument]:
        found = await self._select("document", tenant_id, ids)
        return [EmailDocument.model_validate_json(found[i]) for i in ids if i in found]

    async def summaries(self, tenant_id: str, ids: Sequence[str]) -> list[EmailSummary]:
        found = await self._select("summary", tenant_id, ids)
        return [EmailSummary.model_validate_json(found[i]) for i in ids if i in found]

    async def list(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        limit: int,
        after: ListCursor | None = None,
        trash: bool | None = None,
    ) -> list[EmailSummary]:
        if not mailbox_ids:
            return []
        sql = (
            f"SELECT summary FROM emails WHERE tenant_id = ? AND mailbox_id IN "
            f"({marks(len(mailbox_ids))})"
        )
        args: list[object] = [tenant_id, *mailbox_ids]
        if trash is not None:
            sql += f" AND {sqlite_changes.IN_TRASH if trash else sqlite_changes.NOT_IN_TRASH}"
        if after is not None:
            sql += " AND (sort_key < ? OR (sort_key = ? AND id < ?))"
            key = sort_key(after.sort_date)
            args += [key, key, after.id]
        sql += " ORDER BY sort_key DESC, id DESC LIMIT ?"
        args.append(limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [EmailSummary.model_validate_json(r[0]) for r in rows]

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM emails WHERE tenant_id = ?", [tenant_id]
        if mailbox_ids is not None:
            sql += f" AND mailbox_id IN ({marks(len(mailbox_ids))})"
            args += list(mailbox_ids)
        row = await self.db.read(lambda c: c.execute(sql, args).fetchone())
        return int(row[0])

    async def count_unread(self, tenant_id: str, mailbox_ids: Sequence[str]) -> dict[str, int]:
        boxes = sorted(set(mailbox_ids))
        counts = dict.fromkeys(boxes, 0)

        def read(conn: sqlite3.Connection) -> None:
            # the (tenant_id, mailbox_id, …) index narrows to the mailboxes; the flag
            # is read from the small summary JSON, never from the document
            for chunk in in_chunks(boxes):
                counts.update(
                    conn.execute(
                        "SELECT mailbox_id, COUNT(*) FROM emails WHERE tenant_id = ? "
                        f"AND mailbox_id IN ({marks(len(chunk))}) "
                        "AND NOT coalesce(json_extract(summary, '$.flags.seen'), 0) "
                        f"AND {sqlite_changes.NOT_IN_TRASH} GROUP BY mailbox_id",
                        (tenant_id, *chunk),
                    ).fetchall()
                )

        if boxes:
            await self.db.read(read)
        return counts

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]:
        def read(conn: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for chunk in in_chunks(ids):
                found.update(
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM emails WHERE tenant_id = ? AND id IN "
                        f"({marks(len(chunk))})",
                        (tenant_id, *chunk),
                    )
                )
            return found

        return await self.db.read(read) if ids else set()

    async def set_flags(
        self, tenant_id: str, email_id: str, flags: Flags, labels: Sequence[str] | None = None
    ) -> bool:
        # one UPDATE, the same JSON paths set in the summary and the document
        paths, values = ["'$.flags', json(?)"], [flags.model_dump_json()]
        sql = "trashed = trashed"
        if labels is not None:
            paths.append("'$.labels', json(?)")
            values.append(json.dumps(list(labels)))
            sql = f"trashed = {int(in_trash(labels))}"
        patch = ", ".join(paths)

        def write(conn: sqlite3.Connection) -> bool:
            modseq = sqlite_changes.stamp(conn)
            return bool(
                conn.execute(
                    f"UPDATE emails SET summary = json_set(summary, {patch}), "
                    f"document = json_set(document, {patch}), {sql}, modseq = ? "
                    "WHERE tenant_id = ? AND id = ?",
                    (*values, *values, modseq, tenant_id, email_id),
                ).rowcount
            )

        return await self.db.write(write)

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        retention = self.tombstone_retention

        def write(conn: sqlite3.Connection) -> int:
            return sqlite_changes.delete(conn, tenant_id, ids, retention)

        return await self.db.write(write) if ids else 0

    async def delete_tenant(self, tenant_id: str) -> int:
        def write(conn: sqlite3.Connection) -> int:
            for table in ("thread_links", "thread_merges"):
                conn.execute(f"DELETE FROM {table} WHERE tenant_id = ?", (tenant_id,))
            sqlite_changes.forget_tenant(conn, tenant_id)
            return conn.execute("DELETE FROM emails WHERE tenant_id = ?", (tenant_id,)).rowcount

        return await self.db.write(write)

    # ------------------------------------------------------------ conversations

    async def thread_links(self, tenant_id: str, keys: Sequence[str]) -> dict[str, str]:
        def read(conn: sqlite3.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for chunk in in_chunks(list(dict.fromkeys(keys))):
                found.update(
                    conn.execute(
                        "SELECT key, coalesce(m.merged_into, l.thread_id) FROM thread_links l "
                        "LEFT JOIN thread_merges m USING (tenant_id, thread_id) "
                        f"WHERE tenant_id = ? AND key IN ({marks(len(chunk))})",
                        (tenant_id, *chunk),
                    ).fetchall()
                )
            return found

        return await self.db.read(read) if keys else {}

    async def subject_threads(
        self, tenant_id: str, subjects: Sequence[str], since: datetime, until: datetime
    ) -> builtins.list[SubjectThread]:
        def read(conn: sqlite3.Connection) -> list[SubjectThread]:
            found: list[SubjectThread] = []
            for chunk in in_chunks(sorted(set(subjects))):
                rows = conn.execute(
                    "SELECT thread_subject, thread_id, min(sort_key), max(sort_key) FROM emails "
                    f"WHERE tenant_id = ? AND thread_subject IN ({marks(len(chunk))}) "
                    "AND thread_subject != '' AND sort_key BETWEEN ? AND ? AND thread_id != '' "
                    "GROUP BY thread_subject, thread_id",
                    (tenant_id, *chunk, sort_key(since), sort_key(until)),
                )
                found += [
                    SubjectThread(s, t, from_sort_key(first), from_sort_key(last))
                    for s, t, first, last in rows
                ]
            return found

        return await self.db.read(read) if subjects else []

    async def save_threads(self, tenant_id: str, changes: ThreadChanges) -> None:
        def write(conn: sqlite3.Connection) -> None:
            for old, new in changes.merged.items():
                _merge_thread(conn, tenant_id, old, new)
            conn.executemany(
                "INSERT INTO thread_links VALUES (?, ?, ?) ON CONFLICT (tenant_id, key) "
                "DO UPDATE SET thread_id = excluded.thread_id",
                [(tenant_id, k, t) for k, t in changes.links.items()],
            )

        if changes.merged or changes.links:
            await self.db.write(write)

    async def list_threads(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        limit: int,
        after: ListCursor | None = None,
    ) -> builtins.list[EmailSummary]:
        if not mailbox_ids or limit <= 0:
            return []
        boxes = marks(len(mailbox_ids))
        # An email stands for its thread when no email of the thread in these
        # mailboxes sorts before it (the emails_by_thread index answers that).
        sql = (
            "SELECT summary FROM emails e WHERE tenant_id = ? "
            f"AND mailbox_id IN ({boxes}) AND thread_id != '' AND trashed = 0"
        )
        args: list[object] = [tenant_id, *mailbox_ids]
        if after is not None:
            sql += " AND (sort_key < ? OR (sort_key = ? AND id < ?))"
            key = sort_key(after.sort_date)
            args += [key, key, after.id]
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM emails f WHERE f.tenant_id = e.tenant_id "
            f"AND f.thread_id = e.thread_id AND f.mailbox_id IN ({boxes}) AND f.trashed = 0 "
            "AND (f.sort_key > e.sort_key OR (f.sort_key = e.sort_key AND f.id > e.id))) "
            "ORDER BY sort_key DESC, id DESC LIMIT ?"
        )
        args += [*mailbox_ids, limit]
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [EmailSummary.model_validate_json(r[0]) for r in rows]

    async def thread_emails(
        self, tenant_id: str, thread_ids: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        return await self._summaries_where("thread_id", tenant_id, thread_ids)

    async def duplicates(
        self, tenant_id: str, dedup_keys: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        return await self._summaries_where("dedup_key", tenant_id, dedup_keys)

    async def _summaries_where(
        self, column: str, tenant_id: str, values: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        """Summaries of the emails whose ``column`` is one of ``values`` (never "")."""
        wanted = sorted(set(values) - {""})

        def read(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
            rows: list[tuple[int, str, str]] = []
            for chunk in in_chunks(wanted):
                rows += conn.execute(
                    f"SELECT sort_key, id, summary FROM emails WHERE tenant_id = ? "
                    f"AND {column} != '' AND {column} IN ({marks(len(chunk))})",
                    (tenant_id, *chunk),
                ).fetchall()
            return sorted(rows)

        rows = await self.db.read(read) if wanted else []
        return [EmailSummary.model_validate_json(summary) for _, _, summary in rows]

    # ------------------------------------------------------------ labels and changes

    async def label_counts(
        self, tenant_id: str, mailbox_ids: Sequence[str]
    ) -> Sequence[LabelCount]:
        if not mailbox_ids:
            return []
        return await self.db.read(lambda c: sqlite_changes.label_counts(c, tenant_id, mailbox_ids))

    async def change_state(self, tenant_id: str) -> ChangeState:
        return ChangeState(await self.db.read(sqlite_changes.last_stamp))

    async def changes(self, tenant_id: str, since: ChangeState, limit: int) -> EmailChanges:
        return await self.db.read(lambda c: sqlite_changes.changes(c, tenant_id, since, limit))

    async def ping(self) -> None:
        await self.db.read(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self.db.close()


def _merge_thread(conn: sqlite3.Connection, tenant_id: str, old: str, new: str) -> None:
    """Every email and link of thread ``old`` moves to thread ``new``."""
    conn.execute(
        "UPDATE emails SET thread_id = ?1, summary = json_set(summary, '$.thread_id', ?1), "
        "document = json_set(document, '$.thread_id', ?1), modseq = ?4 "
        "WHERE tenant_id = ?2 AND thread_id = ?3",
        (new, tenant_id, old, sqlite_changes.stamp(conn)),
    )
    # links keep the id they were set with; the merges say where it went (once: a
    # thread merged into ``old`` earlier now goes straight to ``new``)
    conn.execute(
        "INSERT INTO thread_merges VALUES (?, ?, ?) ON CONFLICT (tenant_id, thread_id) "
        "DO UPDATE SET merged_into = excluded.merged_into",
        (tenant_id, old, new),
    )
    conn.execute(
        "UPDATE thread_merges SET merged_into = ? WHERE tenant_id = ? AND merged_into = ?",
        (new, tenant_id, old),
    )
