"""The one wiring place: settings → adapters → services (like cosmicpython's bootstrap).

Nothing else constructs an adapter. The URL scheme of each setting picks the
adapter; services receive ports and never learn which technology is behind them.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import structlog

from inboxhub.crypto import SecretBox
from inboxhub.domain.events import AUDIT_ACTION, EML_UPLOADED, INDEX_REQUESTED
from inboxhub.extract import ExtractLimits
from inboxhub.mime.parse import ParseLimits
from inboxhub.ports import (
    AccessStore,
    AccountStore,
    AuditStore,
    BlobStore,
    Directory,
    DkimKeyStore,
    EmailStore,
    ErasureStore,
    EventBus,
    Mailer,
    OutgoingStore,
    Record,
    SealedColumns,
    SearchIndex,
    SsoStore,
    SyncStore,
    TenancyStore,
    WebhookStore,
)
from inboxhub.services.audit.handler import AuditRecorder
from inboxhub.services.audit.publisher import AuditLog
from inboxhub.services.auth import AuthService
from inboxhub.services.auth.passwords import PasswordHasher
from inboxhub.services.auth.tokens import TokenService
from inboxhub.services.consumer import run_consumer
from inboxhub.services.fetcher.ingest import Ingest
from inboxhub.services.indexer.handler import Indexer
from inboxhub.services.notifications.hub import LIVE_TOPICS, NotificationHub
from inboxhub.services.processor.document import warm_up
from inboxhub.services.processor.handler import Processor
from inboxhub.services.webhooks import consumer as webhooks_consumer
from inboxhub.services.webhooks.worker import DeliveryWorker, max_attempts
from inboxhub.settings import Settings

if TYPE_CHECKING:
    from inboxhub.adapters.db import SqlDirectory

log = structlog.get_logger(__name__)

CONSUMER_SERVICES = ("processor", "indexer", "notifications", "audit", "webhooks")
HTTP_SERVICES = ("gateway", "auth", "tenants", "api")
WORKER_SERVICES = ("fetcher", "sender")  # they work from the database, not the bus
SERVICES = (*HTTP_SERVICES, *WORKER_SERVICES, *CONSUMER_SERVICES)


class UnsupportedUrl(ValueError):
    pass


def _path(url: str) -> Path:
    """``sqlite:///abs/path`` or ``file:///abs/path`` → the path."""
    return Path(urlparse(url).path)


def make_bus(settings: Settings) -> EventBus:
    scheme = urlparse(settings.bus_url).scheme
    if scheme == "sqlite":
        from inboxhub.adapters.bus_sqlite import SqliteEventBus

        return SqliteEventBus(_path(settings.bus_url), partitions=settings.bus_partitions)
    if scheme == "kafka":
        from inboxhub.adapters.bus_kafka import KafkaEventBus

        return KafkaEventBus.from_url(
            settings.bus_url,
            partitions=settings.bus_partitions,
            replication_factor=settings.bus_replication_factor,
            retention_ms=settings.bus_retention_ms,
            instance_id=settings.instance_id,
        )
    raise UnsupportedUrl(f"no event bus adapter for {settings.bus_url!r}")


def make_blobs(settings: Settings) -> BlobStore:
    scheme = urlparse(settings.blob_url).scheme
    if scheme == "file":
        from inboxhub.adapters.blobs_fs import FsBlobStore

        return FsBlobStore(_path(settings.blob_url))
    if scheme == "s3":
        from inboxhub.adapters.blobs_s3 import S3BlobStore

        return S3BlobStore.from_url(
            settings.blob_url,
            sse=settings.blob_sse or None,
            sse_kms_key_id=settings.blob_sse_kms_key_id or None,
        )
    raise UnsupportedUrl(f"no blob store adapter for {settings.blob_url!r}")


def make_emails(settings: Settings) -> EmailStore:
    scheme = urlparse(settings.documents_url).scheme
    if scheme == "sqlite":
        from inboxhub.adapters.docs_sqlite import SqliteEmailStore

        return SqliteEmailStore(_path(settings.documents_url))
    if scheme in ("mongodb", "mongodb+srv"):
        from inboxhub.adapters.docs_mongo import MongoEmailStore

        return MongoEmailStore.from_url(settings.documents_url)
    raise UnsupportedUrl(f"no document store adapter for {settings.documents_url!r}")


def make_search(settings: Settings) -> SearchIndex:
    scheme = urlparse(settings.search_url).scheme
    if scheme == "sqlite":
        from inboxhub.adapters.search_fts import FtsSearchIndex

        return FtsSearchIndex(_path(settings.search_url))
    from inboxhub.adapters import search_elastic

    if scheme in search_elastic.SCHEMES:
        return search_elastic.ElasticSearchIndex.from_url(settings.search_url)
    raise UnsupportedUrl(f"no search adapter for {settings.search_url!r}")


async def make_directory(settings: Settings) -> Directory:
    from inboxhub.adapters.db import SqlDirectory

    scheme = urlparse(settings.database_url).scheme
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise UnsupportedUrl(
            f"no relational adapter for {settings.database_url!r} "
            "(sqlite+aiosqlite:// or postgresql+asyncpg://)"
        )
    return await SqlDirectory.open(settings.database_url, run_migrations=settings.auto_migrate)


def _sql(directory: Directory) -> SqlDirectory:
    """The stores made below keep their tables in the directory's database, under the
    same tenant wall (``SqlDirectory.tx``): the fetcher's state, the tenant service's,
    the auth service's, access and erasure."""
    from inboxhub.adapters.db import SqlDirectory

    assert isinstance(directory, SqlDirectory)
    return directory


def make_sync_store(directory: Directory) -> SyncStore:
    from inboxhub.adapters.db_sync import SqlSyncStore

    return SqlSyncStore(_sql(directory))


def make_tenancy(directory: Directory) -> TenancyStore:
    from inboxhub.adapters.db_tenancy import SqlTenancyStore

    return SqlTenancyStore(_sql(directory))


def make_accounts(directory: Directory) -> AccountStore:
    from inboxhub.adapters.db_accounts import SqlAccountStore

    return SqlAccountStore(_sql(directory))


def make_sso(directory: Directory) -> SsoStore:
    from inboxhub.adapters.db_sso import SqlSsoStore

    return SqlSsoStore(_sql(directory))


def make_access(directory: Directory) -> AccessStore:
    from inboxhub.adapters.db_access import SqlAccessStore

    return SqlAccessStore(_sql(directory))


def make_outgoing(directory: Directory) -> OutgoingStore:
    from inboxhub.adapters.db_outgoing import SqlOutgoingStore

    return SqlOutgoingStore(_sql(directory))


def make_erasure(directory: Directory) -> ErasureStore:
    from inboxhub.adapters.db_erasure import SqlErasureStore

    return SqlErasureStore(_sql(directory))


def make_audit_store(directory: Directory, box: SecretBox) -> AuditStore:
    from inboxhub.adapters.db_audit import SqlAuditStore

    return SqlAuditStore(_sql(directory), box)


def make_webhooks(directory: Directory, box: SecretBox) -> WebhookStore:
    from inboxhub.adapters.db_webhooks import SqlWebhookStore

    return SqlWebhookStore(_sql(directory), box)


def make_dkim(directory: Directory, box: SecretBox) -> DkimKeyStore:
    from inboxhub.adapters.db_dkim import SqlDkimKeyStore

    return SqlDkimKeyStore(_sql(directory), box)


def make_sealed_columns(directory: Directory) -> SealedColumns:
    from inboxhub.adapters.db_rotation import SqlSealedColumns

    return SqlSealedColumns(_sql(directory))


def make_mailer(settings: Settings) -> Mailer:
    scheme = urlparse(settings.system_mail_url).scheme
    if scheme == "file":
        from inboxhub.adapters.mail_pickup import PickupMailer

        return PickupMailer(_path(settings.system_mail_url))
    if scheme in ("smtp", "smtps"):
        from inboxhub.adapters.mail_smtp import SmtpMailer

        return SmtpMailer.from_url(settings.system_mail_url)
    raise UnsupportedUrl(f"no mailer for {settings.system_mail_url!r}")


def parse_limits(settings: Settings) -> ParseLimits:
    return ParseLimits(
        max_parts=settings.max_mime_parts,
        max_depth=settings.max_mime_depth,
        max_header_bytes=settings.max_header_bytes,
        max_message_bytes=settings.max_message_bytes,
    )


def extract_limits(settings: Settings) -> ExtractLimits:
    return ExtractLimits(
        enabled=settings.attachment_text,
        max_attachment_bytes=settings.attachment_text_max_bytes,
        max_chars_per_attachment=settings.attachment_text_max_chars,
        max_chars_per_message=settings.attachment_text_message_max_chars,
        seconds_per_attachment=settings.attachment_text_seconds,
        max_unpacked_bytes=settings.attachment_text_max_unpacked_bytes,
    )


def _exit_with(parent: int) -> None:
    """Pool worker initializer: a worker whose process was killed (``kill -9``) would
    otherwise wait on its task queue for ever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def make_parse_pool(settings: Settings) -> Executor:
    """Parsing is CPU-bound Python: a process pool lets it use every core."""
    workers = settings.processor_workers or max(1, os.cpu_count() or 1)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=get_context("spawn"),
        initializer=_exit_with,
        initargs=(os.getpid(),),
    )
    for _ in range(workers):  # start them now, in parallel with the rest of start-up
        pool.submit(warm_up)
    return pool


@dataclass
class Container:
    """The adapters of one process, opened and closed together."""

    settings: Settings
    bus: EventBus
    blobs: BlobStore
    emails: EmailStore
    search: SearchIndex
    directory: Directory
    sync: SyncStore
    tenancy: TenancyStore
    access: AccessStore
    erasure: ErasureStore
    sso: SsoStore
    accounts: AccountStore
    audit: AuditStore
    mailer: Mailer
    box: SecretBox
    outgoing: OutgoingStore  # users' drafts and send outbox (services/sender)
    webhooks: WebhookStore  # tenants' webhook subscriptions and delivery log
    dkim: DkimKeyStore  # DKIM signing keys of tenants' domains
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    notifications: NotificationHub = field(default_factory=NotificationHub)

    async def bus_ping(self) -> None:
        await self.bus.end_offsets(EML_UPLOADED)

    def ingest(self) -> Ingest:
        return Ingest(self.blobs, self.emails, self.bus, self.settings.consumer_batch_size)

    async def close(self) -> None:
        await self.stack.aclose()
        for port in (self.emails, self.search, self.mailer, self.directory, self.blobs):
            await port.close()
        await self.bus.close()


async def open_container(settings: Settings) -> Container:
    settings.ensure_data_dir()
    bus = make_bus(settings)
    await bus.start()
    directory = await make_directory(settings)
    box = SecretBox(settings.secret_key)
    return Container(
        settings=settings,
        bus=bus,
        blobs=make_blobs(settings),
        emails=make_emails(settings),
        search=make_search(settings),
        directory=directory,
        sync=make_sync_store(directory),
        tenancy=make_tenancy(directory),
        access=make_access(directory),
        erasure=make_erasure(directory),
        sso=make_sso(directory),
        accounts=make_accounts(directory),
        audit=make_audit_store(directory, box),
        mailer=make_mailer(settings),
        webhooks=make_webhooks(directory, box),
        dkim=make_dkim(directory, box),
        box=box,
        outgoing=make_outgoing(directory),
    )


async def build_auth(c: Container) -> AuthService:
    s = c.settings
    tokens = TokenService(
        c.directory,
        c.box,
        s.jwt_issuer,
        s.jwt_audience,
        s.access_token_ttl_seconds,
        s.refresh_token_ttl_seconds,
        s.signing_keys_reload_seconds,
    )
    await tokens.init()
    return AuthService(
        c.directory,
        tokens,
        PasswordHasher(),
        AuditLog(c.bus),
        accounts=c.accounts,
        mailer=c.mailer,
        settings=s,
    )


Handler = Callable[[list[Record]], Awaitable[None]]


def consumer_specs(c: Container, names: tuple[str, ...]) -> list[tuple[str, list[str], Handler]]:
    """(group, topics, handler) of each named consumer service."""
    specs: list[tuple[str, list[str], Handler]] = []
    if "processor" in names:
        pool = c.stack.enter_context(make_parse_pool(c.settings))
        limits = parse_limits(c.settings)
        extract = extract_limits(c.settings)
        window = timedelta(days=c.settings.thread_subject_window_days)
        proc = Processor(
            c.blobs, c.emails, c.bus, limits, pool, extract=extract, subject_window=window
        )
        specs.append(("processor", [EML_UPLOADED], proc.handle))
    if "indexer" in names:
        specs.append(("indexer", [INDEX_REQUESTED], Indexer(c.emails, c.search).handle))
    if "audit" in names:
        specs.append(("audit", [AUDIT_ACTION], AuditRecorder(c.audit).handle))
    if "webhooks" in names:  # bus events → deliveries (its worker sends them: start_consumers)
        fanout = webhooks_consumer.WebhookFanout(
            c.webhooks, c.emails, c.settings.webhook_cache_seconds, max_attempts(c.settings)
        )
        specs.append((webhooks_consumer.GROUP, webhooks_consumer.TOPICS, fanout.handle))
    return specs


def start_consumers(
    c: Container, names: tuple[str, ...], stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    s = c.settings
    tasks = [
        asyncio.create_task(
            run_consumer(
                c.bus,
                group,
                topics,
                handler,
                batch_size=s.consumer_batch_size,
                max_attempts=s.consumer_max_attempts,
                backoff_seconds=s.consumer_backoff_seconds,
                stop=stop,
            ),
            name=f"consumer:{group}",
        )
        for group, topics, handler in consumer_specs(c, names)
    ]
    if "webhooks" in names:  # the service also sends the deliveries its consumer queued
        worker = DeliveryWorker(c.webhooks, s, AuditLog(c.bus))
        tasks.append(asyncio.create_task(worker.run(stop), name="webhooks:delivery"))
    if "notifications" in names:  # every process reads everything: no consumer group
        live = c.notifications.run(c.bus, LIVE_TOPICS, stop)
        tasks.append(asyncio.create_task(live, name="notifications"))
    return tasks
