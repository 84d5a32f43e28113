"""The fetcher's loop: keep every mailbox's sources in sync.

Today the sources are local archives remembered by ``inboxhub import`` (mail
dropped into a Maildir's ``new/`` shows up on the next pass); the provider
connectors of IMAP, Gmail and Graph plug into the same loop. A pass re-reads a
source only when it changed since the last pass (newest mtime under it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import structlog

from inboxhub.providers.local import iter_local
from inboxhub.runtime import Container

log = structlog.get_logger(__name__)
INTERVAL_SECONDS = 10.0


def newest_mtime(path: Path) -> float:
    if not path.is_dir():
        return path.stat().st_mtime
    newest = path.stat().st_mtime
    for dirpath, _, _ in os.walk(path):
        newest = max(newest, os.stat(dirpath).st_mtime)
    return newest


async def sync_once(c: Container) -> int:
    """One pass over every tenant's local sources; how many messages were new."""
    published = 0
    ingest = c.ingest()
    for tenant_id in await c.directory.list_tenant_ids():
        for mailbox in await c.directory.list_mailboxes(tenant_id):
            state = await c.directory.get_sync_state(tenant_id, mailbox.id)
            seen: dict[str, float] = dict(state.get("local_mtimes", {}))  # type: ignore[call-overload]
            changed = False
            for source in state.get("local_sources", []):  # type: ignore[attr-defined]
                path = Path(source)
                if not path.exists():
                    continue
                mtime = await asyncio.to_thread(newest_mtime, path)
                if seen.get(source) == mtime:
                    continue
                result = await ingest.run(tenant_id, mailbox.id, iter_local(path))
                published += result.published
                seen[source] = mtime
                changed = True
            if changed:
                await c.directory.set_sync_state(
                    tenant_id, mailbox.id, {**state, "local_mtimes": seen}
                )
    return published


async def run_scheduler(c: Container, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            if count := await sync_once(c):
                log.info("fetcher.synced", new=count)
        except Exception:
            log.exception("fetcher.pass_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), INTERVAL_SECONDS)
