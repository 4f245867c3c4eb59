"""structlog configuration: JSON lines when stdout is not a TTY, the console renderer on a TTY."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from alerter.notifiers.console import printable

LEVELS = ("debug", "info", "warning", "error", "critical")


def configure_logging(fmt: str | None = None, level: str = "info", stream: Any = None) -> None:
    """`fmt` is "json", "console" or None (auto: console on a TTY). Logs go to stdout (journald)."""
    out = stream if stream is not None else sys.stdout
    if fmt is None:
        fmt = "console" if out.isatty() else "json"
    # JSON escapes every control character; the console renderer prints a value as it is
    rendering: list[Any] = (
        [_shown, structlog.dev.ConsoleRenderer(colors=out.isatty())]
        if fmt == "console"
        else [structlog.processors.JSONRenderer()]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            *rendering,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    # Libraries (apscheduler, urllib3) log through stdlib logging: keep them quiet but visible.
    logging.basicConfig(
        level=logging.WARNING, stream=out, format="%(levelname)s %(name)s: %(message)s"
    )


def _shown(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The console's values with control characters escaped: a value may hold log text, whose
    terminal escapes must not reach the terminal. A traceback keeps its line breaks."""
    for k, v in event.items():
        if isinstance(v, str) and not v.isprintable():
            event[k] = printable(v, "\n" if k in ("exception", "stack") else "")
    return event
