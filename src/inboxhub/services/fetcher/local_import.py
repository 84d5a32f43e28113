"""``inboxhub import``: a local archive into a mailbox, through the whole pipeline.

On the embedded bus the import runs the processor and the indexer as child
processes that join their consumer groups (``services/consumer_processes.py``), so
the import completes whether or not an ``inboxhub run`` shares the data dir (if one
does, the partitions are shared out between them). On a shared broker the
deployment's own processor and indexer services consume, and the import only
publishes (``--consumers`` forces either way). It returns once every event it
published has been consumed by both groups, i.e. every message is searchable.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.events import EML_UPLOADED, INDEX_REQUESTED
from inboxhub.domain.models import Mailbox
from inboxhub.ports import EventBus
from inboxhub.providers.local import count_local, iter_local, newest_mtime
from inboxhub.runtime import Container, open_container
from inboxhub.services.consumer import wait_until_consumed
from inboxhub.services.consumer_processes import ConsumerProcesses, consumer_processes
from inboxhub.services.fetcher.ingest import IngestResult
from inboxhub.services.tenants.bootstrap import ensure_tenant
from inboxhub.services.transient import transient
from inboxhub.settings import Settings

WAIT_TIMEOUT = 24 * 3600.0
OUTAGE_WAIT = 3600.0  # a server down while importing: wait for it, up to this long


@dataclass
class ImportSummary(IngestResult):
    total: int = 0


async def open_mailbox(c: Container, tenant_slug: str, name: str) -> Mailbox:
    tenant = await c.directory.get_tenant_by_slug(tenant_slug)
    if tenant is None:
        if tenant_slug != c.settings.default_tenant:
            raise SystemExit(f"no tenant {tenant_slug!r}")
        tenant = await ensure_tenant(c.directory, c.bus, tenant_slug)
    return await c.directory.get_or_create_mailbox(tenant.id, name, "local")


async def remember_source(c: Container, mailbox: Mailbox, path: Path) -> None:
    """Add the archive to the mailbox's paths so the fetcher keeps it in sync
    afterwards, marked as read up to now (the import reads it)."""
    source = str(path.resolve())
    paths = list(mailbox.config.get("paths", []))
    state = await c.directory.get_sync_state(mailbox.tenant_id, mailbox.id)
    mtimes = dict(state.get("mtimes", {}))  # type: ignore[call-overload]
    mtimes[source] = await asyncio.to_thread(newest_mtime, path)  # taken before reading
    await c.directory.set_sync_state(mailbox.tenant_id, mailbox.id, {**state, "mtimes": mtimes})
    if source not in paths:
        config = {**mailbox.config, "paths": [*paths, source]}
        await c.directory.update_mailbox(mailbox.tenant_id, mailbox.id, config=config)


async def wait_searchable(bus: EventBus, progress: Progress, children: ConsumerProcesses) -> None:
    """Wait until both groups consumed everything published so far, in pipeline order;
    fail at once if a consumer process dies instead of waiting for ever."""
    for group, topic in (("processor", EML_UPLOADED), ("indexer", INDEX_REQUESTED)):
        task = progress.add_task(f"{group}", total=None)
        ends = await end_offsets(bus, topic)
        done = wait_until_consumed(bus, group, topic, ends, WAIT_TIMEOUT)
        waiting, watching = asyncio.create_task(done), asyncio.create_task(children.watch())
        try:
            finished, _ = await asyncio.wait(
                {waiting, watching}, return_when=asyncio.FIRST_COMPLETED
            )
            if watching in finished:
                watching.result()  # raises ConsumerDied
        finally:
            for task_ in (waiting, watching):
                task_.cancel()
        await waiting
        progress.update(task, total=1, completed=1)


async def end_offsets(bus: EventBus, topic: str) -> dict[int, int]:
    """The topic's end offsets, asked again while the broker cannot be reached."""
    deadline = asyncio.get_running_loop().time() + OUTAGE_WAIT
    while True:
        try:
            return await bus.end_offsets(topic)
        except Exception as exc:
            if not transient(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1.0)


def embedded_bus(settings: Settings) -> bool:
    return settings.bus_url.startswith("sqlite:")


async def import_path(
    settings: Settings,
    path: Path,
    mailbox_name: str,
    tenant_slug: str,
    wait: bool = True,
    consumers: bool | None = None,
) -> ImportSummary:
    """``consumers``: run the processor and indexer as children (None: only on the
    embedded bus, where nothing else may be consuming)."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist")
    if consumers is None:
        consumers = embedded_bus(settings)
    c = await open_container(settings)
    try:
        # The children's routine INFO lines would tear the progress bars; warnings show.
        quiet = settings.model_copy(update={"log_level": "WARNING"})
        quiet = quiet if settings.log_level.upper() == "INFO" else settings
        services = ("processor", "indexer") if wait and consumers else ()
        with consumer_processes(quiet, services) as children:
            mailbox = await open_mailbox(c, tenant_slug, mailbox_name)
            await remember_source(c, mailbox, path)
            columns = (
                TextColumn("{task.description:>10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns, transient=False) as progress:
                reading = progress.add_task("reading", total=count_local(path))
                ingest = replace(c.ingest(), outage_wait=OUTAGE_WAIT)
                result = await ingest.run(
                    mailbox.tenant_id,
                    mailbox.id,
                    iter_local(path),
                    lambda n: progress.advance(reading, n),
                )
                progress.update(reading, total=result.seen)
                if wait:
                    await wait_searchable(c.bus, progress, children)
        total = await c.emails.count(mailbox.tenant_id, [mailbox.id])
        return ImportSummary(result.seen, result.published, result.skipped, total)
    finally:
        await c.close()
