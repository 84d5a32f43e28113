"""The ports: every piece of infrastructure a service may touch, as a Protocol.

Each port has an embedded adapter (no server) and a production adapter; the URL in
the settings picks one (``runtime.py``) and no service knows which it got. The
docstrings are the contract that ``tests/contract/`` checks against every adapter.
All methods that take a ``tenant_id`` never return or touch another tenant's data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from inboxhub.domain.encoded import EncodedEmail
from inboxhub.domain.events import Envelope
from inboxhub.domain.models import (
    EmailDocument,
    EmailSummary,
    Flags,
    MailChange,
    Mailbox,
    OutboxEntry,
    SearchDocument,
    SearchPage,
    SyncStatus,
    Tenant,
    User,
)
from inboxhub.domain.search_query import Node

# ---------------------------------------------------------------- event bus


@dataclass(frozen=True)
class Record:
    """One event as a consumer receives it."""

    topic: str
    partition: int
    offset: int
    envelope: Envelope
    headers: dict[str, str] = field(default_factory=dict)


class Subscription(Protocol):
    """A member of a consumer group, reading some partitions of some topics.

    Partitions are shared out among the live members of the group; a partition is
    read by one member at a time, in offset order. ``fetch`` continues after the
    last record it returned (not after the last commit); after a restart or a
    rebalance, reading resumes after the group's committed offset, so anything
    fetched but not committed is delivered again (at-least-once).
    """

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records, waiting up to ``timeout`` s for the first."""
        ...

    async def commit(self, records: Sequence[Record]) -> None:
        """Mark these records (and everything before them per partition) consumed."""
        ...

    async def close(self) -> None:
        """Leave the group; this member's partitions go to the others."""
        ...


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(
        self, topic: str, envelopes: Sequence[Envelope], headers: dict[str, str] | None = None
    ) -> None:
        """Append envelopes to ``topic``; durable when this returns.

        The partition is chosen by ``envelope.key``, so events of one key keep their
        publish order. Every record also carries the header ``tenant_id``.
        """
        ...

    def subscribe(self, group: str, topics: Sequence[str]) -> Subscription: ...

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next published record will get."""
        ...

    async def committed(self, group: str, topic: str) -> dict[int, int]:
        """Per partition, the group's committed offset (next offset to read); 0 if none."""
        ...

    async def read(self, topic: str, limit: int = 100) -> list[Record]:
        """The oldest ``limit`` records of ``topic`` (for `dlq list` and replay)."""
        ...


# ---------------------------------------------------------------- blob store


class BlobStore(Protocol):
    """Immutable byte objects by key. Writes are atomic: a reader sees all or nothing."""

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store ``data`` under ``key``; writing the same key again replaces it, except
        that a key ending in a SHA-256 is content-addressed: the bytes are those of its
        name, so an adapter may keep the copy it has and write nothing."""
        ...

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """``put`` for a batch, durable as a whole when it returns (the pipeline writes
        in batches; adapters make one round trip or one sync of it)."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes; raises ``domain.errors.NotFound`` if there are none."""
        ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        """``get`` for a batch, in the order of ``keys``; NotFound if any is missing."""
        ...

    def stream(self, key: str, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """The bytes as an async generator of chunks of at most ``chunk_size`` (for
        serving large objects without holding them in memory): ``async for chunk in
        blobs.stream(key)``. Raises ``NotFound`` at the first iteration if there are
        none. It may hold a connection while open: a caller stopping early closes it
        (``aclose``, as every async generator has)."""
        ...

    async def presigned_url(
        self,
        key: str,
        expires_in: int,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """A URL a client can GET the bytes from directly, without credentials, for
        ``expires_in`` seconds; its answer carries ``Content-Disposition: attachment``
        (with ``filename`` when given) and ``content_type`` when given. None when the
        store has no such thing (the caller then serves the bytes itself). The URL is
        not checked against the store: for a missing object it answers 404."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; returns how many."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached (readiness)."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- email documents


@dataclass(frozen=True)
class ListCursor:
    """Position in a newest-first list: strictly after (sort_date, id)."""

    sort_date: datetime
    id: str


class EmailStore(Protocol):
    """Email documents, upserted by ``id``."""

    async def upsert_many(self, emails: Sequence[EmailDocument]) -> None:
        """Insert or replace each document by id; idempotent."""
        ...

    async def upsert_encoded(self, emails: Sequence[EncodedEmail]) -> None:
        """``upsert_many`` for documents already serialised (``domain.encoded``)."""
        ...

    async def get(self, tenant_id: str, email_id: str) -> EmailDocument | None: ...

    async def get_many(self, tenant_id: str, ids: Sequence[str]) -> list[EmailDocument]:
        """The documents found, in the order of ``ids`` (missing ones left out)."""
        ...

    async def summaries(self, tenant_id: str, ids: Sequence[str]) -> list[EmailSummary]:
        """Like ``get_many`` but only the list-view fields (no bodies)."""
        ...

    async def list(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        limit: int,
        after: ListCursor | None = None,
    ) -> list[EmailSummary]:
        """Newest first by (sort_date desc, id desc), strictly after ``after``."""
        ...

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int: ...

    async def count_unread(self, tenant_id: str, mailbox_ids: Sequence[str]) -> dict[str, int]:
        """Per mailbox of ``mailbox_ids``, how many of its emails are not ``seen``;
        every mailbox asked is in the answer (0 when none, or no such mailbox). One
        grouped query per call, whatever the number of mailboxes."""
        ...

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]: ...

    async def set_flags(
        self, tenant_id: str, email_id: str, flags: Flags, labels: Sequence[str] | None = None
    ) -> bool:
        """Replace the flags (and the labels, when given); False if no such email."""
        ...

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int: ...

    async def delete_tenant(self, tenant_id: str) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- search index


class SearchIndex(Protocol):
    async def index_many(self, docs: Sequence[SearchDocument]) -> None:
        """Insert or replace each document by id; searchable when this returns."""
        ...

    async def search(
        self,
        tenant_id: str,
        query: Node,
        mailbox_ids: Sequence[str],
        limit: int,
        cursor: str | None = None,
        order: str = "relevance",  # or "date" (newest first)
        facets: bool = False,
    ) -> SearchPage:
        """Hits within ``mailbox_ids`` of ``tenant_id``, with highlighted fragments.

        Highlights mark matches with ``<mark>`` … ``</mark>`` and escape everything
        else as HTML. ``next_cursor`` is opaque; None on the last page. With
        ``facets``, counts of all matches by ``mailbox`` (id), ``sender_domain`` (the
        20 commonest), ``has_attachment`` ("true"/"false") and ``year``.
        """
        ...

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int: ...

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]: ...

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int: ...

    async def delete_tenant(self, tenant_id: str) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- relational


class Directory(Protocol):
    """Tenants, users, mailboxes and sync state (the relational store)."""

    async def create_tenant(self, slug: str, name: str) -> Tenant:
        """Raises ``Conflict`` if the slug is taken."""
        ...

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    async def list_tenant_ids(self) -> list[str]:
        """Every tenant's id (for platform-wide loops such as the fetcher's scheduler)."""
        ...

    async def get_tenant_by_slug(self, slug: str) -> Tenant | None: ...

    async def create_user(
        self, tenant_id: str, email: str, password_hash: str | None, roles: Sequence[str]
    ) -> User:
        """Raises ``Conflict`` if the email already has an account in this tenant."""
        ...

    async def get_user(self, tenant_id: str, user_id: str) -> User | None: ...

    async def find_users_by_email(self, email: str) -> list[tuple[User, str | None]]:
        """Every account with this email (any tenant), with its password hash."""
        ...

    async def set_password_hash(self, tenant_id: str, user_id: str, password_hash: str) -> None: ...

    async def get_or_create_mailbox(self, tenant_id: str, name: str, provider: str) -> Mailbox: ...

    async def get_mailbox(self, tenant_id: str, mailbox_id: str) -> Mailbox | None: ...

    async def create_mailbox(
        self,
        tenant_id: str,
        name: str,
        provider: str,
        config: dict[str, Any],
        credentials: bytes | None,
    ) -> Mailbox:
        """A mailbox connection; ``credentials`` are already encrypted by the caller.
        Raises ``Conflict`` if the tenant has a mailbox of that name."""
        ...

    async def update_mailbox(
        self,
        tenant_id: str,
        mailbox_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        credentials: bytes | None = None,
        status: str | None = None,
    ) -> Mailbox | None:
        """Change what is given (None: unchanged) and stamp ``updated_at``, which
        makes the fetcher restart the mailbox's sync. None if there is no such
        mailbox; ``Conflict`` on a taken name."""
        ...

    async def set_mailbox_credentials(
        self, tenant_id: str, mailbox_id: str, credentials: bytes
    ) -> None:
        """Replace the encrypted credentials without restarting the sync (a connector
        saving a refreshed OAuth token)."""
        ...

    async def get_mailbox_credentials(self, tenant_id: str, mailbox_id: str) -> bytes | None: ...

    async def delete_mailbox(self, tenant_id: str, mailbox_id: str) -> bool:
        """Remove the mailbox with its sync state and item maps; False if none."""
        ...

    async def list_mailboxes(self, tenant_id: str) -> list[Mailbox]: ...

    async def get_sync_state(self, tenant_id: str, mailbox_id: str) -> dict[str, object]: ...

    async def set_sync_state(
        self, tenant_id: str, mailbox_id: str, state: dict[str, object]
    ) -> None: ...

    async def store_refresh_token(
        self, tenant_id: str, user_id: str, token_hash: str, family: str, expires_at: datetime
    ) -> None: ...

    async def use_refresh_token(self, token_hash: str) -> tuple[str, str, str] | None:
        """Mark the token used; returns (tenant_id, user_id, family) if it was unused and
        unexpired. A reused token revokes its whole family and returns None."""
        ...

    async def revoke_refresh_family(self, family: str) -> None: ...

    async def add_audit(
        self,
        tenant_id: str,
        time: datetime,
        actor_id: str | None,
        action: str,
        object_id: str | None,
        detail: dict[str, object],
        event_id: str,
    ) -> None:
        """Record one audit entry; the same ``event_id`` twice is stored once."""
        ...

    async def list_audit(self, tenant_id: str, limit: int = 100) -> list[dict[str, object]]: ...

    async def get_secret(self, name: str) -> bytes | None:
        """A platform secret (e.g. JWT signing keys), already encrypted by the caller."""
        ...

    async def put_secret(self, name: str, value: bytes) -> None: ...

    async def create_secret(self, name: str, value: bytes) -> bytes:
        """Store ``value`` only if ``name`` has none yet; returns whichever is stored
        (the first of several processes starting at once wins, and all agree)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- mailbox sync


class SyncStore(Protocol):
    """The fetcher's shared state (relational): which process syncs which mailbox
    (leases that expire, so a dead process's mailboxes pass to others), connector
    cursors, sync status, and the item maps of ``providers.base.ItemMap``."""

    async def heartbeat(self, worker_id: str, ttl: float) -> list[str]:
        """Mark ``worker_id`` alive; the ids of every worker alive within ``ttl`` s."""
        ...

    async def forget_worker(self, worker_id: str) -> None: ...

    async def mailboxes_to_sync(self) -> list[Mailbox]:
        """Every active (not paused) mailbox of every tenant."""
        ...

    async def claim(self, tenant_id: str, mailbox_id: str, worker_id: str, ttl: float) -> bool:
        """Take or extend the mailbox's lease for ``ttl`` s; False while another
        worker's lease on it has not expired."""
        ...

    async def release(self, tenant_id: str, mailbox_id: str, worker_id: str) -> None:
        """Give the lease up, if ``worker_id`` holds it."""
        ...

    async def save_cursor(
        self, tenant_id: str, mailbox_id: str, worker_id: str, cursor: dict[str, Any]
    ) -> bool:
        """Store the connector's cursor if ``worker_id`` still holds the lease."""
        ...

    async def set_status(
        self,
        tenant_id: str,
        mailbox_id: str,
        state: str,
        *,
        error: str | None = None,
        synced: int = 0,
        finished: bool = False,
    ) -> None:
        """Record the sync state; ``error`` sets the last error (now), ``synced``
        adds to the count of messages synced, ``finished`` stamps the last sync
        and clears the last error."""
        ...

    async def get_status(self, tenant_id: str, mailbox_id: str) -> SyncStatus: ...

    async def items_get(
        self, tenant_id: str, mailbox_id: str, folder: str, refs: Sequence[str] | None
    ) -> dict[str, str]: ...

    async def items_put(
        self, tenant_id: str, mailbox_id: str, folder: str, items: dict[str, str]
    ) -> None: ...

    async def items_drop(
        self, tenant_id: str, mailbox_id: str, folder: str, refs: Sequence[str] | None
    ) -> None: ...

    async def outbox_put(
        self, tenant_id: str, mailbox_id: str, changes: Sequence[MailChange]
    ) -> None:
        """Queue changes for the provider, in order, durably (the API calls this after
        changing its own copy; the fetcher owning the mailbox drains the queue)."""
        ...

    async def outbox_take(self, tenant_id: str, mailbox_id: str, limit: int) -> list[OutboxEntry]:
        """The oldest waiting changes of the mailbox, in the order they were put."""
        ...

    async def outbox_done(
        self, tenant_id: str, mailbox_id: str, ids: Sequence[int], error: str | None = None
    ) -> None:
        """Remove applied entries; with ``error``, count a failed attempt instead and
        keep them (an entry failing too often is dropped with the error logged)."""
        ...
