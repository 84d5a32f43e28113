"""Consumer services in child processes, for one command's lifetime.

The processor's event loop, the indexer and the fetcher each hold the GIL for
most of their work; in one process they take turns. ``inboxhub import`` therefore
runs the processor and the indexer as child processes (each one a member of its
consumer group, exactly as ``inboxhub serve processor`` would be), keeps only the
fetcher itself, and stops them when it is done. A child whose parent disappears
(``kill -9`` of the import) finishes its batch and exits instead of lingering.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from multiprocessing import get_context
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event

from inboxhub.settings import Settings

PARENT_CHECK_SECONDS = 0.2
STOP_GRACE_SECONDS = 60.0


class ConsumerDied(RuntimeError):
    pass


async def _consume(settings: Settings, service: str, stop: Event, parent: int) -> None:
    from inboxhub.runtime import open_container, start_consumers

    c = await open_container(settings)
    done = asyncio.Event()
    tasks = start_consumers(c, (service,), done)
    try:
        while not stop.is_set() and os.getppid() == parent and not any(t.done() for t in tasks):
            await asyncio.sleep(PARENT_CHECK_SECONDS)
    finally:
        done.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await c.close()
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _main(settings: Settings, service: str, stop: Event, parent: int) -> None:
    from inboxhub.logging import configure

    configure(settings.log_level, settings.log_json)
    asyncio.run(_consume(settings, service, stop, parent))


class ConsumerProcesses:
    def __init__(self, processes: list[SpawnProcess]) -> None:
        self.processes = processes

    def check(self) -> None:
        """Raise if a child has ended while it should be working."""
        for p in self.processes:
            if p.exitcode is not None:
                raise ConsumerDied(f"{p.name} stopped with exit code {p.exitcode}")

    async def watch(self, stop: asyncio.Event | None = None) -> None:
        """Raise as soon as a child has died; return only once ``stop`` is set."""
        while stop is None or not stop.is_set():
            self.check()
            await asyncio.sleep(PARENT_CHECK_SECONDS)


@contextlib.contextmanager
def consumer_processes(
    settings: Settings, services: tuple[str, ...]
) -> Iterator[ConsumerProcesses]:
    ctx = get_context("spawn")
    stop = ctx.Event()
    processes = [
        ctx.Process(target=_main, args=(settings, name, stop, os.getpid()), name=f"inboxhub-{name}")
        for name in services
    ]
    for p in processes:
        p.start()
    try:
        yield ConsumerProcesses(processes)
    finally:
        stop.set()
        for p in processes:
            p.join(STOP_GRACE_SECONDS)
            if p.is_alive():
                p.terminate()
                p.join(5)
