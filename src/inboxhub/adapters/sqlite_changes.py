"""The trash, modseqs, tombstones and label counts of ``docs_sqlite``: functions on a
connection, called inside the adapter's transactions.

Every write transaction takes one stamp from ``email_clock``: the clock now, or one
more than the last stamp if that is later. SQLite lets one writer in at a time, so
stamps follow commit order, and a state read as the last stamp is exact: whatever
commits after it is stamped after it (``EmailStore`` class docstring).

Tombstones older than the retention are dropped by the next deletion of their tenant;
``email_change_floor`` keeps the newest modseq dropped, below which a state can no
longer be answered.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import timedelta

from inboxhub.adapters.email_changes import Entry, clock, micros, page
from inboxhub.adapters.sqlite_thread import in_chunks, marks
from inboxhub.domain.errors import CannotCalculateChanges
from inboxhub.domain.labels import in_trash, is_trash
from inboxhub.ports import ChangeState, EmailChanges, LabelCount

SCHEMA = """
CREATE TABLE IF NOT EXISTS email_tombstones (
  tenant_id TEXT NOT NULL, id TEXT NOT NULL, mailbox_id TEXT NOT NULL,
  modseq INTEGER NOT NULL, created_modseq INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS email_tombstones_by_modseq ON email_tombstones (tenant_id, modseq, id);
CREATE TABLE IF NOT EXISTS email_clock (
  one INTEGER PRIMARY KEY CHECK (one = 1), last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS email_change_floor (
  tenant_id TEXT PRIMARY KEY, modseq INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Columns of ``emails`` (added to older files by docs_sqlite.upgrade) and their indexes.
COLUMNS = {
    "trashed": "INTEGER NOT NULL DEFAULT 0",
    "modseq": "INTEGER NOT NULL DEFAULT 0",
    "created_modseq": "INTEGER NOT NULL DEFAULT 0",
}
INDEXES = """
CREATE INDEX IF NOT EXISTS emails_by_modseq ON emails (tenant_id, modseq, id);
CREATE INDEX IF NOT EXISTS emails_in_trash
  ON emails (tenant_id, mailbox_id, sort_key DESC, id DESC) WHERE trashed = 1;
"""
NOT_IN_TRASH = "trashed = 0"
IN_TRASH = "trashed = 1"  # as the partial index says, so that the planner uses it


def backfill(conn: sqlite3.Connection) -> None:
    """Rows written before these columns: mark those in the trash, and give their
    summaries the provider's message id (which is in their documents)."""
    rows = conn.execute(
        "SELECT rowid, json_extract(summary, '$.labels') FROM emails "
        "WHERE json_array_length(summary, '$.labels') > 0"
    ).fetchall()
    trashed = [(rowid,) for rowid, labels in rows if in_trash(json.loads(labels))]
    conn.executemany("UPDATE emails SET trashed = 1 WHERE rowid = ?", trashed)
    conn.execute(
        "UPDATE emails SET summary = json_set(summary, '$.provider_message_id', "
        "json_extract(document, '$.provider_message_id')) "
        "WHERE json_type(summary, '$.provider_message_id') IS NULL"
    )


def stamp(conn: sqlite3.Connection) -> int:
    """The modseq of this write transaction's changes."""
    row = conn.execute("SELECT last FROM email_clock").fetchone()
    modseq = max(clock(), (row[0] if row else 0) + 1)
    conn.execute(
        "INSERT INTO email_clock VALUES (1, ?) "
        "ON CONFLICT (one) DO UPDATE SET last = excluded.last",
        (modseq,),
    )
    return modseq


def last_stamp(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT last FROM email_clock").fetchone()
    return int(row[0]) if row else 0


def delete(
    conn: sqlite3.Connection, tenant_id: str, ids: Sequence[str], retention: timedelta
) -> int:
    """Delete the emails, leave their tombstones, and drop the tenant's tombstones
    older than ``retention`` (raising its floor)."""
    modseq = stamp(conn)
    deleted = 0
    for chunk in in_chunks(ids):
        where = f"tenant_id = ? AND id IN ({marks(len(chunk))})"
        conn.execute(
            "INSERT INTO email_tombstones SELECT tenant_id, id, mailbox_id, ?, created_modseq "
            f"FROM emails WHERE {where} ON CONFLICT (tenant_id, id) DO UPDATE SET "
            "mailbox_id = excluded.mailbox_id, modseq = excluded.modseq, "
            "created_modseq = excluded.created_modseq",
            (modseq, tenant_id, *chunk),
        )
        deleted += conn.execute(f"DELETE FROM emails WHERE {where}", (tenant_id, *chunk)).rowcount
    _forget_old(conn, tenant_id, modseq - micros(retention))
    return deleted


def _forget_old(conn: sqlite3.Connection, tenant_id: str, before: int) -> None:
    [newest] = conn.execute(
        "SELECT max(modseq) FROM email_tombstones WHERE tenant_id = ? AND modseq < ?",
        (tenant_id, before),
    ).fetchone()
    if newest is None:
        return
    conn.execute(
        "INSERT INTO email_change_floor VALUES (?, ?) ON CONFLICT (tenant_id) "
        "DO UPDATE SET modseq = max(modseq, excluded.modseq)",
        (tenant_id, newest),
    )
    conn.execute(
        "DELETE FROM email_tombstones WHERE tenant_id = ? AND modseq <= ?", (tenant_id, newest)
    )


def forget_tenant(conn: sqlite3.Connection, tenant_id: str) -> None:
    for table in ("email_tombstones", "email_change_floor"):
        conn.execute(f"DELETE FROM {table} WHERE tenant_id = ?", (tenant_id,))


def changes(
    conn: sqlite3.Connection, tenant_id: str, since: ChangeState, limit: int
) -> EmailChanges:
    """Run in one read transaction: the rows and the state are of one snapshot."""
    conn.execute("BEGIN")
    try:
        floor = conn.execute(
            "SELECT modseq FROM email_change_floor WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        if floor is not None and since.modseq < floor[0]:
            raise CannotCalculateChanges(
                "deletions since that state are forgotten: list everything again"
            )
        watermark = last_stamp(conn)
        args: list[object]
        if since.id is None:
            after, args = "modseq > ?", [since.modseq]
        else:
            after, args = "(modseq, id) > (?, ?)", [since.modseq, since.id]
        entries: list[Entry] = []
        for table, gone in (("emails", False), ("email_tombstones", True)):
            rows = conn.execute(
                f"SELECT id, modseq, created_modseq FROM {table} WHERE tenant_id = ? "
                f"AND {after} AND modseq <= ? ORDER BY modseq, id LIMIT ?",
                (tenant_id, *args, watermark, limit + 1),
            )
            entries += [Entry(i, m, c, gone) for i, m, c in rows]
    finally:
        conn.execute("COMMIT")
    return page(since, entries, limit, watermark)


def label_counts(
    conn: sqlite3.Connection, tenant_id: str, mailbox_ids: Sequence[str]
) -> list[LabelCount]:
    """One grouped query over the mailboxes' summaries (json_each of each one's
    labels), grouped by name and by whether the email is in the trash; an email in
    the trash counts under its trash labels only."""
    rows = conn.execute(
        "SELECT j.value, e.trashed, COUNT(*), "
        "SUM(NOT coalesce(json_extract(e.summary, '$.flags.seen'), 0)) "
        "FROM emails e, json_each(e.summary, '$.labels') j "
        "WHERE e.tenant_id = ? AND e.mailbox_id IN (SELECT value FROM json_each(?)) "
        "GROUP BY j.value, e.trashed",
        (tenant_id, _json_list(mailbox_ids)),
    ).fetchall()
    counts: dict[str, tuple[int, int]] = {}
    for name, trashed, total, unread in rows:
        if trashed and not is_trash(name):
            continue
        before = counts.get(name, (0, 0))
        counts[name] = (before[0] + total, before[1] + unread)
    return [LabelCount(n, t, u) for n, (t, u) in sorted(counts.items())]


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(sorted(set(values)))
