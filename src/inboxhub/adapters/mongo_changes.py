"""The trash, modseqs, tombstones and label counts of ``docs_mongo``.

Every email document carries ``trashed`` (whether a label is a trash label, for the
list to leave out or to find through a small partial index), ``modseq`` (the stamp of
its last write) and ``created_modseq`` (set on insert only). Stamps come from each
process's clock (one more than its previous stamp at least): nothing orders the
writes of several processes, so the state ``changes`` returns lags the clock by
``lag`` seconds, and every write that reaches the server within that lag of its
stamp is reported at least once (``EmailStore`` class docstring).

Deleted emails leave a tombstone in ``<collection>_tombstones`` (``_id`` as the
email's); the next deletion of a tenant drops its tombstones older than the
retention, first raising the tenant's floor in ``<collection>_change_floor``, below
which a state can no longer be answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from inboxhub.adapters.email_changes import Entry, clock, micros, page
from inboxhub.domain.errors import CannotCalculateChanges
from inboxhub.domain.labels import is_trash
from inboxhub.ports import ChangeState, EmailChanges, LabelCount

Doc = dict[str, Any]

NOT_IN_TRASH: Doc = {"trashed": {"$ne": True}}  # also the documents written before it
IN_TRASH: Doc = {"trashed": True}  # as the partial index says, so that it is used
BY_MODSEQ = [("tenant_id", ASCENDING), ("modseq", ASCENDING), ("_id", ASCENDING)]
EMAIL_INDEXES = [
    IndexModel(BY_MODSEQ, name="tenant_modseq"),
    # the trash of a mailbox, newest first: only the emails in it are in the index
    IndexModel(
        [("tenant_id", 1), ("mailbox_id", 1), ("sort_date", -1), ("_id", -1)],
        name="tenant_mailbox_trash",
        partialFilterExpression=IN_TRASH,
    ),
]
DEFAULT_LAG = 5.0  # seconds
ENTRY_PROJECTION: Doc = {"_id": False, "id": True, "modseq": True, "created_modseq": True}


class MongoChanges:
    def __init__(
        self,
        db: AsyncDatabase[Doc],
        emails: AsyncCollection[Doc],
        key: Callable[[str, str], str],
        lag: float,
        retention: timedelta,
    ) -> None:
        self.emails = emails
        self.key = key  # the _id of a tenant's email
        self.tombstones: AsyncCollection[Doc] = db[f"{emails.name}_tombstones"]
        self.floors: AsyncCollection[Doc] = db[f"{emails.name}_change_floor"]
        self.lag = micros(timedelta(seconds=lag))
        self.retention = micros(retention)
        self._last = 0

    async def create_indexes(self) -> None:
        await self.tombstones.create_indexes([IndexModel(BY_MODSEQ, name="tenant_modseq")])

    def stamp(self) -> int:
        """The modseq of one write: the clock, and later than this process's last."""
        self._last = max(clock(), self._last + 1)
        return self._last

    # ------------------------------------------------------------ writes

    async def delete(self, query: Doc, tenant_id: str) -> int:
        """Delete the emails ``query`` finds (of ``tenant_id``), their tombstones
        written first: a crash in between reports an email gone that is not yet,
        and deleting it again finishes the job."""
        modseq = self.stamp()
        found = [
            d
            async for d in self.emails.find(
                query, {"_id": True, "id": True, "mailbox_id": True, "created_modseq": True}
            )
        ]
        if not found:
            return 0
        await self.tombstones.bulk_write(
            [
                UpdateOne(
                    {"_id": d["_id"]},
                    {
                        "$set": {
                            "tenant_id": tenant_id,
                            "id": d["id"],
                            "mailbox_id": d["mailbox_id"],
                            "modseq": modseq,
                            "created_modseq": d.get("created_modseq", 0),
                        }
                    },
                    upsert=True,
                )
                for d in found
            ],
            ordered=False,
        )
        result = await self.emails.delete_many({**query, "_id": {"$in": [d["_id"] for d in found]}})
        await self._forget_old(tenant_id, modseq - self.retention)
        return result.deleted_count

    async def _forget_old(self, tenant_id: str, before: int) -> None:
        old = {"tenant_id": tenant_id, "modseq": {"$lt": before}}
        newest = await self.tombstones.find_one(old, {"modseq": True}, sort=[("modseq", -1)])
        if newest is None:
            return
        await self.floors.update_one(
            {"_id": tenant_id}, {"$max": {"modseq": newest["modseq"]}}, upsert=True
        )
        await self.tombstones.delete_many(
            {"tenant_id": tenant_id, "modseq": {"$lte": newest["modseq"]}}
        )

    async def forget_tenant(self, tenant_id: str) -> None:
        await self.tombstones.delete_many({"tenant_id": tenant_id})
        await self.floors.delete_one({"_id": tenant_id})

    # ------------------------------------------------------------ reads

    def state(self) -> ChangeState:
        return ChangeState(clock() - self.lag)

    async def changes(self, tenant_id: str, since: ChangeState, limit: int) -> EmailChanges:
        floor = await self.floors.find_one({"_id": tenant_id})
        if floor is not None and since.modseq < floor["modseq"]:
            raise CannotCalculateChanges(
                "deletions since that state are forgotten: list everything again"
            )
        watermark = self.state().modseq
        reads = [
            self._entries(collection, query, limit + 1)
            for collection in (self.emails, self.tombstones)
            for query in self._after(tenant_id, since, watermark)
        ]
        found = await asyncio.gather(*reads)
        return page(since, [e for entries in found for e in entries], limit, watermark)

    def _after(self, tenant_id: str, since: ChangeState, watermark: int) -> list[Doc]:
        """(modseq, id) after the state and modseq up to the watermark, as two index
        ranges (the ties of the state's modseq, then what is later)."""
        queries: list[Doc] = [
            {"tenant_id": tenant_id, "modseq": {"$gt": since.modseq, "$lte": watermark}}
        ]
        if since.id is not None and since.modseq <= watermark:
            tie = self.key(tenant_id, since.id)
            queries.append({"tenant_id": tenant_id, "modseq": since.modseq, "_id": {"$gt": tie}})
        return queries

    async def _entries(
        self, collection: AsyncCollection[Doc], query: Doc, limit: int
    ) -> list[Entry]:
        gone = collection is self.tombstones
        cursor = (
            collection.find(query, ENTRY_PROJECTION)
            .sort([("modseq", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [Entry(d["id"], d["modseq"], d.get("created_modseq", 0), gone) async for d in cursor]

    async def label_counts(self, match: Doc) -> list[LabelCount]:
        """One aggregation: the emails ``match`` finds, one row per label each, grouped
        by name and by whether the email is in the trash."""
        cursor = await self.emails.aggregate(
            [
                {"$match": match},
                {"$project": {"labels": True, "trashed": True, "seen": "$flags.seen"}},
                {"$unwind": "$labels"},
                {
                    "$group": {
                        "_id": {"name": "$labels", "trashed": "$trashed"},
                        "total": {"$sum": 1},
                        "unread": {"$sum": {"$cond": [{"$eq": ["$seen", True]}, 0, 1]}},
                    }
                },
            ]
        )
        counts: dict[str, tuple[int, int]] = {}
        async for row in cursor:
            name, trashed = row["_id"]["name"], row["_id"].get("trashed")
            if trashed and not is_trash(name):
                continue  # an email in the trash counts under its trash labels only
            before = counts.get(name, (0, 0))
            counts[name] = (before[0] + int(row["total"]), before[1] + int(row["unread"]))
        return [LabelCount(n, t, u) for n, (t, u) in sorted(counts.items())]
