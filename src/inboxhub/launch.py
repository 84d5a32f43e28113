"""Starting processes: everything at once (``inboxhub run``) or one service alone.

``runtime.py`` builds the parts; this module runs them until a signal stops them,
and closes them in order (HTTP first, then consumers finish their batch, then the
adapters).
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from rich.console import Console

from inboxhub.ports import Record
from inboxhub.runtime import (
    CONSUMER_SERVICES,
    Container,
    build_auth,
    open_container,
    start_consumers,
)
from inboxhub.services.auth import AuthService
from inboxhub.services.consumer import replay_dlq
from inboxhub.services.consumer_processes import consumer_processes
from inboxhub.services.fetcher.engine import FetcherEngine
from inboxhub.services.gateway.app import create_app
from inboxhub.services.gateway.jwks import RemoteJwks
from inboxhub.services.sender.worker import SendWorker
from inboxhub.services.tenants.bootstrap import ADMIN_ROLES, bootstrap
from inboxhub.settings import Settings

log = structlog.get_logger(__name__)


def _after_uvicorn(sig: int, frame: FrameType | None) -> None:
    """The SIGTERM/SIGINT handler uvicorn finds, and calls again once it has stopped.

    uvicorn answers the signal by stopping the HTTP server, then puts back the handler
    it found and raises the signal again. Left at the default, that handler killed the
    process there, before the consumers finished their batch and the adapters closed.
    This one lets the shutdown go on; a second signal during it ends it at once."""
    _signals_seen.append(sig)
    if len(_signals_seen) > 1:
        log.warning("inboxhub.shutdown_cut_short", signal=signal.Signals(sig).name)
        os._exit(128 + sig)


_signals_seen: list[int] = []


async def _http(app: FastAPI, host: str, port: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _after_uvicorn)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        proxy_headers=False,
    )
    await uvicorn.Server(config).serve()  # returns on SIGINT/SIGTERM


async def _stop(tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _bootstrap(c: Container, auth: AuthService) -> None:
    s = c.settings
    boot = await bootstrap(
        c.directory, c.bus, auth.hasher, s.default_tenant, s.admin_email, s.admin_password
    )
    if boot.generated_password:
        Console(stderr=True).print(
            f"[bold]Created tenant {s.default_tenant!r} and admin {boot.admin_email}[/] "
            f"with generated password: [bold yellow]{boot.generated_password}[/] "
            "(shown once; set INBOXHUB_ADMIN_PASSWORD to choose it)"
        )


# In ``inboxhub run`` these consume in child processes of their own: the fetcher,
# the processor's event loop and the indexer each hold the GIL for most of their
# work, and in one process they would take turns (services/consumer_processes.py).
CHILD_SERVICES = ("processor", "indexer")


async def serve_all(settings: Settings, host: str, port: int) -> None:
    c = await open_container(settings)
    try:
        auth = await build_auth(c)
        await _bootstrap(c, auth)
        stop = asyncio.Event()
        in_process = tuple(s for s in CONSUMER_SERVICES if s not in CHILD_SERVICES)
        with consumer_processes(settings, CHILD_SERVICES) as children:
            tasks = start_consumers(c, in_process, stop)
            tasks.append(asyncio.create_task(FetcherEngine(c).run(stop), name="fetcher"))
            tasks.append(asyncio.create_task(SendWorker(c).run(stop), name="sender"))
            tasks.append(asyncio.create_task(children.watch(stop), name="consumer-children"))
            for task in tasks:
                task.add_done_callback(functools.partial(_exit_if_died, stop))
            app = create_app(c, auth.tokens.verify_access, ("gateway",), auth)
            log.info("inboxhub.ready", url=f"http://{host}:{port}", data_dir=str(settings.data_dir))
            try:
                await _http(app, host, port)
            finally:
                await _stop(tasks, stop)
    finally:
        await c.close()
    log.info("inboxhub.stopped")


async def serve_one(settings: Settings, service: str, host: str, port: int) -> None:
    """One service in this process. HTTP services serve their routes; the others
    serve /healthz, /readyz and /metrics on the same port (for the orchestrator's
    probes) while they consume or fetch. A consumer that dies takes the process
    down, so the orchestrator restarts it instead of probing a zombie."""
    c = await open_container(settings)
    try:
        auth = await build_auth(c)
        if service in ("gateway", "auth"):
            await _bootstrap(c, auth)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if service in CONSUMER_SERVICES:
            tasks = start_consumers(c, (service,), stop)
        elif service == "fetcher":
            tasks = [asyncio.create_task(FetcherEngine(c).run(stop), name="fetcher")]
        elif service == "sender":  # the outbox worker (the sending API is the api's)
            tasks = [asyncio.create_task(SendWorker(c).run(stop), name="sender")]
        for task in tasks:
            task.add_done_callback(functools.partial(_exit_if_died, stop))
        verify: Callable[[str], Any] = auth.tokens.verify_access
        jwks = None
        if settings.auth_jwks_url and service not in ("auth", "gateway"):  # they hold the keys
            jwks = RemoteJwks.from_settings(settings)
            await jwks.refresh()
            verify = jwks.verify
        app = create_app(c, verify, (service,), auth)
        log.info("inboxhub.serving", service=service, url=f"http://{host}:{port}")
        try:
            await _http(app, host, port)
        finally:
            await _stop(tasks, stop)
            if jwks is not None:
                await jwks.aclose()
    finally:
        await c.close()
    if any(t.done() and not t.cancelled() and t.exception() for t in tasks):
        raise SystemExit(1)
    log.info("inboxhub.stopped", service=service)


def _exit_if_died(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    if stop.is_set():
        return
    error = None if task.cancelled() else task.exception()
    log.error("inboxhub.worker_died", task=task.get_name(), error=repr(error))
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn stops; the process exits


async def create_tenant(settings: Settings, slug: str, email: str, password: str) -> None:
    c = await open_container(settings)
    try:
        auth = await build_auth(c)
        if await c.directory.get_tenant_by_slug(slug) is not None:
            raise SystemExit(f"tenant {slug!r} exists already")
        await bootstrap(c.directory, c.bus, auth.hasher, slug, email, password, roles=ADMIN_ROLES)
    finally:
        await c.close()


async def dlq_records(settings: Settings, topic: str, limit: int) -> list[Record]:
    from inboxhub.domain.events import dlq_topic

    c = await open_container(settings)
    try:
        return await c.bus.read(dlq_topic(topic), limit)
    finally:
        await c.close()


async def dlq_replay(settings: Settings, topic: str) -> int:
    c = await open_container(settings)
    try:
        return await replay_dlq(c.bus, topic)
    finally:
        await c.close()
