"""The embedded event bus: a durable log in SQLite with Kafka's semantics.

Topics have partitions; a record's partition is a stable hash of its key, so one
key's records keep their order. Consumer groups commit offsets per partition.
Group members may live in different processes sharing the file: each member
heartbeats, and partitions are leased to live members in fair shares (a member
that stops heartbeating loses its leases after ``session_timeout``), so a killed
process's partitions move to the others, as in a Kafka rebalance.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
import uuid
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from inboxhub.adapters.sqlite_thread import SqliteThread
from inboxhub.domain.events import Envelope
from inboxhub.ports import Record, RecordsExpired

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
  key TEXT NOT NULL, headers TEXT NOT NULL, envelope TEXT NOT NULL,
  UNIQUE (topic, partition, offset)
);
CREATE TABLE IF NOT EXISTS offsets (
  grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
  committed INTEGER NOT NULL, PRIMARY KEY (grp, topic, partition)
);
CREATE TABLE IF NOT EXISTS members (
  grp TEXT NOT NULL, member TEXT NOT NULL, heartbeat REAL NOT NULL,
  PRIMARY KEY (grp, member)
);
CREATE TABLE IF NOT EXISTS log_starts (
  topic TEXT NOT NULL, partition INTEGER NOT NULL, start INTEGER NOT NULL,
  PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS leases (
  grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
  member TEXT NOT NULL, expires REAL NOT NULL, PRIMARY KEY (grp, topic, partition)
);
"""


def partition_for(key: str, partitions: int) -> int:
    """Stable across processes and runs (unlike ``hash()``)."""
    return zlib.crc32(key.encode()) % partitions


# The next offset of a partition: after its last record, or where deletion left it.
NEXT_OFFSET = (
    "SELECT MAX(COALESCE((SELECT MAX(offset) + 1 FROM records WHERE topic = ?1 "
    "AND partition = ?2), 0), COALESCE((SELECT start FROM log_starts WHERE topic = ?1 "
    "AND partition = ?2), 0))"
)


def _log_start(conn: sqlite3.Connection, topic: str, partition: int) -> int:
    row = conn.execute(
        "SELECT start FROM log_starts WHERE topic = ? AND partition = ?", (topic, partition)
    ).fetchone()
    return int(row[0]) if row else 0


def _record(row: tuple[str, int, int, str, str]) -> Record:
    topic, partition, offset, headers, envelope = row
    return Record(
        topic, partition, offset, Envelope.model_validate_json(envelope), json.loads(headers)
    )


class SqliteEventBus:
    def __init__(
        self,
        path: Path,
        partitions: int = 4,
        session_timeout: float = 10.0,
        heartbeat_interval: float = 1.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.path = path
        self.partitions = partitions
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self.poll_interval = poll_interval
        self._db: SqliteThread | None = None

    @property
    def url(self) -> str:
        """The bus URL (``INBOXHUB_BUS_URL``) that rebuilds this bus, e.g. in another process."""
        return f"sqlite:///{self.path.absolute()}"

    @property
    def db(self) -> SqliteThread:
        if self._db is None:
            self._db = SqliteThread(self.path, SCHEMA)
        return self._db

    async def start(self) -> None:
        _ = self.db

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def publish(
        self, topic: str, envelopes: Sequence[Envelope], headers: dict[str, str] | None = None
    ) -> None:
        if not envelopes:
            return
        rows = [
            (
                partition_for(e.key, self.partitions),
                e.key,
                json.dumps({**(headers or {}), "tenant_id": e.tenant_id}),
                e.model_dump_json(),
            )
            for e in envelopes
        ]

        def insert(conn: sqlite3.Connection) -> None:
            nxt: dict[int, int] = {}
            out = []
            for partition, key, hdrs, env in rows:
                if partition not in nxt:
                    (top,) = conn.execute(NEXT_OFFSET, (topic, partition)).fetchone()
                    nxt[partition] = top
                out.append((topic, partition, nxt[partition], key, hdrs, env))
                nxt[partition] += 1
            conn.executemany(
                "INSERT INTO records (topic, partition, offset, key, headers, envelope) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                out,
            )

        await self.db.write(insert)

    def subscribe(self, group: str, topics: Sequence[str]) -> SqliteSubscription:
        return SqliteSubscription(self, group, list(topics))

    async def end_offsets(self, topic: str) -> dict[int, int]:
        def query(conn: sqlite3.Connection) -> dict[int, int]:
            return {
                p: conn.execute(NEXT_OFFSET, (topic, p)).fetchone()[0]
                for p in range(self.partitions)
            }

        return await self.db.run(query)

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        def query(conn: sqlite3.Connection) -> dict[int, int]:
            rows = conn.execute(
                "SELECT partition, committed FROM offsets WHERE grp = ? AND topic = ?",
                (group, topic),
            ).fetchall()
            return {p: 0 for p in range(self.partitions)} | dict(rows)

        return await self.db.run(query)

    async def read(self, topic: str, limit: int = 100) -> list[Record]:
        def query(conn: sqlite3.Connection) -> list[Record]:
            rows = conn.execute(
                "SELECT topic, partition, offset, headers, envelope FROM records "
                "WHERE topic = ? ORDER BY seq LIMIT ?",
                (topic, limit),
            ).fetchall()
            return [_record(r) for r in rows]

        return await self.db.run(query)

    def reader(self, start: Mapping[tuple[str, int], int]) -> SqliteReader:
        return SqliteReader(self, dict(start))

    async def delete_before(self, topic: str, offsets: Mapping[int, int]) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            for partition, offset in offsets.items():
                (end,) = conn.execute(NEXT_OFFSET, (topic, partition)).fetchone()
                before = min(offset, end)  # as Kafka: not past the end of the log
                conn.execute(
                    "DELETE FROM records WHERE topic = ? AND partition = ? AND offset < ?",
                    (topic, partition, before),
                )
                conn.execute(
                    "INSERT INTO log_starts VALUES (?, ?, ?) ON CONFLICT (topic, partition) "
                    "DO UPDATE SET start = MAX(start, excluded.start)",
                    (topic, partition, before),
                )

        await self.db.write(delete)


def _read_fairly(
    conn: sqlite3.Connection,
    positions: dict[tuple[str, int], int],
    tps: list[tuple[str, int]],
    max_records: int,
) -> list[Record]:
    """Up to ``max_records`` from the partitions ``tps`` after ``positions`` (moved on):
    a fair share from each partition first, then whatever room is left from any, so
    that one busy mailbox (one partition) still fills whole batches."""
    out: list[Record] = []
    for share in (max(1, max_records // max(1, len(tps))), max_records):
        for tp in tps:
            room = min(share, max_records - len(out))
            if room <= 0:
                break
            rows = conn.execute(
                "SELECT topic, partition, offset, headers, envelope FROM records "
                "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
                (*tp, positions[tp], room),
            ).fetchall()
            if rows:
                positions[tp] = rows[-1][2] + 1
                out.extend(_record(r) for r in rows)
    return out


class _Polled:
    """``fetch`` for the readers below: ``_poll`` the log until records come or the
    timeout passes."""

    bus: SqliteEventBus

    def _poll(self, conn: sqlite3.Connection, max_records: int) -> list[Record]:
        raise NotImplementedError

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            records = await self.bus.db.run(lambda c: self._poll(c, max_records))
            if records or time.monotonic() >= deadline:
                return records
            await asyncio.sleep(self.bus.poll_interval)


class SqliteReader(_Polled):
    """A group-less reader (``EventBus.reader``): its own positions, nothing shared."""

    def __init__(self, bus: SqliteEventBus, positions: dict[tuple[str, int], int]) -> None:
        self.bus = bus
        self.positions = positions

    def _poll(self, conn: sqlite3.Connection, max_records: int) -> list[Record]:
        tps = sorted(self.positions)
        for topic, partition in tps:
            if self.positions[(topic, partition)] < _log_start(conn, topic, partition):
                raise RecordsExpired(topic, partition, self.positions[(topic, partition)])
        return _read_fairly(conn, self.positions, tps, max_records)

    async def commit(self, records: Sequence[Record]) -> None:
        """Nothing to commit: a reader belongs to no group."""

    async def close(self) -> None:
        self.positions.clear()


class SqliteSubscription(_Polled):
    """One member of a consumer group (see the module docstring for the protocol)."""

    def __init__(self, bus: SqliteEventBus, group: str, topics: list[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self.member = uuid.uuid4().hex
        self.positions: dict[tuple[str, int], int] = {}
        self._last_beat = 0.0
        self._next_partition = 0

    def _all_partitions(self) -> list[tuple[str, int]]:
        return [(t, p) for t in self.topics for p in range(self.bus.partitions)]

    def _rebalance(self, conn: sqlite3.Connection) -> set[tuple[str, int]]:
        """Heartbeat, drop dead members, keep/claim/release leases for a fair share."""
        now, timeout, g = time.time(), self.bus.session_timeout, self.group
        conn.execute(
            "INSERT INTO members VALUES (?, ?, ?) ON CONFLICT (grp, member) "
            "DO UPDATE SET heartbeat = excluded.heartbeat",
            (g, self.member, now),
        )
        conn.execute("DELETE FROM members WHERE grp = ? AND heartbeat < ?", (g, now - timeout))
        (live,) = conn.execute("SELECT COUNT(*) FROM members WHERE grp = ?", (g,)).fetchone()
        wanted = self._all_partitions()
        share = math.ceil(len(wanted) / max(live, 1))
        leases = {
            (t, p): (m, exp)
            for t, p, m, exp in conn.execute(
                "SELECT topic, partition, member, expires FROM leases WHERE grp = ?", (g,)
            )
        }
        mine = sorted(tp for tp in wanted if leases.get(tp, ("", 0))[0] == self.member)
        for tp in mine[share:]:  # more than a fair share: hand the rest back
            conn.execute(
                "DELETE FROM leases WHERE grp = ? AND topic = ? AND partition = ? AND member = ?",
                (g, *tp, self.member),
            )
        keep = set(mine[:share])
        for tp in wanted:
            if len(keep) >= share:
                break
            holder = leases.get(tp)
            if tp not in keep and (holder is None or holder[1] < now):
                keep.add(tp)
        for tp in keep:
            conn.execute(
                "INSERT INTO leases VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                "(grp, topic, partition) DO UPDATE SET member = excluded.member, "
                "expires = excluded.expires",
                (g, *tp, self.member, now + timeout),
            )
        return keep

    def _positions_for(self, conn: sqlite3.Connection, owned: set[tuple[str, int]]) -> None:
        for tp in list(self.positions):
            if tp not in owned:
                del self.positions[tp]  # lost it: the new owner resumes from the commit
        for tp in owned - self.positions.keys():
            row = conn.execute(
                "SELECT committed FROM offsets WHERE grp = ? AND topic = ? AND partition = ?",
                (self.group, *tp),
            ).fetchone()
            self.positions[tp] = row[0] if row else 0

    def _poll(self, conn: sqlite3.Connection, max_records: int) -> list[Record]:
        if time.monotonic() - self._last_beat >= self.bus.heartbeat_interval:
            owned = self.bus.db.transaction(self._rebalance)(conn)
            self._positions_for(conn, owned)
            self._last_beat = time.monotonic()
        tps = sorted(self.positions)
        if not tps:
            return []
        # Start at a different partition each time so none is starved.
        self._next_partition = (self._next_partition + 1) % len(tps)
        tps = tps[self._next_partition :] + tps[: self._next_partition]
        return _read_fairly(conn, self.positions, tps, max_records)

    async def commit(self, records: Sequence[Record]) -> None:
        tops: dict[tuple[str, int], int] = {}
        for r in records:
            tops[(r.topic, r.partition)] = max(tops.get((r.topic, r.partition), -1), r.offset + 1)

        def write(conn: sqlite3.Connection) -> None:
            for (topic, partition), offset in tops.items():
                held = conn.execute(
                    "SELECT 1 FROM leases WHERE grp = ? AND topic = ? AND partition = ? "
                    "AND member = ?",
                    (self.group, topic, partition, self.member),
                ).fetchone()
                if not held:
                    continue  # rebalanced away: the new owner redelivers (at-least-once)
                conn.execute(
                    "INSERT INTO offsets VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, partition) "
                    "DO UPDATE SET committed = MAX(committed, excluded.committed)",
                    (self.group, topic, partition, offset),
                )

        if tops:
            await self.bus.db.write(write)

    async def close(self) -> None:
        def leave(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM leases WHERE grp = ? AND member = ?", (self.group, self.member)
            )
            conn.execute(
                "DELETE FROM members WHERE grp = ? AND member = ?", (self.group, self.member)
            )

        if self.bus._db is not None:
            await self.bus.db.write(leave)
        self.positions.clear()
