"""The daemon's status: the document `alerter status`, GET /api/v1/status and the web page show,
its one-line summary, and systemd's STATUS= line that follows it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alerter import __version__
from alerter.config.load import Config
from alerter.core.values import counted
from alerter.runtime.sdnotify import SystemdNotifier

if TYPE_CHECKING:
    from alerter.runtime.checkpoint import Checkpointer


def status_document(
    cfg: Config,
    alerts: Mapping[str, int],
    *,
    started_at: float,
    ready: bool,
    bus_length: int,
    last_reload_error: str | None,
    checkpoint: Checkpointer,
    late_lines: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The daemon's status (`alerter status`, GET /api/v1/status, the STATUS line's input);
    `alerts`: how many alerts are pending and firing, by state."""
    return {
        "version": __version__,
        "config": cfg.path,
        "uptime_seconds": round(time.time() - started_at, 1),
        "ready": ready,
        "collectors": [c.name for c in cfg.collectors],
        # collectors whose live lines keep arriving too old for a rule (runtime/latelines.py)
        "late_lines": late_lines or {},
        "rule_groups": len(cfg.rules.groups),
        "alerts": {"pending": alerts.get("pending", 0), "firing": alerts.get("firing", 0)},
        "bus_length": bus_length,
        "dry_run": cfg.global_.dry_run,
        "last_reload_error": last_reload_error,
        "state": {
            "ok": checkpoint.error is None,
            "error": checkpoint.error,
            "failing_since": checkpoint.failed_since,
        },
    }


def status_line(s: dict[str, Any]) -> str:
    """The one-line summary of a status (systemd's STATUS=, `alerter status`)."""
    line = (
        f"{counted(len(s['collectors']), 'collector')}, {counted(s['rule_groups'], 'rule group')}, "
        f"{s['alerts']['firing']} firing, {s['alerts']['pending']} pending"
    )
    if s["dry_run"]:
        line += ", DRY RUN"
    if not s["state"]["ok"]:
        line += ", STATE STORE FAILING"
    if s.get("last_reload_error"):
        line += f", reload FAILED ({s['last_reload_error'].splitlines()[0][:120]})"
    return line


class SystemdStatus:
    """systemd's STATUS=: sent again whenever the status's one-line summary changes."""

    def __init__(self, sd: SystemdNotifier) -> None:
        self._sd = sd
        self._sent = ""  # the last STATUS= line systemd was sent

    def update(self, status: dict[str, Any]) -> None:
        line = status_line(status)
        if line != self._sent:
            self._sent = line
            self._sd.status(line)
