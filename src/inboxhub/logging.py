"""structlog set-up: human-readable on a terminal, JSON lines when asked."""

from __future__ import annotations

import logging
import sys

import structlog

QUIET = ("alembic", "aiosqlite", "asyncio")  # their INFO lines are not ours to show


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written. Loggers are cached on first
    use, so one bound to the stream of the moment would keep writing to it after it was
    swapped and closed (a CLI run inside a test runner does that)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "INFO", json: bool = False) -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
