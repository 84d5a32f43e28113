"""Exchange Web Services: mailboxes on an on-premises Exchange server (exchangelib).

Each configured folder (distinguished names: ``inbox``, ``sentitems`` …; by default
``DEFAULT_FOLDERS``, the trash included) is brought up to date with ``SyncFolderItems``,
one page (``MaxChangesReturned``) at a time: new items are fetched as MIME with
``GetItem`` and handed over, read/flag changes become ``FlagChange``s, deletions
``sink.deleted``; the folder's ``SyncState`` is checkpointed after each page's sink
calls returned. The EWS ItemId is the provider message id: it is
stable while the item stays in its folder (a move is a delete here and a create there).
The folder is the message's label, ``deleteditems`` as ``Deleted Items``: a trash
label (``domain.labels``), so that an item moved there shows as trashed.

``ctx.items`` remembers, per folder, the ItemIds handed over. It lets a repeated page
(after a crash) skip the download of what is stored already, and it is how a full
resync finds deletions: when Exchange no longer accepts a sync state
(``ErrorInvalidSyncStateData``) the folder is synced from scratch, every id seen is
noted under a side key, and remembered ids that did not come back are reported deleted.

Users' changes are made on the server by ``ews_write``.

Exchange Online is refused: Microsoft blocks EWS there by default since 1 October 2026
and switches it off on 1 April 2027; Microsoft 365 mailboxes use the ``graph`` provider.

exchangelib is synchronous (requests), so its calls run in worker threads. Its protocol
objects are normally cached process-wide per (endpoint, credentials); a connector builds
its own (``_ConnectorProtocol``) so its HTTP adapter can pin connections to the
addresses ``net_guard`` vetted (no DNS rebinding between check and connect) and verify
TLS with the system CAs plus the operator's ``mail_tls_ca_file``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

import requests
import structlog
from exchangelib import DELEGATE, Account, Configuration, Credentials, FailFast, Version
from exchangelib import errors as ews_errors
from exchangelib.extended_properties import ExtendedProperty
from exchangelib.folders import Folder
from exchangelib.folders.known_folders import (
    MISC_FOLDERS,
    WELLKNOWN_FOLDERS_IN_ARCHIVE_ROOT,
    WELLKNOWN_FOLDERS_IN_ROOT,
)
from exchangelib.items import (
    ID_ONLY,
    MeetingCancellation,
    MeetingRequest,
    MeetingResponse,
    Message,
)
from exchangelib.protocol import CachingProtocol, Protocol
from exchangelib.services import SyncFolderItems
from exchangelib.transport import BASIC, NTLM
from exchangelib.version import VERSIONS
from pydantic import model_validator
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from inboxhub.domain.models import Flags, MailChange
from inboxhub.providers import net_guard
from inboxhub.providers.base import (
    ChangeResult,
    ConnectorContext,
    ConnectorSettings,
    Cursor,
    FetchedMessage,
    FlagChange,
    ProviderAuthError,
    ProviderConfigError,
    ProviderError,
    SyncSink,
    apply_in_order,
)
from inboxhub.providers.ews_write import FLAG_FIELD, FLAGGED, EwsWriter
from inboxhub.providers.retry_after import retry_after_seconds

log = structlog.get_logger(__name__)
# exchangelib logs whole requests, Basic credentials included, at DEBUG: never let a
# debug log level of ours turn that on.
logging.getLogger("exchangelib").setLevel(logging.INFO)

T = TypeVar("T")

# Host names of Exchange Online ("*." matches any subdomain, and the domain itself).
EXCHANGE_ONLINE_HOSTS = (
    "outlook.office365.com",
    "outlook.office.com",
    "*.outlook.com",
    "*.office365.com",
)
EXCHANGE_ONLINE_MESSAGE = (
    "{host} is Exchange Online: Microsoft blocks EWS there by default since 1 October 2026 "
    'and switches it off for good on 1 April 2027. Connect this mailbox with provider "graph" '
    '(Microsoft Graph) instead of "ews".'
)

# Distinguished names of the folders that hold mail (inbox, sentitems, drafts,
# junkemail, archiveinbox …; not calendar, contacts or tasks).
FOLDER_CLASSES: dict[str, type[Folder]] = {
    cls.DISTINGUISHED_FOLDER_ID: cls
    for cls in (*WELLKNOWN_FOLDERS_IN_ROOT, *WELLKNOWN_FOLDERS_IN_ARCHIVE_ROOT, *MISC_FOLDERS)
    if cls.DISTINGUISHED_FOLDER_ID and Message in cls.supported_item_models
}
API_VERSIONS = tuple(dict.fromkeys(api for _, api, _ in VERSIONS))
DEFAULT_FOLDERS = ("inbox", "sentitems", "deleteditems")  # the trash stays visible
TRASH_FOLDER, TRASH_LABEL = "deleteditems", "Deleted Items"


def folder_label(name: str) -> str:
    """The label of a folder's items: its distinguished name, the trash's by name."""
    return TRASH_LABEL if name == TRASH_FOLDER else name


class FlagStatus(ExtendedProperty):
    """MAPI ``PidTagFlagStatus`` (MS-OXOFLAG): absent when not flagged, 1 complete, 2
    flagged. exchangelib has no field for the follow-up flag; this works on every
    Exchange version (``item:Flag`` needs 2013+)."""

    property_tag = 0x1090
    property_type = "Integer"


for _cls in (Message, MeetingRequest, MeetingResponse, MeetingCancellation):
    with suppress(ValueError):  # registered already (module reloaded)
        _cls.register(FLAG_FIELD, FlagStatus)

SYNC_FIELDS = ("is_read", FLAG_FIELD)
FETCH_FIELDS = ("mime_content", "datetime_received", "is_read", FLAG_FIELD)
# Errors GetItem returns per item that mean "this one cannot be had": skip it.
ITEM_GONE = (ews_errors.ErrorItemNotFound, ews_errors.ErrorInvalidIdMalformed)


def is_exchange_online(host: str) -> bool:
    name = host.lower().rstrip(".")
    for pattern in EXCHANGE_ONLINE_HOSTS:
        if pattern.startswith("*."):
            if name == pattern[2:] or name.endswith(pattern[1:]):
                return True
        elif name == pattern:
            return True
    return False


class EwsSettings(ConnectorSettings):
    """An Exchange mailbox reached over EWS with a user name and password.

    Give ``server`` (host name: ``https://<server>/EWS/Exchange.asmx`` is used) or the
    full ``service_endpoint``; the other is derived. No autodiscover."""

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"password"})

    server: str | None = None
    service_endpoint: str | None = None
    email: str  # primary SMTP address of the mailbox
    username: str | None = None  # DOMAIN\\user or UPN; the email address when empty
    password: str | None = None
    auth_type: Literal["ntlm", "basic"] = "ntlm"
    version: str | None = None  # e.g. "Exchange2016": no version probing
    folders: list[str] | None = None  # None: DEFAULT_FOLDERS

    @model_validator(mode="after")
    def _derive(self) -> EwsSettings:
        if "@" not in self.email:
            raise ValueError("email must be the mailbox's primary SMTP address")
        if self.service_endpoint:
            parts = urlsplit(self.service_endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("service_endpoint must be an http(s) URL")
            if self.server and self.server.lower() != parts.hostname.lower():
                raise ValueError("server and service_endpoint name different hosts")
            self.server = parts.hostname
        elif self.server:
            host = self.server.strip().rstrip("/")
            if not host or any(c in host for c in "/\\@ :?#"):
                raise ValueError("server must be a host name (or give service_endpoint)")
            self.server = host
            self.service_endpoint = f"https://{host}/EWS/Exchange.asmx"
        else:
            raise ValueError("give server or service_endpoint")
        if self.version is not None and self.version not in API_VERSIONS:
            raise ValueError(f"version must be one of {', '.join(API_VERSIONS)}")
        if self.folders is None:
            return self
        if not self.folders:
            raise ValueError("folders must name at least one folder")
        unknown = [f for f in self.folders if f.lower() not in FOLDER_CLASSES]
        if unknown:
            raise ValueError(f"not the distinguished name of a mail folder: {', '.join(unknown)}")
        self.folders = list(dict.fromkeys(f.lower() for f in self.folders))
        return self

    @property
    def synced_folders(self) -> list[str]:
        """The configured folders, else ``DEFAULT_FOLDERS``."""
        return list(self.folders if self.folders is not None else DEFAULT_FOLDERS)

    def mail_hosts(self) -> list[tuple[str, int]]:
        assert self.service_endpoint is not None  # derived by the validator
        url = urlsplit(self.service_endpoint)
        return [(url.hostname or "", url.port or (443 if url.scheme == "https" else 80))]


# ----------------------------------------------------------------------- HTTP plumbing


def _connect_pinned(conn: HTTPConnection, addresses: Sequence[str]) -> socket.socket:
    """Open the TCP connection to one of the vetted ``addresses`` (never resolving the
    name again); TLS still uses the host name for SNI and certificate checks."""
    last: OSError | None = None
    for address in addresses:
        try:
            return create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"connection to {conn.host} timed out") from exc
        except OSError as exc:
            last = exc
    raise NewConnectionError(conn, f"failed to establish a new connection: {last}")


def _adapter_class(
    addresses: Sequence[str], ssl_context: ssl.SSLContext
) -> type[requests.adapters.HTTPAdapter]:
    class PinnedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect_pinned(self, addresses)

    class PinnedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect_pinned(self, addresses)

    class PinnedHTTPPool(HTTPConnectionPool):
        ConnectionCls = PinnedHTTPConnection

    class PinnedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = PinnedHTTPSConnection

    class PinnedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = ssl_context
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": PinnedHTTPPool,
                "https": PinnedHTTPSPool,
            }

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            # requests points the pool at certifi's bundle, which urllib3 would load
            # into our context: verify against the context's own store instead.
            if verify is True:
                conn.ca_certs = None
                conn.ca_cert_dir = None

    return PinnedAdapter


class _UncachedProtocolMeta(CachingProtocol):
    """exchangelib shares one Protocol per (endpoint, credentials) in a process-wide
    cache; each connector gets its own instead (its own adapter, closed in close())."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return type.__call__(cls, *args, **kwargs)


class _ConnectorProtocol(Protocol, metaclass=_UncachedProtocolMeta):
    def __init__(
        self,
        *,
        config: Configuration,
        adapter_cls: type[requests.adapters.HTTPAdapter],
        on_response: Callable[[requests.Response], None],
    ) -> None:
        super().__init__(config=config)
        self._adapter_cls = adapter_cls
        self._on_response = on_response

    # An instance method on purpose (exchangelib's is a classmethod): the adapter
    # belongs to this connector, not to the class.
    def raw_session(self, prefix: str, *args: Any, **kwargs: Any) -> requests.Session:
        session: requests.Session = super().raw_session(prefix, *args, **kwargs)
        session.mount(
            prefix,
            self._adapter_cls(
                pool_block=True,
                pool_connections=self.CONNECTIONS_PER_SESSION,
                pool_maxsize=self.CONNECTIONS_PER_SESSION,
                max_retries=0,
            ),
        )
        session.hooks["response"].append(lambda r, *a, **k: self._on_response(r))
        return session


# ----------------------------------------------------------------------- the connector


class _InvalidSyncState(Exception):
    pass


class _Busy(Exception):
    def __init__(self, delay: float | None) -> None:
        super().__init__(delay)
        self.delay = delay


@dataclass
class _Page:
    sync_state: str
    last: bool
    creates: list[tuple[str, Flags]] = field(default_factory=list)
    updates: list[tuple[str, Flags]] = field(default_factory=list)
    read_changes: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)


def _flags(item: Any) -> Flags:
    return Flags(
        seen=bool(getattr(item, "is_read", False)),
        flagged=getattr(item, FLAG_FIELD, None) == FLAGGED,
    )


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


class EwsConnector:
    """One Exchange mailbox over EWS. ``sleep`` may be replaced (tests)."""

    page_size = 100  # MaxChangesReturned per SyncFolderItems
    fetch_chunk = 10  # items per GetItem (MIME content is big)
    batch_messages = 100
    batch_bytes = 8 * 1024 * 1024
    max_busy_wait = 60.0  # longest server-requested back-off sat out inside a sync
    max_busy_total = 300.0
    max_busy_retries = 8

    def __init__(self, config: EwsSettings, secrets: dict[str, Any], ctx: ConnectorContext):
        self.config = config
        self.ctx = ctx
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self._password = secrets.get("password") or config.password or ""
        assert config.service_endpoint and config.server  # derived by EwsSettings
        self._url = urlsplit(config.service_endpoint)
        self._host = config.server
        if is_exchange_online(self._host):
            raise ProviderConfigError(EXCHANGE_ONLINE_MESSAGE.format(host=self._host))
        self._account: Any = None
        self._folders: dict[str, Any] = {}
        self._last_status = 0
        self._last_retry_after: float | None = None

    # ------------------------------------------------------------------ connecting

    async def _connect(self) -> None:
        if self._account is not None:
            return
        if not self._password:
            raise ProviderConfigError("no password is stored for this EWS mailbox")
        https = self._url.scheme == "https"
        [(_, port)] = self.config.mail_hosts()
        allow_private = bool(getattr(self.ctx.app, "allow_private_mail_hosts", False))
        addresses = await net_guard.resolve_allowed(self._host, port, allow_private)
        if not https and not (allow_private and all(net_guard.is_internal(a) for a in addresses)):
            raise ProviderConfigError(
                f"{self.config.service_endpoint} is plain http: EWS must use https "
                "(http is only accepted for internal hosts an operator allowed)"
            )
        context = ssl.create_default_context()
        ca_file = getattr(self.ctx.app, "mail_tls_ca_file", "")
        if ca_file:
            try:
                context.load_verify_locations(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ProviderConfigError(f"cannot load mail_tls_ca_file {ca_file}: {exc}") from exc
        version = None
        if self.config.version:
            build = next(b for b, api, _ in VERSIONS if api == self.config.version)
            version = Version(build=build, api_version=self.config.version)
        configuration = Configuration(
            service_endpoint=self.config.service_endpoint,
            credentials=Credentials(self.config.username or self.config.email, self._password),
            auth_type=NTLM if self.config.auth_type == "ntlm" else BASIC,
            version=version,
            retry_policy=FailFast(),  # we back off ourselves, asynchronously and bounded
            max_connections=1,
        )
        account = Account(
            primary_smtp_address=self.config.email,
            config=configuration,
            autodiscover=False,
            access_type=DELEGATE,
            default_timezone=UTC,
            locale="en_US",
        )
        # Account() registered a cached Protocol: use our own and drop that one.
        account.protocol = _ConnectorProtocol(
            config=configuration,
            adapter_cls=_adapter_class(addresses, context),
            on_response=self._note_response,
        )
        with suppress(KeyError):
            del Protocol[configuration]
        self._account = account
        try:
            root = await self._ews(partial(getattr, account, "root"))
            for name in self.config.synced_folders:
                cls = FOLDER_CLASSES[name]
                try:
                    self._folders[name] = await self._ews(partial(cls.get_distinguished, root=root))
                except ProviderConfigError as exc:
                    raise ProviderConfigError(
                        f"folder {name!r} does not exist in mailbox {self.config.email}"
                    ) from exc
        except BaseException:
            await self.close()
            raise

    def _note_response(self, response: requests.Response) -> None:
        self._last_status = response.status_code
        self._last_retry_after = retry_after_seconds(response.headers.get("Retry-After"))

    # ------------------------------------------------------------------ calling EWS

    async def _ews(self, call: Callable[[], T]) -> T:
        """Run one exchangelib call in a thread, riding out throttling (bounded) and
        translating its errors to ``ProviderError``s."""
        waited = 0.0
        for attempt in range(self.max_busy_retries + 1):
            try:
                return await asyncio.to_thread(self._translated, call)
            except _Busy as busy:
                delay = busy.delay if busy.delay is not None else min(2.0**attempt, 30.0)
                if (
                    attempt >= self.max_busy_retries
                    or delay > self.max_busy_wait
                    or waited + delay > self.max_busy_total
                ):
                    raise ProviderError(
                        f"Exchange at {self._host} is busy (throttled); retry later",
                        retry_after=delay,
                    ) from None
                log.info("ews.busy_backoff", host=self._host, seconds=round(delay, 1))
                await self.sleep(delay)
                waited += delay
        raise AssertionError("unreachable")

    def _translated(self, call: Callable[[], T]) -> T:
        self._last_status, self._last_retry_after = 0, None
        try:
            return call()
        except ews_errors.ErrorInvalidSyncStateData as exc:
            raise _InvalidSyncState(str(exc)) from exc
        except ews_errors.ErrorServerBusy as exc:
            if self._last_status in (429, 503):  # HTTP-level: honour Retry-After
                raise _Busy(self._last_retry_after) from exc
            raise _Busy(exc.back_off) from exc
        except ews_errors.UnauthorizedError as exc:
            raise ProviderAuthError(
                f"Exchange at {self._host} rejected the user name or password of "
                f"{self.config.username or self.config.email} (HTTP 401)"
            ) from exc
        except ews_errors.ErrorAccessDenied as exc:
            raise ProviderAuthError(
                f"Exchange denied {self.config.username or self.config.email} access to "
                f"mailbox {self.config.email}: {exc}"
            ) from exc
        except (
            ews_errors.ErrorFolderNotFound,
            ews_errors.ErrorNonExistentMailbox,
            ews_errors.ErrorMailboxStoreUnavailable,
        ) as exc:
            raise ProviderConfigError(f"{self.config.email} on {self._host}: {exc}") from exc
        except ews_errors.RedirectError as exc:
            raise ProviderConfigError(
                f"{self.config.service_endpoint} redirects to {exc.url}; "
                "set service_endpoint to the server's EWS URL"
            ) from exc
        except ews_errors.ErrorTimeoutExpired as exc:
            raise ProviderError(f"cannot reach Exchange at {self._host}: {exc}") from exc
        except ews_errors.TransportError as exc:
            if isinstance(exc.__context__, requests.exceptions.SSLError):
                raise ProviderConfigError(
                    f"TLS with {self._host} failed ({exc}); if the server uses a private CA, "
                    "an operator must add it with INBOXHUB_MAIL_TLS_CA_FILE"
                ) from exc
            if self._last_status in (429, 503):
                raise _Busy(self._last_retry_after) from exc
            raise ProviderError(f"Exchange at {self._host} failed: {exc}") from exc
        except (ews_errors.EWSError, requests.exceptions.RequestException, OSError) as exc:
            raise ProviderError(f"Exchange at {self._host} failed: {exc}") from exc

    # ------------------------------------------------------------------ EWS operations (threads)

    def _sync_page(self, folder: Any, sync_state: str | None) -> _Page:
        fields = {
            f for f in folder.normalize_fields(fields=list(SYNC_FIELDS)) if not f.field.is_attribute
        }
        svc = SyncFolderItems(account=self._account)
        page = _Page(sync_state="", last=True)
        for change in svc.call(
            folder=folder,
            shape=ID_ONLY,
            additional_fields=fields,
            sync_state=sync_state,
            ignore=None,
            max_changes_returned=self.page_size,
            sync_scope="NormalItems",
        ):
            if isinstance(change, Exception):
                raise change
            kind, item = change
            if kind == svc.CREATE:
                page.creates.append((item.id, _flags(item)))
            elif kind == svc.UPDATE:
                page.updates.append((item.id, _flags(item)))
            elif kind == svc.READ_FLAG_CHANGE:
                page.read_changes.append(item[0].id)
            elif kind == svc.DELETE:
                page.deletes.append(item.id)
        page.sync_state = svc.sync_state
        page.last = bool(svc.includes_last_item_in_range) or svc.sync_state == sync_state
        return page

    def _get_items(self, folder: Any, ids: Sequence[str], fields: Sequence[str]) -> list[Any]:
        found = []
        for item in self._account.fetch(
            ids=[(i, None) for i in ids],
            folder=folder,
            only_fields=list(fields),
            chunk_size=len(ids),
        ):
            if isinstance(item, ITEM_GONE):
                continue  # deleted meanwhile: the next sync reports it
            if isinstance(item, Exception):
                log.warning("ews.item_unreadable", host=self._host, item=str(item))
                continue
            found.append(item)
        return found

    # ------------------------------------------------------------------ sync

    async def sync(self, cursor: Cursor, sink: SyncSink) -> Cursor:
        await self._connect()
        folders_state = dict(cursor.get("folders") or {})
        current: Cursor = {
            "v": 1,
            "folders": {
                n: dict(folders_state.get(n) or {"sync_state": None})
                for n in self.config.synced_folders
            },
        }
        for name in self.config.synced_folders:
            await self._sync_folder(name, current, sink)
        await sink.checkpoint(_copy(current))
        return current

    async def _sync_folder(self, name: str, cursor: Cursor, sink: SyncSink) -> None:
        folder = self._folders[name]
        state: dict[str, Any] = cursor["folders"][name]
        seen_key = _seen_key(name)
        fresh = state.get("sync_state") is None and not state.get("resync")
        # From scratch with ids remembered (first sync after a cursor reset): the same
        # reconciliation as after an invalid sync state.
        if fresh and await self.ctx.items.get(name):
            state["resync"] = True
            await self.ctx.items.drop(seen_key)
        restarts = 0
        while True:
            try:
                page = await self._ews(partial(self._sync_page, folder, state.get("sync_state")))
            except _InvalidSyncState:
                if restarts:
                    raise ProviderError(
                        f"Exchange keeps rejecting a fresh sync state for folder {name!r}"
                    ) from None
                restarts += 1
                log.info("ews.sync_state_invalid_resync", host=self._host, folder=name)
                state.clear()
                state.update(sync_state=None, resync=True)
                await self.ctx.items.drop(seen_key)
                continue
            await self._apply(name, folder, page, sink, resync=bool(state.get("resync")))
            state["sync_state"] = page.sync_state
            await sink.checkpoint(_copy(cursor))
            if page.last:
                break
        if state.get("resync"):
            known = await self.ctx.items.get(name)
            seen = await self.ctx.items.get(seen_key)
            gone = [ref for ref in known if ref not in seen]
            if gone:
                await sink.deleted([known[ref] for ref in gone])
                await self.ctx.items.drop(name, gone)
            await self.ctx.items.drop(seen_key)
            state.pop("resync", None)
            await sink.checkpoint(_copy(cursor))

    async def _apply(
        self, name: str, folder: Any, page: _Page, sink: SyncSink, resync: bool
    ) -> None:
        """Hand one page of changes to the sink (returns once all calls returned)."""
        create_ids = [i for i, _ in page.creates]
        known = await self.ctx.items.get(name, create_ids) if create_ids else {}
        # Already stored (a repeated page, a resync): refresh flags, do not download.
        flag_changes = [FlagChange(known[i], flags) for i, flags in page.creates if i in known] + [
            FlagChange(i, flags) for i, flags in page.updates
        ]
        new_ids = [i for i in create_ids if i not in known]
        batch: list[FetchedMessage] = []
        size = 0
        for start in range(0, len(new_ids), self.fetch_chunk):
            chunk = new_ids[start : start + self.fetch_chunk]
            items = await self._ews(partial(self._get_items, folder, chunk, FETCH_FIELDS))
            for item in items:
                if item.mime_content is None:
                    log.warning("ews.item_without_mime", host=self._host, folder=name)
                    continue
                batch.append(
                    FetchedMessage(
                        provider_message_id=item.id,
                        data=bytes(item.mime_content),
                        received_at=_utc(item.datetime_received),
                        flags=_flags(item),
                        labels=(folder_label(name),),
                    )
                )
                size += len(batch[-1].data)
            if len(batch) >= self.batch_messages or size >= self.batch_bytes:
                await self._deliver(name, batch, sink, resync)
                batch, size = [], 0
        await self._deliver(name, batch, sink, resync)
        if resync and known:
            await self.ctx.items.put(_seen_key(name), known)
        if page.read_changes:
            # ReadFlagChange carries IsRead only: read the follow-up flag too.
            for start in range(0, len(page.read_changes), self.page_size):
                chunk = page.read_changes[start : start + self.page_size]
                items = await self._ews(partial(self._get_items, folder, chunk, SYNC_FIELDS))
                flag_changes.extend(FlagChange(item.id, _flags(item)) for item in items)
        if flag_changes:
            await sink.flags(flag_changes)
        if page.deletes:
            await sink.deleted(page.deletes)
            await self.ctx.items.drop(name, page.deletes)

    async def _deliver(
        self, name: str, batch: list[FetchedMessage], sink: SyncSink, resync: bool
    ) -> None:
        if not batch:
            return
        await sink.messages(batch)
        ids = {m.provider_message_id: m.provider_message_id for m in batch}
        await self.ctx.items.put(name, ids)
        if resync:
            await self.ctx.items.put(_seen_key(name), ids)

    async def apply(self, changes: Sequence[MailChange]) -> list[ChangeResult]:
        """Make users' changes on the server (``ews_write``)."""
        await self._connect()
        writer = EwsWriter(
            self._account,
            self.config.email,
            self._ews,
            self.ctx.items,
            frozenset(FOLDER_CLASSES),
            ITEM_GONE,
        )
        return await apply_in_order(changes, writer.apply_one)

    async def wait_for_change(self, cursor: Cursor, timeout: float) -> bool:
        """Polling only: EWS has streaming and pull notifications (subscriptions), but
        this connector does not use them; it waits out ``timeout`` and returns False,
        and the engine syncs again."""
        await self.sleep(timeout)
        return False

    async def close(self) -> None:
        account, self._account = self._account, None
        self._folders = {}
        if account is not None:
            await asyncio.to_thread(account.protocol.close)


def _seen_key(folder: str) -> str:
    """The ``ctx.items`` folder under which a full resync notes the ids it saw."""
    return f"{folder}#resync-seen"


def _copy(cursor: Cursor) -> Cursor:
    return {
        "v": cursor["v"],
        "folders": {name: dict(state) for name, state in cursor["folders"].items()},
    }


def preflight(config: EwsSettings, app: Any) -> None:
    """Checks worth doing when the mailbox is saved (the API answers 422)."""
    if config.server and is_exchange_online(config.server):
        raise ProviderConfigError(EXCHANGE_ONLINE_MESSAGE.format(host=config.server))


SETTINGS = EwsSettings
CONNECTOR = EwsConnector
