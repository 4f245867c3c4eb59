"""Acting on systemd units: the `UnitController` interface and its `systemctl` implementation.

`systemctl` is run as an argv (never a shell) with a timeout. The argv prefix is configurable so
tests can drive a private systemd (`[systemd-sandbox, "exec", PID, "systemctl"]`) and hosts
without root can put `sudo -n systemctl` or rely on the polkit rule in packaging/.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
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
# Unit names are [A-Za-z0-9:_.\\@-]; anything else (globs, spaces, '/') is refused, and a leading
# '-' would be read as an option. A label value must not be able to select "every unit".
_UNIT_RE = re.compile(r"^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*$")


def normalize_unit(name: str) -> str:
    """The full unit name systemctl would act on (`web` -> `web.service`); raises ValueError."""
    if not _UNIT_RE.fullmatch(name) or len(name) > 255:
        raise ValueError(
            f"{name!r} is not a valid unit name (letters, digits, ':_.\\@-'; no globs or spaces)"
        )
    return name if name.endswith(UNIT_SUFFIXES) else f"{name}.service"


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
