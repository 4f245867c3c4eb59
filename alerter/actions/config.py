"""Parse the `actions:` section into validated, immutable action configs.

Every field shared by all types (when to run, cooldown, limit, verify, dry run) lives on
`ActionConfig`; what the action does lives in one spec per type. Templates are compiled here,
and a static unit on the protected list is refused here, with its position.

A templated unit must render to a service (`unitctl.templated_unit`, checked at run time): one
whose literal end already names another kind (`"{{ labels.x }}.socket"`) is refused here. A
templated pidfile must start with a literal directory (`templating.template_directory`). A unit
written literally stays as written, but a target, slice, mount ... gets a warning
(`ActionConfig.warnings`, printed by `alerter check`).
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from alerter.actions.banconfig import BanSpec, parse_ban
from alerter.actions.shellcode import code_argument
from alerter.actions.templating import FieldTemplate, template_directory
from alerter.actions.unitctl import (
    HOST_KINDS,
    OPERATIONS,
    STATIC_ALIASES,
    UNIT_SUFFIXES,
    ProtectedUnitError,
    holds_protected,
    normalize_unit,
    refuse_protected,
    unit_kind,
)
from alerter.core.saferegex import compile_pattern
from alerter.core.values import LONGEST_TIMEOUT
from alerter.core.yamlsource import MapReader, Mark, Node, Problem

ACTION_TYPES = ("systemd", "signal", "command", "throttle", "ban")
DEFAULT_COOLDOWN = 300.0
DEFAULT_LIMIT_COUNT = 3
DEFAULT_LIMIT_WITHIN = 3600.0
DEFAULT_TIMEOUT = 30.0
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|m|h)\s*$")
_RATE_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}
# Command lines (arguments joined by spaces) that almost every host runs: a `process:` pattern
# meant for one program should match none of them, and one that matches all selects everything.
COMMON_COMMAND_LINES = (
    "/sbin/init splash",
    "/usr/lib/systemd/systemd-journald",
    "/usr/sbin/sshd -D",
    "sshd: root@pts/0",
    "-bash",
    "/usr/sbin/cron -f",
    "/usr/bin/python3 /usr/local/bin/alerter run",
)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `count` runs per target within any sliding window of `within` seconds."""

    count: int
    within: float


@dataclass(frozen=True, slots=True)
class SystemdSpec:
    unit: FieldTemplate
    operation: str  # restart | reload | start | stop | set-property
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SignalSpec:
    signal: signal.Signals
    pidfile: FieldTemplate | None = None
    process: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    argv: tuple[FieldTemplate, ...]
    undo_argv: tuple[FieldTemplate, ...] = ()
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class ThrottleSpec:
    collector: str
    mode: Literal["rate", "sample", "pause"]
    value: float = 0.0  # events per second (rate) or kept fraction (sample)


Spec = SystemdSpec | SignalSpec | CommandSpec | ThrottleSpec | BanSpec


@dataclass(frozen=True, slots=True)
class ActionConfig:
    name: str
    type: str
    mark: Mark
    spec: Spec
    on: Literal["firing", "resolved"] = "firing"
    cooldown: float = DEFAULT_COOLDOWN
    limit: Limit = Limit(DEFAULT_LIMIT_COUNT, DEFAULT_LIMIT_WITHIN)
    verify: float | None = None
    repeat: bool = True
    dry_run: bool = False
    revert: bool = False  # undo on resolve: set-property values, throttles, undo_argv
    # allowed but worth a second look (a literal reboot.target): `alerter check` prints them
    warnings: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def reverts(self) -> bool:
        """Whether a resolve of the alert undoes what this action did."""
        return self.on == "firing" and self.revert


def parse_action(
    r: MapReader, protected_units: tuple[str, ...], base_dir: Path
) -> ActionConfig | None:
    """One entry of `actions:`; problems go to r.problems and None is returned."""
    del base_dir  # paths in actions are absolute or looked up at run time
    before = len(r.problems.items)
    name = r.str("name", required=True)
    atype = r.choice("type", ACTION_TYPES, required=True)
    # YAML 1.1 reads an unquoted `on:` key as the boolean true, which the reader names "True".
    on_node = r.raw("on" if r.has("on") else "True")
    on: Literal["firing", "resolved"] = "firing"
    if on_node is not None:
        if on_node.value in ("firing", "resolved"):
            on = on_node.value
        else:
            r.problems.add(on_node, f"on: expected firing or resolved, got {on_node.value!r}")
    # a ban repeats once it has ended (while the alert fires), not on a cooldown
    cooldown = r.duration("cooldown", 0.0 if atype == "ban" else DEFAULT_COOLDOWN)
    limit = _parse_limit(r)
    verify = r.duration("verify")
    dry_run = r.bool("dry_run", False)
    spec: Spec | None = None
    warnings: list[Problem] = []
    if atype == "systemd":
        spec = _parse_systemd(r, protected_units, warnings)
    elif atype == "signal":
        spec = _parse_signal(r, warnings)
    elif atype == "command":
        spec = _parse_command(r)
    elif atype == "throttle":
        spec = _parse_throttle(r)
    elif atype == "ban":
        spec = parse_ban(r)
    # Actions that set a state (properties, throttles, undo_argv) revert on resolve and need
    # not repeat; restarts and signals repeat every cooldown, as Monit does.
    stateful = isinstance(spec, ThrottleSpec) or (
        isinstance(spec, SystemdSpec) and spec.operation == "set-property"
    )
    revert = r.bool(
        "revert",
        isinstance(spec, ThrottleSpec) or (isinstance(spec, CommandSpec) and bool(spec.undo_argv)),
    )
    repeat = r.bool("repeat", not (stateful and revert))
    if revert and r.has("revert") and not (stateful or isinstance(spec, CommandSpec)):
        r.problems.add(
            r.raw("revert") or r.node,
            "revert: only set-property, throttle and command (undo_argv) actions can revert",
        )
    if isinstance(spec, CommandSpec) and revert and not spec.undo_argv:
        r.problems.add(
            r.raw("revert") or r.node, "revert: a command action reverts by undo_argv; add it"
        )
    if on == "resolved" and r.has("revert") and revert:
        r.problems.add(
            r.raw("revert") or r.node, "revert: an `on: resolved` action has nothing to revert"
        )
    if cooldown is not None and cooldown < 0:
        r.problems.add(r.raw("cooldown") or r.node, "cooldown: must be >= 0")
    if verify is not None and verify <= 0:
        r.problems.add(r.raw("verify") or r.node, "verify: must be > 0")
    # the type decides which keys are known: without one, none is told as unknown
    r.done(extra_known=() if atype is not None else tuple(r.keys()))
    if name is None or atype is None or spec is None or len(r.problems.items) > before:
        return None
    return ActionConfig(
        name=name,
        type=atype,
        mark=r.mark,
        spec=spec,
        on=on,
        cooldown=cooldown,
        limit=limit,
        verify=verify,
        repeat=repeat,
        dry_run=dry_run,
        revert=revert and on == "firing",
        warnings=tuple(warnings),
    )


def _parse_limit(r: MapReader) -> Limit:
    lr = r.map("limit")
    if lr is None:
        return Limit(DEFAULT_LIMIT_COUNT, DEFAULT_LIMIT_WITHIN)
    count = lr.int("count", DEFAULT_LIMIT_COUNT, required=True, minimum=1)
    within = lr.duration("within", DEFAULT_LIMIT_WITHIN, required=True)
    lr.done()
    if within <= 0:
        r.problems.add(lr.raw("within") or lr.node, "limit.within: must be > 0")
    return Limit(count, within)


def _template(r: MapReader, key: str, n: Node | None = None) -> FieldTemplate | None:
    if n is None:
        s = r.str(key)
        n = r.raw(key)
    else:
        s = r.as_str(n, key)
    if s is None or n is None:
        return None
    try:
        return FieldTemplate.compile(s)
    except ValueError as e:
        r.problems.add(n, f"{key}: {e}")
        return None


def _parse_systemd(
    r: MapReader, protected_units: tuple[str, ...], warnings: list[Problem]
) -> SystemdSpec | None:
    if not r.has("unit"):
        r.str("unit", required=True)
        return None
    unit = _template(r, "unit")
    operation = r.choice("operation", OPERATIONS, "restart")
    props = r.str_map("properties")
    where = r.raw("unit") or r.node
    if unit is None or operation is None:
        return None
    if unit.is_static:
        try:
            full = normalize_unit(unit.source)
        except ValueError as e:
            r.problems.add(where, f"unit: {e}")
            return None
        # the units alerter never acts on whatever the list says (systemd-*, the bus, ssh ...)
        # and what belongs to a protected unit (ssh.socket, getty@tty1) are refused too
        protected = {_normal(u) for u in protected_units}
        try:
            refuse_protected(full, protected)
        except ProtectedUnitError as e:
            r.problems.add(where, f"unit: {e}")
            return None
        held = holds_protected(full, protected)
        if operation != "set-property" and held:
            r.problems.add(
                where,
                f"unit: {full} {held}, and {operation} acts on them too; alerter will not "
                f"{operation} it. Name the service to act on",
            )
            return None
        kind = unit_kind(full)
        alias = STATIC_ALIASES.get(full)
        named = f"{full} (an alias of {alias})" if alias else full
        if kind in HOST_KINDS:
            warnings.append(
                Problem(
                    where.mark,
                    f"warning: unit: {named} is a {kind[1:]} unit; acting on it changes the "
                    "host's state, not one service (kept, as written here; a templated unit "
                    "could not name it)",
                )
            )
    else:
        tail = unit.literal_suffix
        if tail.endswith(UNIT_SUFFIXES) and not tail.endswith(".service"):
            kind = tail[tail.rindex(".") :]
            r.problems.add(
                where,
                f"unit: a templated unit must render to a service, and this one ends in {kind} "
                "(write NAME or NAME.service, or the unit literally)",
            )
            return None
    if operation == "set-property":
        if not props:
            r.problems.add(
                r.raw("properties") or r.node,
                "properties: set-property needs properties, e.g. {CPUQuota: 20%}",
            )
            return None
    elif props is not None:
        r.problems.add(
            r.raw("properties") or r.node, "properties: only used with operation: set-property"
        )
        return None
    return SystemdSpec(unit, operation, tuple(sorted((props or {}).items())))


def _normal(unit: str) -> str:
    try:
        return normalize_unit(unit)
    except ValueError:
        return unit


def _parse_signal(r: MapReader, warnings: list[Problem]) -> SignalSpec | None:
    # No default: which signal to send is a decision, not something to assume (TERM kills).
    sig_name = r.str("signal", required=True)
    pidfile = _template(r, "pidfile") if r.has("pidfile") else None
    if pidfile is not None and not pidfile.is_static:
        try:
            template_directory(pidfile)
        except ValueError as e:
            r.problems.add(r.raw("pidfile") or r.node, f"pidfile: {e}")
            return None
    pattern = r.str("process")
    # Linear: the command lines it searches are written by any local user (core/saferegex.py).
    process = r.check("process", compile_pattern, pattern) if pattern is not None else None
    if sig_name is None:
        return None
    try:
        sig = signal.Signals[sig_name if sig_name.startswith("SIG") else f"SIG{sig_name}"]
    except KeyError:
        r.problems.add(
            r.raw("signal") or r.node, f"signal: unknown signal {sig_name!r} (e.g. HUP, USR1, TERM)"
        )
        return None
    if (pidfile is None) == (pattern is None):
        r.problems.add(r.node, "signal action: give exactly one of pidfile or process")
        return None
    if pattern is not None and process is None:
        return None
    if process is not None and not _process_pattern_is_narrow(r, process, warnings):
        return None
    return SignalSpec(sig, pidfile, process)


def _process_pattern_is_narrow(
    r: MapReader, process: re.Pattern[str], warnings: list[Problem]
) -> bool:
    """Refuse a pattern that selects every process; warn of one that selects common ones.

    A signal by pattern goes to every process whose command line it searches successfully, so
    `.` or `x?` (which matches the empty string) would signal everything alerter may signal.
    """
    where = r.raw("process") or r.node
    common = [line for line in COMMON_COMMAND_LINES if process.search(line)]
    if process.search("") is not None or len(common) == len(COMMON_COMMAND_LINES):
        r.problems.add(
            where,
            f"process: {process.pattern!r} matches every command line, so the signal would "
            "reach every process alerter may signal; name the program, e.g. "
            "'^/usr/sbin/nginx( |$)'",
        )
        return False
    if common:
        warnings.append(
            Problem(
                where.mark,
                f"warning: process: {process.pattern!r} also matches {common[0]!r}, a process "
                "most hosts run, and the signal goes to every match; anchor it to the program, "
                "e.g. '^/usr/sbin/nginx( |$)'",
            )
        )
    return True


def _parse_argv(r: MapReader, key: str, required: bool) -> tuple[FieldTemplate, ...] | None:
    nodes = r.list(key, required=required)
    out = []
    for n in nodes:
        t = _template(r, key, n)
        if t is None:
            return None
        out.append(t)
    if required and r.has(key) and not out:
        r.problems.add(r.raw(key) or r.node, f"{key}: must name a program")
        return None
    if out and not out[0].is_static:
        r.problems.add(
            r.raw(key) or r.node, f"{key}: the program (first element) cannot be templated"
        )
        return None
    code = code_argument([t.source for t in out])
    if code is not None and not out[code].is_static:
        program = " ".join(t.source for t in out[:code])
        r.problems.add(
            nodes[code],
            f"{key}: this template is in the code that {program} runs, so log text in a label"
            f" (written by whoever logs) would run as code; pass the value as an argument of"
            f" its own, e.g."
            f' [sh, -c, \'fix "$1"\', sh, "{{{{ labels.user }}}}"]',
        )
        return None
    return tuple(out)


def _parse_command(r: MapReader) -> CommandSpec | None:
    argv = _parse_argv(r, "argv", True)
    undo = _parse_argv(r, "undo_argv", False)
    timeout = r.duration("timeout", DEFAULT_TIMEOUT, maximum=LONGEST_TIMEOUT)
    if timeout is not None and timeout <= 0:
        r.problems.add(r.raw("timeout") or r.node, "timeout: must be > 0")
    if not argv or undo is None:
        return None
    return CommandSpec(argv, undo, timeout)


def _parse_throttle(r: MapReader) -> ThrottleSpec | None:
    collector = r.str("collector", required=True)
    rate = r.str("rate")
    sample = r.float("sample")
    pause = r.bool("pause", False)
    given = [
        k
        for k, v in (("rate", rate), ("sample", sample), ("pause", pause or None))
        if v is not None
    ]
    if len(given) != 1:
        r.problems.add(
            r.node,
            "throttle action: give exactly one of rate (e.g. 100/s), sample (0-1) or pause: true",
        )
        return None
    if collector is None:
        return None
    if rate is not None:
        m = _RATE_RE.match(rate)
        if m is None or float(m.group(1)) <= 0:
            r.problems.add(
                r.raw("rate") or r.node, f"rate: expected N/s, N/m or N/h with N > 0, got {rate!r}"
            )
            return None
        return ThrottleSpec(collector, "rate", float(m.group(1)) / _RATE_UNIT[m.group(2)])
    if sample is not None:
        if not 0 < sample < 1:
            r.problems.add(
                r.raw("sample") or r.node,
                f"sample: the kept fraction, between 0 and 1, got {sample}",
            )
            return None
        return ThrottleSpec(collector, "sample", sample)
    return ThrottleSpec(collector, "pause")
