"""Acting on systemd units: the `UnitController` interface and its `systemctl` implementation.

`systemctl` is run as an argv (never a shell) with a timeout. The argv prefix is configurable so
tests can drive a private systemd (`[systemd-sandbox, "exec", PID, "systemctl"]`) and hosts
without root can put `sudo -n systemctl` or rely on the polkit rule in packaging/.

A unit named by a template (`unit: "{{ labels.unit }}"`) comes from log text, so
`templated_unit` holds it to more than the name grammar: it must be a `.service` (targets such
as reboot.target, slices, mounts, sockets ... change the host or start protected services), not
a template without instance, and not protected. Protected means: its base name (the name without
`.service`, `.socket`, `.timer`, `.path` ...) is the base name of a protected unit, or its
template (`getty@` of `getty@tty1`) is, where the protected units are global.protected_units plus
`BUILTIN_PROTECTED` and every `systemd-*` unit. So `ssh.socket` and `dbus.socket` are refused
when ssh.service and dbus.service are protected. A global.protected_units entry may be a
shell-style glob, as systemctl takes (`postgres*`): it protects the units it matches, and what
belongs to a service it matches. Units written literally in the config are refused at load by
the same rule (`protected_by`), but may be of any kind (a target, a slice: the operator's
choice, with a warning), except the targets and slices that hold protected units
(`holds_protected`: HOLDING_PROTECTED, their static aliases such as runlevel3.target, and the
slices of a protected template's instances such as system-getty.slice), which only
set-property may touch. At run time every name systemd has for the unit (its Id and Names:
aliases the operator made too) is held to both rules.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from alerter.errors import ActionError

OPERATIONS = ("restart", "reload", "start", "stop", "set-property")

# Unit type suffixes systemctl knows; a name without one means `.service`, as systemctl assumes.
UNIT_SUFFIXES = (
    ".service",
    ".socket",
    ".target",
    ".device",
    ".mount",
    ".automount",
    ".swap",
    ".timer",
    ".path",
    ".slice",
    ".scope",
)
# Unit names are [A-Za-z0-9:_.\\@-] (systemd's grammar); anything else (globs, spaces, '/') is
# refused, and a leading '-' would be read as an option, a leading '@' names no unit. A label
# value must not be able to select "every unit".
_UNIT_RE = re.compile(r"[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\@-]*")
UNIT_NAME_MAX = 255  # systemd's UNIT_NAME_MAX, 256, counts the terminating NUL
# Kinds a templated unit may never be: they change the host's state (reboot.target,
# system.slice, home.mount) or are no service to restart.
HOST_KINDS = (".target", ".slice", ".mount", ".automount", ".swap", ".scope", ".device")
# Protected whatever global.protected_units says (which adds to these) when a template names the
# unit: the bus, remote login, the consoles and user managers, the rescue modes, alerter itself.
# Every `systemd-*` unit is protected as well (journald, logind, and systemd-reboot/-poweroff/
# -halt/-kexec.service, which end the host).
_STATE_KINDS = (".target", ".slice", ".mount", ".automount", ".swap")
BUILTIN_PROTECTED = (
    "alerter.service",
    "dbus.service",
    "dbus-broker.service",
    "ssh.service",
    "sshd.service",
    "emergency.service",
    "rescue.service",
    "user@.service",
    "user-runtime-dir@.service",
    "getty@.service",
    "serial-getty@.service",
    "autovt@.service",
    "container-getty@.service",
    "console-getty.service",
)
BUILTIN_PROTECTED_PREFIX = "systemd-"
# Targets and slices that hold protected units: stopping or restarting one stops them too
# (getty.target the gettys, user.slice and user-UID.slice the user managers and the ssh
# sessions, sockets.target ssh.socket and dbus.socket, multi-user.target nearly everything),
# starting rescue.target or emergency.target starts the rescue modes. Every operation but
# set-property (a CPU or memory cap on user.slice, which stops nothing) is refused on them.
HOLDING_PROTECTED = (
    "-.slice",
    "system.slice",
    "user.slice",
    "user-*.slice",
    "getty.target",
    "multi-user.target",
    "graphical.target",
    "default.target",
    "sysinit.target",
    "basic.target",
    "sockets.target",
    "timers.target",
    "paths.target",
    "rescue.target",
    "emergency.target",
    # starting it stops every service (each conflicts with it) and, unlike reboot.target,
    # poweroff.target, halt.target and kexec.target, ends nothing: the host stays up without them
    "shutdown.target",
)
# The names systemd ships for some of the targets (symlinks in its unit directory): acting on
# one acts on the target it names (stopping runlevel3.target stops multi-user.target).
STATIC_ALIASES = {
    "runlevel0.target": "poweroff.target",
    "runlevel1.target": "rescue.target",
    "runlevel2.target": "multi-user.target",
    "runlevel3.target": "multi-user.target",
    "runlevel4.target": "multi-user.target",
    "runlevel5.target": "graphical.target",
    "runlevel6.target": "reboot.target",
    "ctrl-alt-del.target": "reboot.target",
}
HOLDING_TOLD = "the gettys, user managers, ssh, dbus, systemd-*"
# systemd puts the instances of NAME@.service in system-NAME.slice ('-' escaped as \x2d):
# system-getty.slice holds the gettys, system-ssh.slice the per-connection sshd@ units
_INSTANCES_SLICE = re.compile(r"system-([^-]+)\.slice")
_GLOB_CHARS = "*?["


class ProtectedUnitError(ActionError):
    """A (templated) unit is, or belongs to, a protected unit."""


def normalize_unit(name: str) -> str:
    """The full unit name systemctl would act on (`web` -> `web.service`); raises ValueError."""
    if not _UNIT_RE.fullmatch(name) or name.endswith(".") or ".." in name:
        raise ValueError(
            f"{name!r} is not a valid unit name (letters, digits, ':_.\\@-'; no globs or spaces)"
        )
    full = name if name.endswith(UNIT_SUFFIXES) else f"{name}.service"
    if len(full) > UNIT_NAME_MAX:
        raise ValueError(
            f"{full[:40]!r}... is not a valid unit name: {len(full)} characters, "
            f"at most {UNIT_NAME_MAX}"
        )
    return full


def unit_kind(unit: str) -> str:
    """`.service` of `web.service`: the type suffix of a full unit name."""
    return unit[unit.rindex(".") :]


def unit_base(unit: str) -> str:
    """`dbus` of `dbus.socket`: a full unit name without its type suffix."""
    return unit[: unit.rindex(".")]


def protected_pattern(entry: str) -> str:
    """A global.protected_units entry as systemctl reads it: a unit name (`web` is
    `web.service`) or a shell-style glob over unit names (`postgres*`, `web-[0-9].service`).
    Raises ValueError, saying what to write, for anything systemctl would not match a unit by:
    bad characters, a trailing dot, a dotted name without a unit type (`Web.Service`, which
    systemctl reads as the unit `Web.Service.service`)."""
    if any(c in entry for c in _GLOB_CHARS):
        if not re.fullmatch(r"[A-Za-z0-9:_.\\@*?\[\]!^-]+", entry) or entry.endswith("."):
            raise ValueError(
                f"{entry!r} is no unit name glob (letters, digits, ':_.\\@-' and the glob "
                "characters '*?[]'; no spaces, '/' or trailing '.')"
            )
        return entry
    if entry.endswith("."):
        raise ValueError(
            f"{entry!r} ends in '.', which no unit name does: write {entry.rstrip('.')!r}"
        )
    full = normalize_unit(entry)
    if full != entry and "." in entry:
        tail = entry[entry.rindex(".") :]
        fix = f"{unit_base(entry)}{tail.lower()}" if tail.lower() in UNIT_SUFFIXES else full
        raise ValueError(
            f"{entry!r} ends in no unit type ({', '.join(UNIT_SUFFIXES)}); systemctl would "
            f"read it as {full}, which no one means: write {fix!r}"
        )
    return full


def protected_by(unit: str, protected: Collection[str]) -> str | None:
    """The protected unit `unit` belongs to (same base name, or instance of its template), or
    the glob among `protected` that matches it (or the service of its base name or template)."""
    globs = sorted(p for p in protected if any(c in p for c in _GLOB_CHARS))
    bases = {unit_base(p) if p.endswith(UNIT_SUFFIXES) else p for p in protected}
    base = unit_base(unit)
    names = [base]
    if "@" in base:  # an instance: its template (getty@), and a service of the same name (ssh@x)
        prefix = base.split("@", 1)[0]
        names += [prefix + "@", prefix]
    for b in names:
        if b in bases:
            return next(p for p in sorted(protected) if p.startswith(b + ".") or p == b)
        if b.startswith(BUILTIN_PROTECTED_PREFIX):
            return f"{BUILTIN_PROTECTED_PREFIX}*"
        for g in globs:
            if any(fnmatch.fnmatchcase(n, g) for n in {unit, b, f"{b}.service"}):
                return g
    return None


def holds_protected(
    unit: str, protected: Collection[str] = (), own: Collection[str] = ()
) -> str | None:
    """How the full unit name `unit` holds protected units, said after its name, or None:
    it is one of HOLDING_PROTECTED, a static alias of one (runlevel3.target), or the slice of
    the instances of a protected template (system-getty.slice; `protected` and `own` as for
    `protected_owner`)."""
    if any(fnmatch.fnmatchcase(unit, h) for h in HOLDING_PROTECTED):
        return f"holds protected units ({HOLDING_TOLD})"
    alias = STATIC_ALIASES.get(unit)
    if alias is not None and holds_protected(alias):
        return f"is an alias of {alias}, which holds protected units ({HOLDING_TOLD})"
    m = _INSTANCES_SLICE.fullmatch(unit)
    if m is not None:
        name = re.sub(r"\\x([0-9a-fA-F]{2})", lambda x: chr(int(x.group(1), 16)), m.group(1))
        found = protected_owner(f"{name}@.service", protected, own)
        if found is not None:
            owner, why = found
            of = f"{owner}, which" if owner == f"{name}@.service" else f"{name}@.service, which "
            if owner != f"{name}@.service":
                of += f"belong to {owner}, which"
            return f"holds the instances of {of} is protected ({why})"
    return None


def protected_owner(
    unit: str, protected: Collection[str], own: Collection[str] = ()
) -> tuple[str, str] | None:
    """(the protected unit that the full unit name `unit` is or belongs to, why it is
    protected), or None. Protected: `protected` (global.protected_units), `own` (the unit alerter
    runs in), BUILTIN_PROTECTED and every systemd-* unit."""
    owner = protected_by(unit, {*protected, *own, *BUILTIN_PROTECTED})
    if owner is None:
        return None
    if owner in own:
        return owner, "alerter runs in it"
    builtin = owner in BUILTIN_PROTECTED or owner.startswith(BUILTIN_PROTECTED_PREFIX)
    return owner, "built in" if builtin else "global.protected_units"


def refuse_protected(unit: str, protected: Collection[str], own: Collection[str] = ()) -> None:
    """Raises ProtectedUnitError when `unit` is or belongs to a protected unit
    (`protected_owner`)."""
    found = protected_owner(unit, protected, own)
    if found is not None:
        owner, why = found
        same = "" if owner == unit else f" belongs to {owner}, which"
        raise ProtectedUnitError(f"{unit}{same} is protected ({why}); alerter will not act on it")


def templated_unit(rendered: str, protected: Collection[str], own: Collection[str] = ()) -> str:
    """The `.service` a template rendered, if alerter may act on it.

    Raises ValueError when it is no valid service name (a target, slice, socket ..., a template
    without instance, bad characters), ProtectedUnitError when it is or belongs to a protected
    unit (`protected_owner`).
    """
    unit = normalize_unit(rendered)
    refuse_protected(unit, protected, own)
    kind = unit_kind(unit)
    if kind != ".service":
        what = "changes the host's state" if kind in _STATE_KINDS else "is no service"
        raise ValueError(
            f"{unit} is a {kind[1:]} unit, which {what}: a templated unit must render to a "
            "service (NAME or NAME.service)"
        )
    if unit.endswith("@.service"):
        raise ValueError(f"{unit} is a template: a templated unit must name an instance")
    return unit


class UnitController(Protocol):
    """What systemd actions need from the service manager."""

    def operate(self, operation: str, unit: str) -> None:
        """restart | reload | start | stop; raise ActionError on failure."""

    def set_properties(self, unit: str, properties: Mapping[str, str]) -> None:
        """`set-property --runtime`: applies now, not persisted; raise ActionError on failure."""

    def show(self, unit: str, properties: Sequence[str]) -> dict[str, str]:
        """Current values as `systemctl show -p NAME` prints them."""


class SystemctlController:
    """Runs `systemctl` (or `prefix`, e.g. a sandbox's `nsenter ... systemctl`) with a timeout."""

    def __init__(self, prefix: Sequence[str] = ("systemctl",), timeout: float = 60.0) -> None:
        self.prefix = tuple(prefix)
        self.timeout = timeout

    def _run(self, *args: str) -> str:
        argv = [*self.prefix, *args]
        try:
            out = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ActionError(
                f"systemctl {' '.join(args)} timed out after {self.timeout:g}s"
            ) from None
        except OSError as e:
            raise ActionError(f"cannot run {argv[0]}: {e.strerror}") from None
        if out.returncode != 0:
            # the first line is the reason; later ones are hints ("See system logs ...")
            msg = (out.stderr or out.stdout).strip().splitlines()
            raise ActionError(
                f"systemctl {' '.join(args)} exited {out.returncode}: "
                f"{msg[0] if msg else 'no output'}"
            )
        return out.stdout

    def operate(self, operation: str, unit: str) -> None:
        if operation not in OPERATIONS or operation == "set-property":
            raise ActionError(f"unknown unit operation {operation!r}")
        self._run(operation, "--", unit)

    def set_properties(self, unit: str, properties: Mapping[str, str]) -> None:
        self._run(
            "set-property", "--runtime", "--", unit, *(f"{k}={v}" for k, v in properties.items())
        )

    def show(self, unit: str, properties: Sequence[str]) -> dict[str, str]:
        args = [a for p in properties for a in ("-p", p)]
        out = self._run("show", *args, "--", unit)
        values: dict[str, str] = {}
        for line in out.splitlines():
            k, sep, v = line.partition("=")
            if sep:
                values[k] = v
        return values


# --- reading back what set-property changed ---------------------------------------------------

# `systemctl show` names a few properties differently from `set-property`, in other units.
_SHOW_NAME = {"CPUQuota": "CPUQuotaPerSecUSec"}
_TIMESPAN_RE = re.compile(r"(\d+(?:\.\d+)?)(us|ms|min|s|h)?")
_TIMESPAN_USEC = {"us": 1.0, "ms": 1e3, "s": 1e6, "min": 60e6, "h": 3600e6, None: 1.0}
_UNSET = "[not set]"
_UINT64_MAX = "18446744073709551615"  # some versions print "no limit" this way


def show_names(properties: Sequence[str]) -> list[str]:
    """The `systemctl show -p` names to read to be able to revert these properties."""
    return [_SHOW_NAME.get(p, p) for p in properties]


def revert_values(properties: Sequence[str], shown: Mapping[str, str]) -> dict[str, str]:
    """Values to pass to `set-property` to restore what `show` printed; "" resets to default."""
    out: dict[str, str] = {}
    for p in properties:
        v = shown.get(_SHOW_NAME.get(p, p), "")
        if v == _UNSET:
            v = ""
        elif v == _UINT64_MAX:
            v = "infinity"
        elif p == "CPUQuota":
            v = "" if v == "infinity" else _usec_to_percent(v)
        out[p] = v
    return out


def _usec_to_percent(span: str) -> str:
    usec = 0.0
    for num, unit in _TIMESPAN_RE.findall(span.replace(" ", "")):
        usec += float(num) * _TIMESPAN_USEC[unit or None]
    return f"{usec / 1e4:g}%"
