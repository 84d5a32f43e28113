"""Email documents in MongoDB (the production adapter), over pymongo's async client.

One BSON document per email: every field of ``EmailDocument`` (by alias, so the
sender is ``from``) as a real BSON value, datetimes as BSON dates in UTC, and

* ``_id`` = ``"<tenant_id>/<email id>"``. The contract lets two tenants hold the
  same email id (each tenant is its own key space, as in the SQLite adapter), so
  the tenant is part of the key: one tenant's write can never replace another's
  document, and even the ``_id`` index leads with the tenant (DESIGN §5). Tenant
  ids never contain ``/`` (blob keys ``t/<tenant_id>/…`` rely on that too; ``key``
  refuses one that does), so the key is unambiguous; within one tenant, ``_id``
  orders exactly as ``id``.
* ``tenant_id`` in every filter and first in every secondary index, created once,
  idempotently, before the first operation.

Conversations: each email also holds ``thread_subject``, its normalised subject
(indexed with the date, for threading by subject); the links of thread keys live
beside the emails in ``<collection>_thread_links``, one document per key, ``_id`` =
``"<tenant_id>/<key>"``.

BSON dates have millisecond precision: a datetime comes back timezone-aware UTC,
cut (floored) to the millisecond. List order and cursors use the stored value, so
keyset pages stay exact.

MongoDB refuses documents over 16 MiB, while the parser keeps messages up to
64 MiB. A document that would not fit is stored with its largest parts (bodies,
header and address lists) shortened, and a note in ``parse_errors``; the raw
``.eml`` in the blob store still holds all of it.
"""

from __future__ import annotations

import asyncio
import builtins  # ``list`` is a method of the stores below
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import bson
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from inboxhub.adapters import mongo_changes
from inboxhub.adapters.mongo_changes import IN_TRASH, NOT_IN_TRASH, MongoChanges
from inboxhub.domain.encoded import SUMMARY_FIELDS, EncodedEmail
from inboxhub.domain.labels import in_trash
from inboxhub.domain.models import EmailDocument, EmailSummary, Flags
from inboxhub.domain.threading import normalize_subject
from inboxhub.ports import (
    TOMBSTONE_RETENTION,
    ChangeState,
    EmailChanges,
    LabelCount,
    ListCursor,
    SubjectThread,
    ThreadChanges,
)

Doc = dict[str, Any]

DEFAULT_DATABASE = "inboxhub"
DEFAULT_COLLECTION = "emails"
WRITE_BATCH = 1000  # documents per bulk_write: bounds the memory of one round trip

# The list view, by the names stored (aliases): what ``summaries`` and ``list`` read.
SUMMARY_PROJECTION: Doc = {
    "_id": False,
    **{EmailSummary.model_fields[f].alias or f: True for f in SUMMARY_FIELDS},
}
WHOLE_PROJECTION: Doc = {"_id": False}

INDEXES = [
    # list per mailbox (and across several: one sorted range per mailbox, merged)
    IndexModel(
        [("tenant_id", 1), ("mailbox_id", 1), ("sort_date", DESCENDING), ("_id", DESCENDING)],
        name="tenant_mailbox_date",
    ),
    # list across every mailbox of the tenant
    IndexModel(
        [("tenant_id", 1), ("sort_date", DESCENDING), ("_id", DESCENDING)], name="tenant_date"
    ),
    # replies and duplicates by Message-ID
    IndexModel([("tenant_id", 1), ("message_id", 1)], name="tenant_message_id"),
    # a thread's emails, and whether a thread has an email newer than a list position
    IndexModel(
        [("tenant_id", 1), ("thread_id", 1), ("sort_date", DESCENDING), ("_id", DESCENDING)],
        name="tenant_thread_date",
    ),
    # the copies of one message in several mailboxes
    IndexModel([("tenant_id", 1), ("dedup_key", 1)], name="tenant_dedup"),
    # conversations by subject, near a date
    IndexModel(
        [("tenant_id", 1), ("thread_subject", 1), ("sort_date", 1)], name="tenant_thread_subject"
    ),
    *mongo_changes.EMAIL_INDEXES,  # changes by modseq, and the trash
]
LINK_INDEXES = [IndexModel([("tenant_id", 1), ("thread_id", 1)], name="tenant_thread")]
THREAD_SCAN = 64  # emails read at a time while looking for the newest of threads

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # MongoDB's maxBsonObjectSize
DOCUMENT_BUDGET = MAX_DOCUMENT_BYTES - 64 * 1024  # room for the note fit() adds
# Below this many characters of JSON a document cannot reach the limit in BSON: a
# character is at most 4 bytes of UTF-8, and BSON's overhead makes at worst ~4.5
# bytes of a JSON character (arrays of empty strings), so only bigger ones are measured.
SURELY_FITS_CHARS = 2 * 1024 * 1024
# What may be shortened to fit: the bodies, and the lists a hostile header can blow up.
SHRINKABLE = (
    "text",
    "html",
    "attachment_text",
    "headers",
    "references",
    "to",
    "cc",
    "bcc",
    "reply_to",
)
DATE_FIELDS = ("date", "received_at")  # besides sort_date, which EncodedEmail carries


def key(tenant_id: str, email_id: str) -> str:
    """The ``_id`` of a tenant's email. A tenant id with a ``/`` could make another
    tenant's key (``a`` + ``b/c`` = ``a/b`` + ``c``), so it is refused."""
    if "/" in tenant_id:
        raise ValueError(f"tenant id {tenant_id!r} contains '/'")
    return f"{tenant_id}/{email_id}"


def fit(doc: Doc, limit: int = DOCUMENT_BUDGET) -> Doc:
    """``doc`` itself if its BSON fits in ``limit`` bytes, else a copy with its largest
    fields shortened (biggest first, by just the excess) and a note in ``parse_errors``.
    A document that no shortening can fit is left for the driver to refuse."""
    size = len(bson.encode(doc))
    if size <= limit:
        return doc
    doc = dict(doc)
    before = {name: len(doc[name]) for name in SHRINKABLE if doc.get(name)}
    while size > limit:
        weights = {name: len(bson.encode({"": doc[name]})) for name in SHRINKABLE if doc.get(name)}
        if not weights:
            return doc
        name = max(weights, key=weights.__getitem__)
        value = doc[name]
        keep = int(len(value) * max(0.0, 1 - (size - limit) / weights[name]))
        doc[name] = value[: min(keep, len(value) - 1)]
        size = len(bson.encode(doc))
    cut = [f"{name} {n} -> {len(doc[name])}" for name, n in before.items() if len(doc[name]) < n]
    doc["parse_errors"] = [
        *doc.get("parse_errors", []),
        f"document over MongoDB's {MAX_DOCUMENT_BYTES} bytes: shortened {', '.join(cut)} "
        "(the raw message keeps it all)",
    ]
    return doc


class MongoEmailStore:
    indexes: ClassVar[list[IndexModel]] = INDEXES

    def __init__(
        self,
        client: AsyncMongoClient[Doc],
        database: str = DEFAULT_DATABASE,
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = WRITE_BATCH,
        changes_lag: float = mongo_changes.DEFAULT_LAG,
        tombstone_retention: timedelta = TOMBSTONE_RETENTION,
    ) -> None:
        self.client = client
        self.db = client[database]
        self.emails: AsyncCollection[Doc] = self.db[collection]
        self.changes_log = MongoChanges(self.db, self.emails, key, changes_lag, tombstone_retention)
        self.links: AsyncCollection[Doc] = self.db[f"{collection}_thread_links"]
        self.batch_size = batch_size
        self._indexed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        collection: str = DEFAULT_COLLECTION,
        batch_size: int = WRITE_BATCH,
        changes_lag: float = mongo_changes.DEFAULT_LAG,
        tombstone_retention: timedelta = TOMBSTONE_RETENTION,
        **client_options: Any,
    ) -> MongoEmailStore:
        """``mongodb://host:port/database?options`` (or ``mongodb+srv://``): the
        database from the path ("inboxhub" if none), everything else to the driver.
        Connecting is lazy: nothing touches the network until the first call."""
        client: AsyncMongoClient[Doc] = AsyncMongoClient(url, tz_aware=True, **client_options)
        database = client.get_default_database(DEFAULT_DATABASE).name
        return cls(client, database, collection, batch_size, changes_lag, tombstone_retention)

    async def _ready(self) -> AsyncCollection[Doc]:
        # create_indexes is idempotent (an index that exists as asked is left alone);
        # two first calls racing both send it, which is harmless.
        if not self._indexed:
            await self.emails.create_indexes(self.indexes)
            await self.links.create_indexes(LINK_INDEXES)
            await self.changes_log.create_indexes()
            self._indexed = True
        return self.emails

    # ------------------------------------------------------------ writes

    async def upsert_many(self, emails: Sequence[EmailDocument]) -> None:
        # not the hot path (the processor writes encoded documents): measure every one
        await self._write(
            (e.tenant_id, e.id, True, _with_subject(e.model_dump(by_alias=True))) for e in emails
        )

    async def upsert_encoded(self, emails: Sequence[EncodedEmail]) -> None:
        def decode(e: EncodedEmail) -> Doc:
            doc: Doc = json.loads(e.document_json)
            doc["sort_date"] = e.sort_date
            doc["thread_subject"] = e.thread.subject
            for name in DATE_FIELDS:
                if (value := doc.get(name)) is not None:
                    doc[name] = datetime.fromisoformat(value)
            return doc

        await self._write(
            (e.tenant_id, e.id, len(e.document_json) >= SURELY_FITS_CHARS, decode(e))
            for e in emails
        )

    async def _write(self, docs: Iterable[tuple[str, str, bool, Doc]]) -> None:
        """Replace-or-insert each document by key, in unordered bulk writes. The last
        copy of a key in one call wins: duplicates are dropped before writing, so the
        server's freedom to reorder an unordered batch cannot change the outcome.
        Every field is set (which replaces the document) but ``created_modseq``, set
        on insert only."""
        latest: dict[str, Doc] = {}
        for tenant_id, email_id, may_be_too_big, doc in docs:
            _id = key(tenant_id, email_id)
            latest.pop(_id, None)  # re-insert: the dict keeps the order of last copies
            latest[_id] = fit(doc) if may_be_too_big else doc
        if not latest:
            return
        emails = await self._ready()
        modseq = self.changes_log.stamp()
        ops = [
            UpdateOne(
                {"_id": k},
                {
                    "$set": {
                        **{f: v for f, v in d.items() if f != "_id"},
                        "trashed": in_trash(d.get("labels", ())),
                        "modseq": modseq,
                    },
                    "$setOnInsert": {"created_modseq": modseq},
                },
                upsert=True,
            )
            for k, d in latest.items()
        ]
        for start in range(0, len(ops), self.batch_size):
            await emails.bulk_write(ops[start : start + self.batch_size], ordered=False)

    async def set_flags(
        self, tenant_id: str, email_id: str, flags: Flags, labels: Sequence[str] | None = None
    ) -> bool:
        emails = await self._ready()
        change: dict[str, object] = {"flags": flags.model_dump()}
        if labels is not None:
            change["labels"] = list(labels)
            change["trashed"] = in_trash(labels)
        change["modseq"] = self.changes_log.stamp()
        result = await emails.update_one(
            {"_id": key(tenant_id, email_id), "tenant_id": tenant_id}, {"$set": change}
        )
        return result.matched_count > 0

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        await self._ready()
        return await self.changes_log.delete(self._by_ids(tenant_id, ids), tenant_id)

    async def delete_tenant(self, tenant_id: str) -> int:
        emails = await self._ready()
        await self.links.delete_many({"tenant_id": tenant_id})
        await self.changes_log.forget_tenant(tenant_id)
        result = await emails.delete_many({"tenant_id": tenant_id})
        return result.deleted_count

    async def save_threads(self, tenant_id: str, changes: ThreadChanges) -> None:
        await self._ready()
        for old, new in changes.merged.items():
            by_old = {"tenant_id": tenant_id, "thread_id": old}
            await self.emails.update_many(
                by_old, {"$set": {"thread_id": new, "modseq": self.changes_log.stamp()}}
            )
            await self.links.update_many(by_old, {"$set": {"thread_id": new}})
        if changes.links:
            await self.links.bulk_write(
                [
                    ReplaceOne(
                        {"_id": key(tenant_id, k)},
                        {"tenant_id": tenant_id, "key": k, "thread_id": t},
                        upsert=True,
                    )
                    for k, t in changes.links.items()
                ],
                ordered=False,
            )

    # ------------------------------------------------------------ reads

    @staticmethod
    def _by_ids(tenant_id: str, ids: Sequence[str]) -> Doc:
        return {"_id": {"$in": [key(tenant_id, i) for i in set(ids)]}, "tenant_id": tenant_id}

    async def _find_by_ids(
        self, tenant_id: str, ids: Sequence[str], projection: Doc
    ) -> dict[str, Doc]:
        if not ids:
            return {}
        emails = await self._ready()
        return {d["id"]: d async for d in emails.find(self._by_ids(tenant_id, ids), projection)}

    async def get(self, tenant_id: str, email_id: str) -> EmailDocument | None:
        emails = await self._ready()
        found = await emails.find_one(
            {"_id": key(tenant_id, email_id), "tenant_id": tenant_id}, WHOLE_PROJECTION
        )
        return None if found is None else EmailDocument.model_validate(found)

    async def get_many(self, tenant_id: str, ids: Sequence[str]) -> list[EmailDocument]:
        found = await self._find_by_ids(tenant_id, ids, WHOLE_PROJECTION)
        return [EmailDocument.model_validate(found[i]) for i in ids if i in found]

    async def summaries(self, tenant_id: str, ids: Sequence[str]) -> list[EmailSummary]:
        found = await self._find_by_ids(tenant_id, ids, SUMMARY_PROJECTION)
        return [EmailSummary.model_validate(found[i]) for i in ids if i in found]

    @staticmethod
    def _in_mailboxes(tenant_id: str, mailbox_ids: Sequence[str]) -> Doc:
        boxes = sorted(set(mailbox_ids))
        # one mailbox as an equality: the same plan on MongoDB, an index range on
        # SecantusDB (which treats any $in as unbounded)
        return {
            "tenant_id": tenant_id,
            "mailbox_id": boxes[0] if len(boxes) == 1 else {"$in": boxes},
        }

    async def _page(self, query: Doc, limit: int) -> list[EmailSummary]:
        emails = await self._ready()
        cursor = (
            emails.find(query, SUMMARY_PROJECTION)
            .sort([("sort_date", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [EmailSummary.model_validate(d) async for d in cursor]

    async def list(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        limit: int,
        after: ListCursor | None = None,
        trash: bool | None = None,
    ) -> list[EmailSummary]:
        if not mailbox_ids or limit <= 0:
            return []
        query = self._in_mailboxes(tenant_id, mailbox_ids)
        if trash is not None:
            query.update(IN_TRASH if trash else NOT_IN_TRASH)
        if after is None:
            return await self._page(query, limit)
        # Strictly after (date, id), newest first: the emails that share the cursor's
        # date with a smaller id, then those older, as two single index ranges asked
        # together. (One query with an $or is as good on MongoDB, but SecantusDB
        # plans a top-level $or as a scan of the whole collection.)
        ties, older = await asyncio.gather(
            self._page(
                {**query, "sort_date": after.sort_date, "_id": {"$lt": key(tenant_id, after.id)}},
                limit,
            ),
            self._page({**query, "sort_date": {"$lt": after.sort_date}}, limit),
        )
        return (ties + older)[:limit]

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int:
        if mailbox_ids is not None and not mailbox_ids:
            return 0
        query: Doc = (
            {"tenant_id": tenant_id}
            if mailbox_ids is None
            else self._in_mailboxes(tenant_id, mailbox_ids)
        )
        emails = await self._ready()
        return await emails.count_documents(query)

    async def count_unread(self, tenant_id: str, mailbox_ids: Sequence[str]) -> dict[str, int]:
        if not mailbox_ids:
            return {}
        counts = dict.fromkeys(sorted(set(mailbox_ids)), 0)
        emails = await self._ready()
        # tenant and mailbox lead the tenant_mailbox_date index; the flag is checked
        # on what that range holds (``$ne: true``: a document without flags is unread)
        match = {
            **self._in_mailboxes(tenant_id, mailbox_ids),
            "flags.seen": {"$ne": True},
            **NOT_IN_TRASH,
        }
        cursor = await emails.aggregate(
            [{"$match": match}, {"$group": {"_id": "$mailbox_id", "n": {"$sum": 1}}}]
        )
        async for row in cursor:
            counts[row["_id"]] = int(row["n"])
        return counts

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]:
        found = await self._find_by_ids(tenant_id, ids, {"_id": False, "id": True})
        return set(found)

    # ------------------------------------------------------------ conversations

    async def thread_links(self, tenant_id: str, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        await self._ready()
        query = {"_id": {"$in": [key(tenant_id, k) for k in set(keys)]}, "tenant_id": tenant_id}
        return {d["key"]: d["thread_id"] async for d in self.links.find(query)}

    async def subject_threads(
        self, tenant_id: str, subjects: Sequence[str], since: datetime, until: datetime
    ) -> builtins.list[SubjectThread]:
        wanted = sorted(set(subjects) - {""})
        if not wanted:
            return []
        await self._ready()
        query = {
            "tenant_id": tenant_id,
            "thread_subject": wanted[0] if len(wanted) == 1 else {"$in": wanted},
            "sort_date": {"$gte": since, "$lte": until},
        }
        projection = {"_id": False, "thread_subject": True, "thread_id": True, "sort_date": True}
        spans: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        async for d in self.emails.find(query, projection):
            if not d.get("thread_id"):
                continue
            at, when = (d["thread_subject"], d["thread_id"]), d["sort_date"]
            first, last = spans.get(at, (when, when))
            spans[at] = (min(first, when), max(last, when))
        return [SubjectThread(s, t, first, last) for (s, t), (first, last) in spans.items()]

    async def list_threads(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        limit: int,
        after: ListCursor | None = None,
    ) -> builtins.list[EmailSummary]:
        # Newest first, the first email met of each thread stands for it; a thread
        # with an email before ``after`` was on an earlier page.
        heads: list[EmailSummary] = []
        seen: set[str] = set()
        position, scan = after, max(THREAD_SCAN, 4 * limit)
        while len(heads) < limit:
            page = await self.list(tenant_id, mailbox_ids, scan, position, trash=False)
            if not page:
                break
            position = ListCursor(page[-1].sort_date, page[-1].id)
            fresh = []
            for s in page:
                if s.thread_id and s.thread_id not in seen:
                    seen.add(s.thread_id)
                    fresh.append(s)
            if after is not None and fresh:
                listed = await self._listed_before(tenant_id, mailbox_ids, fresh, after)
                fresh = [s for s in fresh if s.thread_id not in listed]
            heads += fresh
            if len(page) < scan:
                break
        return heads[:limit]

    async def _listed_before(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        emails: Sequence[EmailSummary],
        after: ListCursor,
    ) -> set[str]:
        """Which of the threads of ``emails`` have an email at ``after`` or before it
        (in list order: listed on an earlier page)."""
        query = {
            **self._in_mailboxes(tenant_id, mailbox_ids),
            **NOT_IN_TRASH,
            "thread_id": {"$in": sorted({e.thread_id for e in emails})},
            "sort_date": {"$gte": after.sort_date},
        }
        newer = self.emails.find(
            query, {"_id": False, "thread_id": True, "sort_date": True, "id": True}
        )
        return {
            d["thread_id"]
            async for d in newer
            if d["sort_date"] > after.sort_date or d["id"] >= after.id
        }

    async def thread_emails(
        self, tenant_id: str, thread_ids: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        return await self._summaries_where("thread_id", tenant_id, thread_ids)

    async def duplicates(
        self, tenant_id: str, dedup_keys: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        return await self._summaries_where("dedup_key", tenant_id, dedup_keys)

    async def _summaries_where(
        self, field: str, tenant_id: str, values: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        """Summaries of the emails whose ``field`` is one of ``values`` (never ""),
        oldest first."""
        wanted = sorted(set(values) - {""})
        if not wanted:
            return []
        emails = await self._ready()
        query = {"tenant_id": tenant_id, field: wanted[0] if len(wanted) == 1 else {"$in": wanted}}
        cursor = emails.find(query, SUMMARY_PROJECTION).sort(
            [("sort_date", ASCENDING), ("_id", ASCENDING)]
        )
        return [EmailSummary.model_validate(d) async for d in cursor]

    # ------------------------------------------------------------ labels and changes

    async def label_counts(
        self, tenant_id: str, mailbox_ids: Sequence[str]
    ) -> Sequence[LabelCount]:
        if not mailbox_ids:
            return []
        await self._ready()
        return await self.changes_log.label_counts(self._in_mailboxes(tenant_id, mailbox_ids))

    async def change_state(self, tenant_id: str) -> ChangeState:
        return self.changes_log.state()

    async def changes(self, tenant_id: str, since: ChangeState, limit: int) -> EmailChanges:
        await self._ready()
        return await self.changes_log.changes(tenant_id, since, limit)

    # ------------------------------------------------------------ lifecycle

    async def ping(self) -> None:
        await self.db.command("ping")

    async def close(self) -> None:
        await self.client.close()


def _with_subject(doc: Doc) -> Doc:
    """``doc`` with the normalised subject that threading by subject looks up."""
    doc["thread_subject"] = normalize_subject(doc.get("subject") or "")
    return doc
