"""Email documents in SQLite (the embedded adapter).

One row per email, keyed (tenant_id, id). The list-view fields live in a small
``summary`` JSON column beside the full ``document``, so listing never reads a
body. ``sort_key`` is the sort date as integer microseconds since the epoch, so
ordering and keyset pagination are exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from inboxhub.adapters.sqlite_thread import SqliteThread, in_chunks, marks
from inboxhub.domain.encoded import EncodedEmail, encode
from inboxhub.domain.models import EmailDocument, EmailSummary, Flags
from inboxhub.ports import ListCursor

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
"""


def sort_key(when: datetime) -> int:
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class SqliteEmailStore:
    def __init__(self, path: Path) -> None:
        self.db = SqliteThread(path, SCHEMA)

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
            )
            for e in emails
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO emails VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) "
                "DO UPDATE SET mailbox_id = excluded.mailbox_id, sort_key = excluded.sort_key, "
                "schema_version = excluded.schema_version, summary = excluded.summary, "
                "document = excluded.document",
                rows,
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

        return await self.db.run(read) if ids else {}

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
    ) -> list[EmailSummary]:
        if not mailbox_ids:
            return []
        sql = (
            f"SELECT summary FROM emails WHERE tenant_id = ? AND mailbox_id IN "
            f"({marks(len(mailbox_ids))})"
        )
        args: list[object] = [tenant_id, *mailbox_ids]
        if after is not None:
            sql += " AND (sort_key < ? OR (sort_key = ? AND id < ?))"
            key = sort_key(after.sort_date)
            args += [key, key, after.id]
        sql += " ORDER BY sort_key DESC, id DESC LIMIT ?"
        args.append(limit)
        rows = await self.db.run(lambda c: c.execute(sql, args).fetchall())
        return [EmailSummary.model_validate_json(r[0]) for r in rows]

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM emails WHERE tenant_id = ?", [tenant_id]
        if mailbox_ids is not None:
            sql += f" AND mailbox_id IN ({marks(len(mailbox_ids))})"
            args += list(mailbox_ids)
        row = await self.db.run(lambda c: c.execute(sql, args).fetchone())
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
                        "GROUP BY mailbox_id",
                        (tenant_id, *chunk),
                    ).fetchall()
                )

        if boxes:
            await self.db.run(read)
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

        return await self.db.run(read) if ids else set()

    async def set_flags(
        self, tenant_id: str, email_id: str, flags: Flags, labels: Sequence[str] | None = None
    ) -> bool:
        doc = await self.get(tenant_id, email_id)
        if doc is None:
            return False
        change: dict[str, object] = {"flags": flags}
        if labels is not None:
            change["labels"] = list(labels)
        await self.upsert_many([doc.model_copy(update=change)])
        return True

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        def write(conn: sqlite3.Connection) -> int:
            return sum(
                conn.execute(
                    f"DELETE FROM emails WHERE tenant_id = ? AND id IN ({marks(len(chunk))})",
                    (tenant_id, *chunk),
                ).rowcount
                for chunk in in_chunks(ids)
            )

        return await self.db.write(write) if ids else 0

    async def delete_tenant(self, tenant_id: str) -> int:
        return await self.db.write(
            lambda c: c.execute("DELETE FROM emails WHERE tenant_id = ?", (tenant_id,)).rowcount
        )

    async def ping(self) -> None:
        await self.db.run(lambda c: c.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self.db.close()
