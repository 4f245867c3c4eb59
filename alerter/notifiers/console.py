"""The console notifier: one readable line per alert on stdout (journald picks it up)."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from alerter.notifiers.config import NotifierConfig
from alerter.notifiers.model import Notification, NotifiedAlert, labelset_str, rfc3339, value_text


def printable(text: str, keep: str = "") -> str:
    """Control characters (terminal escapes from log lines) shown escaped, never interpreted;
    those in `keep` (line breaks, in a text meant to have lines) left as they are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def printable_html(v: Any) -> Any:
    """A `finalize` for HTML templates: a plain string with `printable`'s escapes, line breaks
    and tabs kept. A bidi override (U+202E) from a log line would reverse the text after it,
    in its value and beyond, so an address or a label could be made to read as another.
    Markup (a macro's output) is made of values this has seen; other values are left as they
    are."""
    if isinstance(v, str) and not hasattr(v, "__html__") and not v.isprintable():
        return printable(v, "\n\t")
    return v


def console_lines(n: Notification) -> list[str]:
    return [console_line(n, a) for a in n.alerts]


def console_line(n: Notification, a: NotifiedAlert) -> str:
    when = rfc3339(a.ends_at if a.ends_at is not None else a.starts_at)
    value = value_text(a.value)
    parts = [when, a.status.upper(), labelset_str(a.labels)]
    summary = a.annotations.get("summary") or a.annotations.get("description")
    if summary:
        parts.append(f"summary={summary!r}")
    parts.append(f"value={value}")
    if a.action_notes:
        parts.append("actions=" + "; ".join(a.action_notes))
    return printable(" ".join(parts))


class ConsoleNotifier:
    def __init__(self, config: NotifierConfig, stream: TextIO | None = None) -> None:
        self.name = config.name
        self.send_resolved = config.send_resolved
        self._stream = stream

    def send(self, notification: Notification) -> None:
        out = self._stream if self._stream is not None else sys.stdout
        out.write("".join(line + "\n" for line in console_lines(notification)))
        out.flush()
