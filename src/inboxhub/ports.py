"""The ports: every piece of infrastructure a service may touch, as a Protocol.

Each port has an embedded adapter (no server) and a production adapter; the URL in
the settings picks one (``runtime.py``) and no service knows which it got. The
docstrings are the contract that ``tests/contract/`` checks against every adapter.
All methods that take a ``tenant_id`` never return or touch another tenant's data.
"""

from __future__ import annotations

import builtins  # ``list`` is a method of the stores below
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from inboxhub.domain.audit import AuditEntry, AuditFilter, AuditPolicy, AuditVerification
from inboxhub.domain.encoded import EncodedEmail
from inboxhub.domain.events import Envelope
from inboxhub.domain.models import (
    DkimKey,
    DkimKeyInfo,
    EmailDocument,
    EmailSummary,
    Flags,
    Invitation,
    Mailbox,
    MailChange,
    OutboxEntry,
    SearchDocument,
    SearchPage,
    SsoConfig,
    SyncStatus,
    Tenant,
    TenantDomain,
    User,
)
from inboxhub.domain.outgoing import OutgoingMessage, Upload
from inboxhub.domain.search_query import Node
from inboxhub.domain.webhooks import (
    AttemptResult,
    Claimed,
    Delivery,
    DisablePolicy,
    NewDelivery,
    Webhook,
)

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


class RecordsExpired(LookupError):
    """A reader's position is older than the bus keeps (see ``EventBus.reader``)."""

    def __init__(self, topic: str, partition: int, offset: int) -> None:
        super().__init__(f"{topic}[{partition}] no longer holds offset {offset}")
        self.topic, self.partition, self.offset = topic, partition, offset


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

    def reader(self, start: Mapping[tuple[str, int], int]) -> Subscription:
        """A reader of the given (topic, partition)s, each from its offset on, in no
        consumer group: it sees every record, whoever else reads (fan-out), in each
        partition's order. ``commit`` does nothing. ``fetch`` raises ``RecordsExpired``
        when a partition's position is below the oldest record the bus still holds
        (retention, ``delete_before``): what was there is gone."""
        ...

    async def delete_before(self, topic: str, offsets: Mapping[int, int]) -> None:
        """Drop each given partition's records below its offset, as retention does
        (Kafka's DeleteRecords); later records keep their offsets and new ones go on
        counting from the end."""
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


@dataclass(frozen=True)
class SubjectThread:
    """A conversation as known by one normalised subject (``domain.threading``): the
    dates of the first and the last of its messages with that subject in the time
    asked about."""

    subject: str
    thread_id: str
    first: datetime
    last: datetime


@dataclass
class ThreadChanges:
    """What threading one batch of emails changes (``EmailStore.save_threads``)."""

    links: dict[str, str] = field(default_factory=dict)  # thread key → thread id
    merged: dict[str, str] = field(default_factory=dict)  # thread id → merged into


@dataclass(frozen=True)
class ChangeState:
    """A position in a tenant's history of email changes (``EmailStore.changes``):
    after every change stamped up to ``modseq``, except, when ``id`` is set, those
    stamped exactly ``modseq`` whose email id is greater than ``id``."""

    modseq: int
    id: str | None = None


@dataclass(frozen=True)
class EmailChanges:
    """The emails created, updated and destroyed between a state and ``new_state``."""

    created: list[str]
    updated: list[str]
    destroyed: list[str]
    new_state: ChangeState
    has_more: bool  # more changes after new_state, up to now: ask again from it


@dataclass(frozen=True)
class LabelCount:
    name: str
    total: int
    unread: int  # not seen


TOMBSTONE_RETENTION = timedelta(days=30)  # how long EmailStore remembers a deletion


class EmailStore(Protocol):
    """Email documents, upserted by ``id``.

    Conversations: each email's ``thread_id`` is what the processor set in it. Beside
    the documents the store keeps, per tenant, the links of thread keys (Message-IDs,
    ``domain.threading.thread_keys``) to thread ids, and with each email the
    normalised subject of ``EncodedEmail.thread`` (documents written by
    ``upsert_many`` get theirs from their subject), which the processor reads and
    writes (``thread_links``, ``subject_threads``, ``save_threads``) to place new
    emails. An email whose ``thread_id`` is "" (stored before conversations) is in
    no thread.

    The trash (``domain.labels``): an email is in it when it has a trash label. The
    store keeps that beside the document at every write, to list with or without.

    Changes: every write (``upsert_*``, ``set_flags``, ``delete_many``) stamps what it
    touches with a modseq (microseconds since the epoch, growing), and a deletion
    leaves a tombstone, remembered for ``TOMBSTONE_RETENTION`` at least; ``changes``
    reads them. The guarantee: a change not visible yet when a state is returned is
    stamped after that state, so asking again from the state reports it (at least
    once). The embedded adapter stamps under its write lock and returns its last
    stamp, so that holds exactly; a store written by several processes at once with
    no common lock (MongoDB) returns a state lagging its clock by a margin, and it
    holds for every write that reaches the server within that margin of its stamp
    (clock differences between the processes included).
    """

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
        trash: bool | None = None,
    ) -> list[EmailSummary]:
        """Newest first by (sort_date desc, id desc), strictly after ``after``; with
        ``trash`` False only emails not in the trash, True only those in it (each an
        index range, or a range with few rows to skip), None all."""
        ...

    async def count(self, tenant_id: str, mailbox_ids: Sequence[str] | None = None) -> int: ...

    async def count_unread(self, tenant_id: str, mailbox_ids: Sequence[str]) -> dict[str, int]:
        """Per mailbox of ``mailbox_ids``, how many of its emails are not ``seen`` and
        not in the trash; every mailbox asked is in the answer (0 when none, or no such
        mailbox). One grouped query per call, whatever the number of mailboxes."""
        ...

    async def existing_ids(self, tenant_id: str, ids: Sequence[str]) -> set[str]: ...

    async def set_flags(
        self, tenant_id: str, email_id: str, flags: Flags, labels: Sequence[str] | None = None
    ) -> bool:
        """Replace the flags (and the labels, when given: whether it is in the trash
        follows them); False if no such email."""
        ...

    async def delete_many(self, tenant_id: str, ids: Sequence[str]) -> int:
        """Remove these emails, leaving a tombstone of each (``changes``); how many."""
        ...

    async def delete_tenant(self, tenant_id: str) -> int:
        """Remove the tenant's emails and its thread links and subjects; how many
        emails."""
        ...

    # ------------------------------------------------------------ conversations

    async def thread_links(self, tenant_id: str, keys: Sequence[str]) -> dict[str, str]:
        """The thread id linked to each of ``keys`` that has one (one query)."""
        ...

    async def subject_threads(
        self, tenant_id: str, subjects: Sequence[str], since: datetime, until: datetime
    ) -> builtins.list[SubjectThread]:
        """The threads with an email of one of ``subjects`` (normalised) whose sort
        date is within [since, until], with the first and last such date, in no
        particular order (one query)."""
        ...

    async def save_threads(self, tenant_id: str, changes: ThreadChanges) -> None:
        """Apply ``changes`` in this order: first each merged thread id is replaced by
        the id it merged into, wherever it occurs (in every email and link of the
        tenant; the emails count as changed); then each link is set (a key's earlier
        thread replaced). Idempotent: the same changes again change nothing."""
        ...

    async def list_threads(
        self,
        tenant_id: str,
        mailbox_ids: Sequence[str],
        limit: int,
        after: ListCursor | None = None,
    ) -> builtins.list[EmailSummary]:
        """Conversations with an email in ``mailbox_ids``, newest activity first: for
        each thread, its newest email of those mailboxes (by sort_date, then id) stands
        for it, and these are listed as ``list`` lists emails, strictly after
        ``after`` (the last one of the previous page). A thread with an email at
        ``after`` or before it in list order was on an earlier page and is not listed
        again. Emails in the trash, and those whose ``thread_id`` is "", are left out."""
        ...

    async def thread_emails(
        self, tenant_id: str, thread_ids: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        """Every email of these threads, in any mailbox, oldest first (sort_date, id)."""
        ...

    async def duplicates(
        self, tenant_id: str, dedup_keys: Sequence[str]
    ) -> builtins.list[EmailSummary]:
        """Every email whose ``dedup_key`` is one of ``dedup_keys`` ("" matches none),
        in any mailbox, in no particular order (one query)."""
        ...

    # ------------------------------------------------------------ labels and changes

    async def label_counts(
        self, tenant_id: str, mailbox_ids: Sequence[str]
    ) -> Sequence[LabelCount]:
        """Per label of the emails of ``mailbox_ids``, how many have it and how many of
        those are not seen, by name (names compare exactly). An email in the trash
        counts only under its trash labels. One grouped query per call."""
        ...

    async def change_state(self, tenant_id: str) -> ChangeState:
        """The state now: ``changes`` from it reports what is written after."""
        ...

    async def changes(self, tenant_id: str, since: ChangeState, limit: int) -> EmailChanges:
        """The tenant's emails created, updated or deleted after ``since``, up to
        ``limit`` of them, oldest change first (see the class docstring for what is
        guaranteed). An email changed several times is reported once; one both
        created and deleted after ``since`` is not reported. ``CannotCalculateChanges``
        if deletions after ``since`` may have been forgotten already."""
        ...

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
        else as HTML. ``total`` is exact up to ``search_query.TOTAL_CAP`` (10,000);
        when more match, it is that and ``total_exact`` is False (the pages still go
        on to the last hit). ``next_cursor`` is opaque; None on the last page. With
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

    async def list_audit(self, tenant_id: str, limit: int = 100) -> list[dict[str, object]]:
        """The newest entries, by time (``AuditStore`` writes them and queries them)."""
        ...

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


class TenancyStore(Protocol):
    """What the tenant service keeps beside the directory (relational, same wall)."""

    async def add_domain(self, tenant_id: str, domain: str) -> TenantDomain:
        """Register ``domain`` (lower-cased) unverified, with a new verification token;
        ``Conflict`` if the tenant has it already."""
        ...

    async def list_domains(self, tenant_id: str) -> builtins.list[TenantDomain]: ...

    async def get_domain(self, tenant_id: str, domain: str) -> TenantDomain | None: ...

    async def mark_domain_verified(self, tenant_id: str, domain: str) -> TenantDomain:
        """``Conflict`` if another tenant has verified it already; ``NotFound`` if the
        tenant never added it."""
        ...

    async def delete_domain(self, tenant_id: str, domain: str) -> bool: ...

    # Tenants (platform operators'): paged by slug, ``after`` the last slug seen.
    async def list_tenants(self, limit: int, after: str | None = None) -> builtins.list[Tenant]: ...

    async def update_tenant(
        self, tenant_id: str, *, name: str | None = None, status: str | None = None
    ) -> Tenant | None:
        """Change what is given (None: unchanged); None if there is no such tenant."""
        ...

    async def suspended_tenant_ids(self) -> set[str]:
        """Tenants whose users may not sign in and whose mailboxes do not sync."""
        ...

    # Users of a tenant, paged by email, ``after`` the last email seen.
    async def list_users(
        self, tenant_id: str, limit: int, after: str | None = None
    ) -> builtins.list[User]: ...

    async def update_user(
        self,
        tenant_id: str,
        user_id: str,
        *,
        roles: Sequence[str] | None = None,
        status: str | None = None,
    ) -> User | None:
        """Change what is given; None if there is no such user. ``Conflict`` (and no
        change) if the tenant would be left without an active owner."""
        ...

    async def delete_user(self, tenant_id: str, user_id: str) -> bool:
        """Remove the account and its refresh tokens; False if none. ``Conflict`` (and
        no change) if it is the tenant's last active owner."""
        ...

    async def add_invitation(
        self,
        tenant_id: str,
        email: str,
        roles: Sequence[str],
        token_hash: str,
        invited_by: str | None,
        expires_at: datetime,
    ) -> Invitation:
        """A new invitation; earlier pending ones for the same email lapse."""
        ...

    async def list_invitations(self, tenant_id: str) -> builtins.list[Invitation]: ...

    async def delete_invitation(self, tenant_id: str, invitation_id: str) -> bool: ...

    async def accept_invitation(self, token_hash: str, password_hash: str) -> User:
        """Create the invited account and use the invitation up, at once. ``NotFound``
        if no pending, unexpired invitation has this token; ``Conflict`` if the email
        has an account in the tenant already."""
        ...


# ---------------------------------------------------------------- single sign-on


class SsoStore(Protocol):
    """Tenants' single sign-on (relational, same wall): configurations, one-time
    handles of logins in flight, and SAML assertion ids seen (replay protection)."""

    async def get_config(self, tenant_id: str, protocol: str) -> SsoConfig | None: ...

    async def put_config(
        self, tenant_id: str, protocol: str, settings: dict[str, Any], secret: bytes | None
    ) -> SsoConfig:
        """Create or replace; ``secret`` None keeps the one stored."""
        ...

    async def delete_config(self, tenant_id: str, protocol: str) -> bool: ...

    async def put_ticket(
        self, tenant_id: str, kind: str, handle_hash: str, payload: bytes, expires_at: datetime
    ) -> None:
        """Keep a one-time handle (stored by its hash) until ``expires_at``."""
        ...

    async def take_ticket(
        self, scope: str, kind: str, handle_hash: str
    ) -> tuple[str, bytes] | None:
        """(tenant_id, payload) of the handle, removing it: each is taken once. None if
        unknown, expired, of another kind or (unless ``scope`` is ``PLATFORM``) of
        another tenant."""
        ...

    async def remember_assertion(
        self, tenant_id: str, assertion_id: str, expires_at: datetime
    ) -> bool:
        """Record an assertion id until ``expires_at``; False if it was seen already."""
        ...


class AccessStore(Protocol):
    """Which members see which mailboxes (``services/api/access.py`` is the policy)."""

    async def members(self, tenant_id: str, mailbox_id: str) -> builtins.list[str]:
        """The ids of the users assigned to the mailbox, sorted."""
        ...

    async def set_members(self, tenant_id: str, mailbox_id: str, user_ids: Sequence[str]) -> None:
        """Replace the mailbox's members with ``user_ids`` (at once)."""
        ...

    async def assigned(self, tenant_id: str, user_id: str) -> set[str]:
        """The ids of the mailboxes the user is assigned to."""
        ...


class ErasureStore(Protocol):
    """GDPR erasure in the relational store. Every table with a ``tenant_id`` column is
    covered (found from the schema), so a new table needs nothing here. Idempotent."""

    async def erase_tenant_rows(self, tenant_id: str) -> dict[str, int]:
        """Delete the tenant's rows of every table but ``tenants``: {table: rows}."""
        ...

    async def drop_tenant(self, tenant_id: str) -> bool:
        """Delete the tenant's own row (last: until then a re-run can find it)."""
        ...

    async def erase_user_rows(
        self, tenant_id: str, user_id: str, emails: Sequence[str], pseudonym: str
    ) -> dict[str, int]:
        """Delete the user's row and the rows naming them (a ``user_id`` column, or an
        ``email`` column holding one of ``emails``); where they are named as the one
        who acted (``actor_id``, ``invited_by``, …) put ``pseudonym`` instead, and take
        ``emails`` and IP addresses out of the audit details of their entries."""
        ...

    async def emails_of(self, tenant_id: str, user_id: str) -> builtins.list[str]:
        """The user's email addresses known to the store (their row, the audit log)."""
        ...

    async def tenant_of_user(self, user_id: str) -> str | None:
        """The tenant of a user id (platform-wide lookup)."""
        ...


# ---------------------------------------------------------------- local accounts


@dataclass(frozen=True)
class TotpState:
    """A user's TOTP second factor: the secret (encrypted by the caller), whether it is
    confirmed (in force) or only enrolled, and the last time step a code was used for."""

    secret: bytes
    confirmed: bool
    last_step: int | None


class AccountStore(Protocol):
    """The Auth service's own rows for local accounts (relational, same tenant wall).

    Throttle subjects are free strings (``email:<address>``, ``ip:<address>``); the
    platform-wide ones use tenant ``"*"``. Every method is safe to call from several
    processes at once: counters and single-use claims are atomic in the database.
    """

    async def locked_until(self, tenant_id: str, subject: str) -> datetime | None:
        """When the subject's lockout ends, if it is locked now."""
        ...

    async def add_failure(self, tenant_id: str, subject: str, window: timedelta) -> int:
        """Count one failure; returns the failures counted, this one included. The count
        starts again at 1 when the previous failure is older than ``window``."""
        ...

    async def lock(self, tenant_id: str, subject: str, until: datetime) -> None: ...

    async def clear_failures(self, tenant_id: str, subject: str) -> None: ...

    async def add_reset_token(
        self, tenant_id: str, user_id: str, token_hash: str, expires_at: datetime
    ) -> None: ...

    async def find_reset_token(self, token_hash: str) -> tuple[str, str] | None:
        """(tenant_id, user_id) of an unused, unexpired reset token, without using it."""
        ...

    async def use_reset_token(self, token_hash: str) -> tuple[str, str] | None:
        """Claim the token once: (tenant_id, user_id) for the first caller, None after."""
        ...

    async def drop_reset_tokens(self, tenant_id: str, user_id: str) -> None: ...

    async def put_totp(self, tenant_id: str, user_id: str, secret: bytes) -> None:
        """Enroll an unconfirmed secret, replacing an earlier unconfirmed one;
        ``Conflict`` if a confirmed one is in force."""
        ...

    async def get_totp(self, tenant_id: str, user_id: str) -> TotpState | None: ...

    async def confirm_totp(self, tenant_id: str, user_id: str, recovery_hashes: list[str]) -> None:
        """Put the enrolled secret in force with these (hashed) recovery codes."""
        ...

    async def use_totp_step(self, tenant_id: str, user_id: str, step: int) -> bool:
        """True once for a time step later than any used before (replay protection)."""
        ...

    async def use_recovery_code(self, tenant_id: str, user_id: str, code_hash: str) -> bool:
        """True once per recovery code."""
        ...

    async def delete_totp(self, tenant_id: str, user_id: str) -> None: ...

    async def revoke_refresh_tokens(self, tenant_id: str, user_id: str) -> None:
        """Revoke every refresh token family of the user."""
        ...

    async def revoke_access_token(
        self, tenant_id: str, user_id: str, jti: str, expires_at: datetime
    ) -> None:
        """Refuse this access token until it expires (the row goes with it)."""
        ...

    async def set_not_before(
        self, tenant_id: str, user_id: str, not_before: datetime, until: datetime
    ) -> None:
        """Refuse the user's access tokens issued before ``not_before`` (never moves
        back); the row may go after ``until``, when all such tokens have expired."""
        ...

    async def token_revoked(
        self, tenant_id: str, user_id: str, jti: str, issued_at: datetime
    ) -> bool:
        """Whether this access token was revoked, alone or with all of its user's."""
        ...


class AuditStore(Protocol):
    """The audit trail: one hash chain per tenant (``services/audit/chain.py``)."""

    async def append(self, tenant_id: str, entry: AuditEntry) -> bool:
        """Chain the entry at the end of the tenant's trail; False if its
        ``event_id`` is there already (a redelivered event)."""
        ...

    async def query(
        self, tenant_id: str, where: AuditFilter, before_seq: int | None, limit: int
    ) -> builtins.list[dict[str, Any]]:
        """Newest first (by ``seq``); the next page passes the last item's ``seq``."""
        ...

    def pages(
        self, tenant_id: str, where: AuditFilter, size: int = 500
    ) -> AsyncIterator[builtins.list[dict[str, Any]]]:
        """Every matching entry, newest first, a page at a time (exports)."""
        ...

    async def verify(self, tenant_id: str) -> AuditVerification: ...

    async def policy(self, tenant_id: str) -> AuditPolicy: ...

    async def set_policy(self, tenant_id: str, policy: AuditPolicy) -> None: ...

    async def purge(self, tenant_id: str, now: datetime) -> int:
        """Delete the entries older than the retention unless under legal hold; the
        chain stays verifiable from its new anchor. How many went."""
        ...


class SealedColumns(Protocol):
    """Every value sealed by ``crypto.SecretBox`` at rest (columns declared so)."""

    async def reseal(self, reseal: Callable[[bytes], bytes]) -> dict[str, int]:
        """Replace each value with ``reseal(value)``: {"table.column": values}."""
        ...


class DkimKeyStore(Protocol):
    """DKIM signing keys of a tenant's domains, one per (domain, selector); private
    keys sealed by ``crypto.SecretBox`` at rest and returned only by ``signing_key``.
    Domains are lower-case ASCII (IDNA), selectors lower case."""

    async def add(
        self,
        tenant_id: str,
        domain: str,
        selector: str,
        *,
        algorithm: str,
        private_key_pem: bytes,
        dns_value: str,
        created_by: str | None,
    ) -> DkimKeyInfo:
        """Store a new, inactive key; ``Conflict`` if the selector is taken."""
        ...

    async def list(self, tenant_id: str, domain: str) -> builtins.list[DkimKeyInfo]:
        """The domain's keys, by selector."""
        ...

    async def get(self, tenant_id: str, domain: str, selector: str) -> DkimKeyInfo | None: ...

    async def activate(self, tenant_id: str, domain: str, selector: str) -> DkimKeyInfo | None:
        """Make the key the domain's signing key (the others of the domain stop
        signing); None if there is no such key. Idempotent."""
        ...

    async def delete(self, tenant_id: str, domain: str, selector: str) -> bool: ...

    async def signing_key(self, tenant_id: str, domain: str) -> DkimKey | None:
        """For the send worker: the active key of ``domain`` (the From address's
        domain, lower-case ASCII) with its private key decrypted, or None when the
        tenant has no active key there or no longer has the domain. Sign with
        ``mime.dkim_sign.dkim_sign(raw, domain=key.domain, selector=key.selector,
        private_key_pem=key.private_key_pem)``."""
        ...


# ---------------------------------------------------------------- platform mail


class Mailer(Protocol):
    """The platform's own mail (password resets, invitations), not users' mail:
    files in the data dir when embedded, SMTP submission in production."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver, or raise ``MailerError`` saying why not."""
        ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------- users' outgoing mail


@dataclass(frozen=True)
class SendReceipt:
    """What the mailbox's provider said about a message it took.

    ``provider_message_id`` is the id the mailbox's sync will give the sent copy
    (None when it cannot be known yet); ``filed_in_sent`` says whether the copy is
    already in the provider's Sent folder; ``rejected`` maps each recipient the
    provider refused while it took the others to its reason."""

    provider_message_id: str | None
    filed_in_sent: bool
    rejected: dict[str, str] = field(default_factory=dict)


class MailTransport(Protocol):
    """Delivery through one mailbox's own provider (SMTP submission, Gmail API,
    Graph). Raises ``SendTemporaryError`` (retry later) or ``SendPermanentError``."""

    async def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> SendReceipt:
        """Submit ``raw`` (Bcc header kept: the transport keeps it off the wire) from
        ``sender`` to every address in ``recipients`` (to + cc + bcc)."""
        ...

    async def find_sent(self, message_id: str) -> bool | None:
        """Whether a message with this Message-ID is already in the Sent folder
        (after a crash mid-send); None when the provider cannot tell."""
        ...

    async def close(self) -> None: ...


class OutgoingStore(Protocol):
    """Users' outgoing messages (drafts, the send outbox) and their uploads.

    A changing call names the states it may start from; it changes nothing (and
    returns None / False) when the row is in another state or a worker's lease on it
    has not expired, so a message a worker is sending is never edited or cancelled
    under it. The worker's calls name the lease they hold (``owner``) instead."""

    async def create(self, message: OutgoingMessage) -> OutgoingMessage:
        """Store a new message; ``Conflict`` if its author used its idempotency key
        before (read that message with ``by_idempotency_key``)."""
        ...

    async def get(self, tenant_id: str, message_id: str) -> OutgoingMessage | None: ...

    async def by_idempotency_key(
        self, tenant_id: str, user_id: str, key: str
    ) -> OutgoingMessage | None: ...

    async def list(
        self,
        tenant_id: str,
        user_id: str,
        states: Sequence[str] | None,
        limit: int,
        before: tuple[datetime, str] | None = None,
    ) -> builtins.list[OutgoingMessage]:
        """The author's messages, newest first (``created_at``, then id), older than
        ``before`` when given."""
        ...

    async def change(
        self,
        tenant_id: str,
        message_id: str,
        values: Mapping[str, Any],
        *,
        states: Sequence[str],
        now: datetime,
        owner: str | None = None,
    ) -> OutgoingMessage | None:
        """Set ``values`` (fields of ``OutgoingMessage``) if the message is in one of
        ``states`` and either its lease is ``owner``'s or (``owner`` None) no live lease
        is on it; the message as it is now, or None if nothing changed."""
        ...

    async def delete(
        self, tenant_id: str, message_id: str, *, states: Sequence[str], now: datetime
    ) -> bool:
        """Delete the message if it is in one of ``states`` and not leased."""
        ...

    async def submitted_since(
        self, tenant_id: str, user_id: str | None, since: datetime
    ) -> tuple[int, datetime | None]:
        """How many messages (of the user, else of the tenant) were submitted for
        sending at or after ``since`` and not cancelled, and the oldest such time."""
        ...

    async def claim_due(
        self, worker_id: str, now: datetime, ttl: float, limit: int
    ) -> builtins.list[OutgoingMessage]:
        """Across tenants: up to ``limit`` messages with work to do and no live lease,
        each leased to ``worker_id`` until ``now + ttl``: queued or scheduled ones due
        (``next_attempt_at`` reached), ``sending`` ones (a send was interrupted) and
        ``sent`` ones whose Sent copy was not filed yet. Two workers never get the
        same message while a lease is live."""
        ...

    async def release(self, tenant_id: str, message_id: str, owner: str) -> None:
        """Drop ``owner``'s lease (the message changes no further)."""
        ...

    async def add_upload(self, upload: Upload) -> None: ...

    async def get_upload(self, tenant_id: str, upload_id: str) -> Upload | None: ...

    async def purge_uploads(self, now: datetime) -> builtins.list[Upload]:
        """Across tenants: delete the uploads expired by ``now``; the deleted ones."""
        ...

    async def upload_in_use(self, tenant_id: str, sha256: str) -> bool:
        """Whether an upload of the tenant still holds these bytes."""
        ...


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

    async def outbox_mailboxes(self, worker_id: str) -> list[tuple[str, str]]:
        """(tenant_id, mailbox_id) of the mailboxes whose lease ``worker_id`` holds and
        whose outbox has waiting changes: one cheap query, asked about once a second
        by each fetcher process so it applies new changes promptly."""
        ...


# ---------------------------------------------------------------- webhooks


class WebhookStore(Protocol):
    """Tenants' webhook subscriptions and their delivery log (relational, tenant wall).

    Signing secrets are sealed at rest; callers pass and get them in the clear.
    ``claim`` is the only platform-wide method besides ``prune``: a delivery is held
    by one claim at a time (a lease), so two workers never send the same attempt.
    """

    async def create(
        self,
        tenant_id: str,
        *,
        url: str,
        event_types: Sequence[str],
        description: str,
        secret: str,
        created_by: str | None,
    ) -> Webhook: ...

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook | None: ...

    async def list(self, tenant_id: str) -> builtins.list[Webhook]:
        """Oldest first."""
        ...

    async def update(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Webhook | None:
        """Change what is given; ``enabled=True`` also clears the failure count and
        the reason it was disabled. None if there is no such subscription."""
        ...

    async def delete(self, tenant_id: str, webhook_id: str) -> bool:
        """The subscription and its delivery log; False if there was none."""
        ...

    async def rotate_secret(
        self, tenant_id: str, webhook_id: str, secret: str, previous_until: datetime
    ) -> Webhook | None:
        """Sign with ``secret`` from now on, and with the old one too until
        ``previous_until`` (the receiver's switch-over window)."""
        ...

    async def secrets(self, tenant_id: str, webhook_id: str, now: datetime) -> builtins.list[str]:
        """The secrets that sign now, the current one first."""
        ...

    async def active_for(self, tenant_id: str, event_type: str) -> builtins.list[Webhook]:
        """The tenant's active subscriptions to ``event_type``."""
        ...

    async def enqueue(
        self, deliveries: Sequence[NewDelivery], max_attempts: int, now: datetime
    ) -> builtins.list[str]:
        """Add deliveries due ``now``; one per (subscription, event id): a second one
        for the same pair adds nothing (a redelivered bus record). The ids of those
        added (or of the ones there already)."""
        ...

    async def claim(
        self, now: datetime, lease_seconds: float, limit: int
    ) -> builtins.list[Claimed]:
        """Up to ``limit`` due pending deliveries of active subscriptions, any tenant,
        each held for ``lease_seconds`` (then due again if no result was recorded)."""
        ...

    async def record_attempt(
        self,
        claimed: Claimed,
        result: AttemptResult,
        now: datetime,
        retry_at: datetime | None,
        policy: DisablePolicy,
    ) -> Delivery | None:
        """Count the attempt: delivered when ``result.ok``, else pending again at
        ``retry_at`` or, with None, failed for good (which may disable the
        subscription, per ``policy``). None if the claim's lease was lost."""
        ...

    async def deliveries(
        self,
        tenant_id: str,
        webhook_id: str,
        state: str | None,
        before: str | None,
        limit: int,
    ) -> builtins.list[Delivery]:
        """The log, newest first; the next page passes the last item's id."""
        ...

    async def delivery(
        self, tenant_id: str, webhook_id: str, delivery_id: str
    ) -> Delivery | None: ...

    async def replay(
        self, tenant_id: str, webhook_id: str, delivery_id: str, now: datetime
    ) -> Delivery | None:
        """Make a finished delivery pending again for one more attempt, now."""
        ...

    async def prune(self, older_than: datetime) -> int:
        """Delete finished deliveries last changed before ``older_than`` (all tenants)."""
        ...
