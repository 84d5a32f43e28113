"""The provider interface: what every mailbox connector is and hands the fetcher.

A connector (one per connected mailbox) brings the mailbox up to date from a cursor
it defined itself (``sync``), then waits for the provider to say something changed
(``wait_for_change``: IMAP IDLE/NOTIFY, Gmail/Graph push, or a poll). What it finds
goes to a ``SyncSink``: new messages, flag/label changes, deletions, and
checkpoints of its cursor. The sink makes each call durable before it returns, so a
connector checkpoints only after the effects it covers are stored: a crash repeats
work, never loses it, and repeating is harmless because email ids derive from
``provider_message_id`` (DESIGN §5).

The sync engine (``services/fetcher``) owns leases, retries, status and secrets;
connectors only speak their provider's protocol.

The other way round, a ``Writable`` connector makes the users' changes (flags,
labels, trash, delete: ``MailChange``s queued in the outbox) at the provider too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from inboxhub.domain.models import Flags, MailChange

Cursor = dict[str, Any]  # JSON-serialisable; opaque to everyone but its connector


@dataclass(frozen=True)
class FetchedMessage:
    """One raw message as a provider delivered it.

    ``provider_message_id`` identifies the message within its mailbox for the life of
    the mailbox: the email id is derived from it, so fetching it again is a no-op.
    ``labels`` are the folders (IMAP, EWS, Graph) or labels (Gmail) holding it.
    """

    provider_message_id: str
    data: bytes
    received_at: datetime
    flags: Flags = field(default_factory=Flags)
    sha256: str | None = None  # of ``data``, when the provider has it already
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlagChange:
    """New flags (and, when the provider says, labels) of a message already fetched."""

    provider_message_id: str
    flags: Flags
    labels: tuple[str, ...] | None = None  # None: unchanged


class SyncSink(Protocol):
    """Where a connector puts what it found. Each call is durable when it returns."""

    async def messages(self, batch: Sequence[FetchedMessage]) -> None:
        """Store and announce new messages (blob first, then ``email.eml.uploaded``).
        Messages already stored are skipped, so re-sending a batch is harmless."""
        ...

    async def flags(self, changes: Sequence[FlagChange]) -> None:
        """Apply flag/label changes to messages already stored (unknown ids ignored)."""
        ...

    async def deleted(self, provider_message_ids: Sequence[str]) -> None:
        """The provider no longer has these messages: remove them everywhere."""
        ...

    async def checkpoint(self, cursor: Cursor) -> None:
        """Persist the connector's cursor; the next ``sync`` starts from it."""
        ...


class ItemMap(Protocol):
    """A persistent map, per mailbox and folder, from a provider's short-lived item
    reference (an IMAP UID: valid only under one UIDVALIDITY) to the stable
    ``provider_message_id``. Kept in the relational DB by the engine."""

    async def get(self, folder: str, refs: Sequence[str] | None = None) -> dict[str, str]:
        """ref → provider_message_id for ``refs`` (all of the folder's when None)."""
        ...

    async def put(self, folder: str, items: Mapping[str, str]) -> None: ...

    async def drop(self, folder: str, refs: Sequence[str] | None = None) -> None:
        """Forget ``refs`` (the whole folder when None)."""
        ...


class ProviderError(Exception):
    """A provider failed. ``retryable`` errors (network, 5xx, throttling) are retried
    with backoff; the others (bad password, revoked consent, a host we may not
    reach, a mailbox that no longer exists) stop the mailbox's sync until an admin
    changes its settings, and the message is shown in its status."""

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds, when the provider said


class ProviderAuthError(ProviderError):
    """Credentials rejected or consent revoked: an admin must reconnect."""

    retryable = False


class ProviderConfigError(ProviderError):
    """The settings cannot work (unknown host, forbidden address, EWS on Exchange
    Online, a folder that does not exist)."""

    retryable = False


class ConnectorSettings(BaseModel):
    """Base of each provider's settings model (what ``POST /api/v1/mailboxes`` takes
    in ``settings``). Fields named in ``SECRET_FIELDS`` are stored encrypted, apart
    from the rest, and never returned by the API. A provider module may also have
    ``preflight(settings, app_settings)``, raising ``ProviderConfigError`` for
    settings to refuse when they are saved."""

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset()

    def mail_hosts(self) -> list[tuple[str, int]]:
        """The (host, port) pairs a tenant admin chose for the fetcher to connect to
        (checked by ``net_guard`` when saved); none where the provider's endpoints are
        the operator's (Gmail, Graph)."""
        return []


@dataclass
class ConnectorContext:
    """What the engine gives a connector besides its own settings.

    ``app`` is the process's ``inboxhub.settings.Settings`` (API base URLs of the
    providers, OAuth client ids, ``allow_private_mail_hosts``). ``save_secrets`` is
    called with the full, updated secret fields after a token refresh so they are
    stored (encrypted) for the next run."""

    tenant_id: str
    mailbox_id: str
    app: Any
    items: ItemMap
    save_secrets: Callable[[dict[str, Any]], Awaitable[None]]


class Connector(Protocol):
    async def sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        """Bring the mailbox up to date from ``cursor`` ({} on the first sync),
        checkpointing along the way; returns the final cursor (also checkpointed).
        Raises ``ProviderError`` (or a subclass) on failure."""
        ...

    async def wait_for_change(self, cursor: Cursor, timeout: float) -> bool:
        """Wait until the provider signals a change (IMAP IDLE/NOTIFY, a push
        notification) or ``timeout`` seconds pass; True when a change was
        signalled. A connector with no push returns False after the timeout, and the
        engine syncs again anyway (polling)."""
        ...

    async def close(self) -> None: ...


class Disconnectable(Protocol):
    """Optional: a connector whose provider pushes to us (Gmail's watch, Graph's
    subscriptions) stops that when its mailbox is deleted. Best effort: the
    provider's own expiry ends it anyway."""

    async def disconnect(self, cursor: Cursor) -> None: ...


class Outcome(Enum):
    APPLIED = "applied"
    REFUSED = "refused"  # for good: the message is gone, the folder does not exist
    FAILED = "failed"  # for now (network, throttling, 5xx): tried again later
    SKIPPED = "skipped"  # not tried: an earlier change failed, and order is kept


@dataclass(frozen=True)
class ChangeResult:
    outcome: Outcome
    detail: str = ""  # why it was refused or failed; what part was left out
    retry_after: float | None = None  # seconds, when the provider said (FAILED)

    @property
    def done(self) -> bool:
        """Nothing more to do: applied, or refused for good."""
        return self.outcome in (Outcome.APPLIED, Outcome.REFUSED)


APPLIED = ChangeResult(Outcome.APPLIED)


@runtime_checkable
class Writable(Protocol):
    """Optional: a connector that makes users' changes at the provider too.

    ``apply`` makes ``changes`` in order and returns one result per change. A change
    the provider rejects for good (the message is gone, a folder or label does not
    exist) is ``REFUSED``; a transient failure is ``FAILED`` and every change after it
    ``SKIPPED``, so a later change to the same message never overtakes an earlier one.
    A failure of the whole mailbox (credentials, connection) is raised as a
    ``ProviderError``. Applying a change twice must be harmless: the fetcher applies
    at least once (a crash between ``apply`` and the outbox's bookkeeping repeats it).
    """

    async def apply(self, changes: Sequence[MailChange]) -> list[ChangeResult]: ...


async def apply_in_order(
    changes: Sequence[MailChange], apply_one: Callable[[MailChange], Awaitable[ChangeResult]]
) -> list[ChangeResult]:
    """``Writable.apply`` from a function applying one change: a retryable
    ``ProviderError`` fails that change and skips the rest; credentials and settings
    errors concern the whole mailbox and are raised; any other non-retryable
    ``ProviderError`` (the provider refused this request) refuses the change."""
    results: list[ChangeResult] = []
    for index, change in enumerate(changes):
        try:
            results.append(await apply_one(change))
        except (ProviderAuthError, ProviderConfigError):
            raise
        except ProviderError as exc:
            if not exc.retryable:
                results.append(ChangeResult(Outcome.REFUSED, str(exc)))
                continue
            results.append(ChangeResult(Outcome.FAILED, str(exc), exc.retry_after))
            results.extend(ChangeResult(Outcome.SKIPPED) for _ in changes[index + 1 :])
            break
    return results
