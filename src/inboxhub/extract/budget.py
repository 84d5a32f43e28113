"""Budgets of one attachment's extraction: how much text is kept, and for how long
it may run.

``Stop`` and its kinds are ``BaseException``s, like ``KeyboardInterrupt``: a library
that wraps its work in ``except Exception`` (pypdf does, to survive broken files)
must not swallow the end of the budget and carry on.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Unreadable(Exception):
    """The file cannot be read for text; the message says why, for the parse errors."""


class Stop(BaseException):
    """A budget ran out: the extraction ends here, keeping what it has."""


class Full(Stop):
    pass


class TimedOut(Stop):
    pass


class Sink:
    """The text of one attachment, at most ``limit`` characters: ``add`` keeps what
    fits and raises ``Full`` once there is no more room. ``notes`` collects what went
    wrong along the way without ending the extraction (a page that could not be read)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[str] = []
        self.notes: list[str] = []

    def add(self, text: str) -> None:
        if not text:
            return
        room = self.limit - self.size
        if len(text) > room:
            self.parts.append(text[:room])
            self.size = self.limit
            raise Full
        self.parts.append(text)
        self.size += len(text)

    def note(self, text: str) -> None:
        if len(self.notes) < 10:
            self.notes.append(text[:300])

    def text(self) -> str:
        return "".join(self.parts)


def can_time_out() -> bool:
    """Whether ``deadline`` can interrupt this code: only the main thread of a process
    receives signals (the processor's parse workers run their tasks there)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


REPEAT = 0.05
"""Seconds between alarms once the deadline has passed: a ``TimedOut`` raised while
Python runs a ``__del__`` or a weakref callback (the garbage collector's, at any
bytecode) is printed and lost, so the alarm rings again until one is heard."""


@contextmanager
def deadline(seconds: float) -> Iterator[bool]:
    """Raise ``TimedOut`` in the body once ``seconds`` of wall time have passed.

    Done with ``SIGALRM`` (``setitimer``), which interrupts pure-Python work between
    two bytecodes, and the regular-expression engine too. Outside a process's main
    thread no signal can be had: the body then runs unbounded in time, held only by
    the size budgets (what is read and kept). Yields whether the deadline is armed.
    Once the time is up the end is ``TimedOut`` whatever else the body raises or
    swallows, so that a spent clock is reported as such.
    """
    if seconds <= 0 or not can_time_out():
        yield False
        return
    expired = False

    def expire(signum: int, frame: FrameType | None) -> None:
        nonlocal expired
        expired = True
        raise TimedOut(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT)
    try:
        yield True
    except Stop:
        if expired:
            raise TimedOut(seconds) from None
        raise
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, previous)
    if expired:
        raise TimedOut(seconds)
