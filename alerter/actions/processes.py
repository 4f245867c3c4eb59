"""Which processes and units a pid, a pidfile or a process pattern names, read from /proc: what
the signal executor signals, and the units that make a pid (or alerter itself) protected."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from pathlib import Path

import psutil

from alerter.actions.templating import FieldTemplate, confined_realpath, template_directory
from alerter.actions.unitctl import UNIT_SUFFIXES
from alerter.errors import ActionError


def read_pidfile(path: str, template: FieldTemplate | None) -> str:
    """The start of the pidfile's text. A templated one is read only while it resolves inside
    its directory, from the path it resolved to, without following a symlink swapped in since."""
    if template is not None:
        try:
            path = confined_realpath(path, template_directory(template))
        except ValueError as e:
            raise ActionError(f"pidfile refused: {e}") from None
    # O_NONBLOCK: a FIFO put there answers at once instead of holding the worker
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags if template is None else flags | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read(64).decode("ascii", "replace").strip()


@functools.cache
def own_units() -> frozenset[str]:
    """The service alerter runs in (protected from templated units), if it runs in one."""
    unit = unit_of_pid(os.getpid())
    return frozenset({unit}) if unit is not None and unit.endswith(".service") else frozenset()


def unit_of_pid(pid: int) -> str | None:
    """The systemd unit whose cgroup holds the process (`/proc/PID/cgroup`), if any."""
    units = units_of_pid(pid)
    return units[-1] if units else None


def units_of_pid(pid: int) -> list[str]:
    """The systemd units on the path of the process's cgroup, outermost first
    (`user@1000.service`, `app.service` for a user's service): no slices."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        parts = line.split(":", 2)[-1].split("/")
        units = [p for p in parts if p.endswith(UNIT_SUFFIXES) and not p.endswith(".slice")]
        if units:
            return units
    return []


def find_processes(pattern: re.Pattern[str]) -> list[int]:
    """PIDs whose command line (arguments joined by spaces) the pattern searches successfully,
    except alerter and its descendants (its journalctl, its scan helper, the commands it runs):
    outside systemd no protected unit fences them off, and a pattern as plain as `journalctl`
    would otherwise reach them."""
    parents: dict[int, int] = {}
    found = []
    for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
        pid = int(proc.info["pid"])
        parents[pid] = int(proc.info.get("ppid") or 0)
        cmdline = proc.info.get("cmdline") or []
        if cmdline and pattern.search(" ".join(cmdline)):
            found.append(pid)
    me = os.getpid()
    return sorted(pid for pid in found if not _own(pid, me, parents))


def _own(pid: int, me: int, parents: Mapping[int, int]) -> bool:
    """Alerter or one of its helpers: a descendant in alerter's own PID namespace (one in
    another namespace is a container or sandbox it started, whose processes are the host's
    services as much as any)."""
    if not _descends_from(pid, me, parents):
        return False
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{me}/ns/pid")
    except OSError:
        return True  # not readable: spare it


def _descends_from(pid: int, ancestor: int, parents: Mapping[int, int]) -> bool:
    """Whether `pid` is `ancestor` or below it, by the parent links of one process scan."""
    seen: set[int] = set()
    while pid > 1 and pid not in seen:
        if pid == ancestor:
            return True
        seen.add(pid)
        pid = parents.get(pid, 0)
    return False
