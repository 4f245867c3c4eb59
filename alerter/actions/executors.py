"""What each action type does: render a plan from an alert, then apply (and undo) it.

Executors run in worker threads and raise ActionError on failure; deciding whether to run at all
is the runner's job. Nothing here reaches a shell.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alerter.actions.banaddr import parse_address
from alerter.actions.banconfig import BanSpec
from alerter.actions.config import ActionConfig, CommandSpec, SignalSpec, SystemdSpec, ThrottleSpec
from alerter.actions.processes import find_processes, own_units, read_pidfile, units_of_pid
from alerter.actions.templating import (
    alert_context,
    alert_json,
    render_path,
)
from alerter.actions.unitctl import ProtectedUnitError as ProtectedUnitError  # the runner's import
from alerter.actions.unitctl import (
    UnitController,
    holds_protected,
    normalize_unit,
    protected_owner,
    refuse_protected,
    revert_values,
    show_names,
    templated_unit,
)
from alerter.errors import ActionError
from alerter.rules.alert import Alert
from alerter.runtime.bus import Gate

_OUTPUT_CHARS = 300


@dataclass(frozen=True, slots=True)
class ActionPlan:
    """One decided run of an action for one alert, with its templates rendered (not a rule's
    plan: that is alerter.rules.plans.Plan)."""

    action: ActionConfig
    target: str  # what the limits count per: unit, pidfile, process pattern, argv, collector
    alert: Alert
    argv: tuple[str, ...] = ()
    undo_argv: tuple[str, ...] = ()
    undo_state: Mapping[str, Any] = field(default_factory=dict)  # e.g. previous property values

    @property
    def key(self) -> str:
        """What limits, cooldowns and applied states count per: this action on this target."""
        return f"{self.action.name}\x1f{self.target}"

    @property
    def worker_key(self) -> str:
        """What runs one at a time: every action of one kind on one target (`restart-web` and
        `cap-web` both act on web.service), its undo included."""
        return f"{self.action.type}\x1f{self.target}"


def render_plan(action: ActionConfig, alert: Alert, protected: frozenset[str]) -> ActionPlan:
    """Raises ValueError (template, bad unit name or path) or ProtectedUnitError.

    A templated unit must be a service that is not protected (`unitctl.templated_unit`); a
    literal one may be of any kind, and must not be protected either (`unitctl.refuse_protected`).
    The unit alerter itself runs in counts as protected.
    """
    spec = action.spec
    ctx = alert_context(alert)
    if isinstance(spec, SystemdSpec):
        rendered = spec.unit.render(ctx).strip()
        if not spec.unit.is_static:
            return ActionPlan(action, templated_unit(rendered, protected, own_units()), alert)
        unit = normalize_unit(rendered)
        refuse_protected(unit, protected, own_units())
        return ActionPlan(action, unit, alert)
    if isinstance(spec, SignalSpec):
        if spec.pidfile is not None:
            return ActionPlan(action, render_path(spec.pidfile, ctx), alert)
        assert spec.process is not None
        return ActionPlan(action, f"process:{spec.process.pattern}", alert)
    if isinstance(spec, CommandSpec):
        argv = tuple(t.render(ctx) for t in spec.argv)
        undo = tuple(t.render(ctx) for t in spec.undo_argv)
        return ActionPlan(action, " ".join(argv), alert, argv, undo)
    if isinstance(spec, BanSpec):  # exactly one address, IPv4-mapped IPv6 as IPv4
        return ActionPlan(action, str(parse_address(spec.address.render(ctx))), alert)
    return ActionPlan(action, spec.collector, alert)


class Executor(Protocol):
    def undo_state(self, plan: ActionPlan) -> Mapping[str, Any] | None:
        """What the undo needs that must be kept before the apply runs (a crash during it
        then leaves the revert owed), or None when what apply returns is enough."""

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        """Do it; returns (detail, state the undo needs). Raises ActionError."""

    def undo(self, plan: ActionPlan) -> str:
        """Revert what apply did, using plan.undo_state. Raises ActionError."""


class SystemdExecutor:
    def __init__(self, units: UnitController, protected: frozenset[str]) -> None:
        self.units = units
        self.protected = protected

    def _check(self, plan: ActionPlan) -> None:
        # Checked again at the last moment: the plan may come from persisted state.
        spec = plan.action.spec
        assert isinstance(spec, SystemdSpec)
        unit = plan.target
        refuse_protected(unit, self.protected, own_units())
        if not spec.unit.is_static:
            try:
                templated_unit(unit, self.protected, own_units())
            except ValueError as e:
                raise ActionError(str(e)) from None
        # an alias names the same unit (dbus-org.freedesktop.login1.service is
        # systemd-logind.service, runlevel3.target is multi-user.target): the names systemd
        # has for it are checked too, as protected and as holding protected units
        shown = self.units.show(unit, ["Id", "Names"])
        names = sorted({shown.get("Id", ""), *shown.get("Names", "").split()} - {"", unit})
        for name in names:
            refuse_protected(name, self.protected, own_units())
        if spec.operation == "set-property":
            return  # (a cap on a slice stops nothing)
        for name in [unit, *names]:
            held = holds_protected(name, self.protected, own_units())
            if held is not None:
                also = "" if name == unit else f" is also named {name}, which"
                raise ProtectedUnitError(
                    f"{unit}{also} {held}; alerter will not {spec.operation} it"
                )

    def undo_state(self, plan: ActionPlan) -> Mapping[str, Any] | None:
        """A set-property's values before it (only read: apply checks the unit)."""
        spec = plan.action.spec
        assert isinstance(spec, SystemdSpec)
        if spec.operation != "set-property" or not plan.action.revert:
            return None
        props = list(dict(spec.properties))
        return {"properties": revert_values(props, self.units.show(plan.target, show_names(props)))}

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        spec = plan.action.spec
        assert isinstance(spec, SystemdSpec)
        self._check(plan)
        if spec.operation != "set-property":
            self.units.operate(spec.operation, plan.target)
            return "", {}
        props = dict(spec.properties)
        self.units.set_properties(plan.target, props)
        # (the values to revert to were kept before, from undo_state)
        previous = plan.undo_state.get("properties", {})
        return " ".join(f"{k}={v}" for k, v in props.items()), {"properties": previous}

    def undo(self, plan: ActionPlan) -> str:
        self._check(plan)
        previous = dict(plan.undo_state.get("properties") or {})
        if not previous:
            return "nothing to revert"
        self.units.set_properties(plan.target, previous)
        return " ".join(f"{k}={v}" for k, v in previous.items())


class SignalExecutor:
    def __init__(self, protected: frozenset[str] = frozenset()) -> None:
        self.protected = protected

    def undo_state(self, plan: ActionPlan) -> Mapping[str, Any] | None:
        return None  # what apply returns is all the undo needs

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        spec = plan.action.spec
        assert isinstance(spec, SignalSpec)
        pids = self._pids(spec, plan.target)
        sent: list[int] = []
        refused: list[str] = []  # the pids that run in a protected unit, and why
        for pid in pids:
            why = self._protected(pid)
            if why is not None:
                refused.append(why)
                continue
            try:
                os.kill(pid, spec.signal)
                sent.append(pid)
            except ProcessLookupError:
                continue
            except PermissionError:
                raise ActionError(f"not allowed to signal pid {pid}") from None
        if not sent and refused:
            raise ProtectedUnitError("; ".join(refused))
        if not sent:
            raise ActionError(f"no process to signal for {plan.target}")
        skipped = f" (not {'; '.join(refused)})" if refused else ""
        return f"{spec.signal.name} to pid {', '.join(map(str, sent))}{skipped}", {}

    def _protected(self, pid: int) -> str | None:
        """Why `pid` may not be signalled: a unit on its cgroup's path (the one it runs in, or
        one that unit is under, as a user's services are under user@UID.service) is
        protected."""
        for unit in units_of_pid(pid):
            found = protected_owner(unit, self.protected, own_units())
            if found is not None:
                owner, why = found
                of = "" if owner == unit else f" (of {owner})"
                return f"pid {pid} belongs to {unit}{of}, which is protected ({why})"
        return None

    def undo(self, plan: ActionPlan) -> str:
        return "signals cannot be undone"

    @staticmethod
    def _pids(spec: SignalSpec, target: str) -> list[int]:
        if spec.process is None:
            assert spec.pidfile is not None
            try:
                text = read_pidfile(target, None if spec.pidfile.is_static else spec.pidfile)
            except OSError as e:
                raise ActionError(f"cannot read pidfile {target}: {e.strerror}") from None
            if not text.isdigit():
                raise ActionError(f"pidfile {target} does not hold a pid: {text[:40]!r}")
            pids = [int(text)]
        else:
            pids = find_processes(spec.process)
        # Never signal init or ourselves, whatever a pidfile or pattern says.
        return [p for p in pids if p > 1 and p != os.getpid()]


class CommandExecutor:
    def undo_state(self, plan: ActionPlan) -> Mapping[str, Any] | None:
        return None  # what apply returns is all the undo needs

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        return self._run(plan, plan.argv), {}

    def undo(self, plan: ActionPlan) -> str:
        if not plan.undo_argv:
            return "no undo_argv"
        return self._run(plan, plan.undo_argv)

    @staticmethod
    def _run(plan: ActionPlan, argv: tuple[str, ...]) -> str:
        spec = plan.action.spec
        assert isinstance(spec, CommandSpec)
        # Output goes to a file (bounded memory, and no pipe a left-over grandchild could hold
        # open); the command gets its own process group so a timeout kills all of it.
        with tempfile.TemporaryFile() as out:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=command_env(plan.alert),
                    start_new_session=True,
                )
            except OSError as e:
                raise ActionError(f"cannot run {argv[0]}: {e.strerror}") from None
            try:
                proc.communicate(alert_json(plan.alert).encode(), timeout=spec.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise ActionError(f"{argv[0]} timed out after {spec.timeout:g}s") from None
            except BaseException:
                _kill_group(proc)
                raise
            size = out.seek(0, os.SEEK_END)
            out.seek(max(0, size - _OUTPUT_CHARS))
            text = out.read().decode(errors="replace").strip()
        if proc.returncode != 0:
            raise ActionError(f"{argv[0]} exited {proc.returncode}" + (f": {text}" if text else ""))
        return text


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def command_env(alert: Alert) -> dict[str, str]:
    """A small environment: PATH and the alert as ALERTER_* variables (label values are data)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "ALERTER_ALERTNAME": alert.alertname,
        "ALERTER_FINGERPRINT": alert.fingerprint,
        "ALERTER_STATE": alert.state,
        "ALERTER_VALUE": f"{alert.value:g}",
    }
    for k, v in alert.labels.items():
        env["ALERTER_LABEL_" + re.sub(r"[^A-Za-z0-9_]", "_", k).upper()] = v
    return env


class ThrottleExecutor:
    def __init__(self, gates: Mapping[str, Gate]) -> None:
        self.gates = gates

    def _gate(self, collector: str) -> Gate:
        gate = self.gates.get(collector)
        if gate is None:
            raise ActionError(f"no collector named {collector!r} to throttle")
        return gate

    def undo_state(self, plan: ActionPlan) -> Mapping[str, Any] | None:
        return None  # what apply returns is all the undo needs

    def apply(self, plan: ActionPlan) -> tuple[str, Mapping[str, Any]]:
        spec = plan.action.spec
        assert isinstance(spec, ThrottleSpec)
        return self.set(spec), {}

    def set(self, spec: ThrottleSpec) -> str:
        gate = self._gate(spec.collector)
        if spec.mode == "rate":
            gate.set_rate(spec.value)
            return f"{spec.value:g}/s"
        if spec.mode == "sample":
            gate.set_sample(spec.value)
            return f"sample {spec.value:g}"
        gate.pause()
        return "paused"

    def undo(self, plan: ActionPlan) -> str:
        self._gate(plan.target).clear()
        return "lifted"


def phrases(action: ActionConfig, target: str, undo: bool = False) -> tuple[str, str]:
    """('restarted web.service', 'restart web.service'): how notes name a run, done and to do."""
    spec = action.spec
    if isinstance(spec, SystemdSpec):
        if spec.operation == "set-property":
            props = " ".join(f"{k}={v}" for k, v in spec.properties)
            if undo:
                return f"reverted {props} on {target}", f"revert {props} on {target}"
            return f"set {props} on {target}", f"set {props} on {target}"
        past = {"restart": "restarted", "reload": "reloaded", "start": "started", "stop": "stopped"}
        return f"{past[spec.operation]} {target}", f"{spec.operation} {target}"
    if isinstance(spec, SignalSpec):
        return f"sent {spec.signal.name} to {target}", f"send {spec.signal.name} to {target}"
    if isinstance(spec, CommandSpec):
        what = f"{action.name} ({target})"
        return (
            (f"ran undo of {what}", f"run undo of {what}")
            if undo
            else (f"ran {what}", f"run {what}")
        )
    if isinstance(spec, BanSpec):
        return (
            (f"lifted ban on {target}", f"lift ban on {target}")
            if undo
            else (
                f"banned {target}",
                f"ban {target}",
            )
        )
    if undo:
        return f"lifted throttle on collector {target}", f"lift throttle on collector {target}"
    return f"throttled collector {target}", f"throttle collector {target}"


def describe(action: ActionConfig, target: str, dry_run: bool, undo: bool = False) -> str:
    """'restarted web.service' / 'would restart web.service'."""
    done, todo = phrases(action, target, undo)
    return f"would {todo}" if dry_run else done
