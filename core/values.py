"""The syntaxes of single config values: durations (`1h30m`), `${VAR}` substitution, and label
names as Prometheus and Alertmanager take them. Pure; the YAML reader (yamlsource) applies them
where a value is read. Also how a count is written in the commands' output (`1 test`, `2 tests`)."""

from __future__ import annotations

import re
from collections.abc import Mapping

# --- durations ---------------------------------------------------------------------------

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
# Prometheus refuses a duration past int64 nanoseconds (292 years), and so does Python's wait
# for a thread or a timer: a longer one would pass the check and crash the daemon's first wait
LONGEST_DURATION = 292 * 365 * 86400.0
# A command's or a probe's timeout: the poll() under subprocess waits 24.8 days at most
LONGEST_TIMEOUT = 86400.0


def parse_duration(text: str) -> float:
    """Prometheus-style duration (`500ms`, `10s`, `1h30m`, `7d`, `0`) to seconds."""
    s = text.strip()
    if s == "0":
        return 0.0
    m = _DURATION_RE.match(s)
    if not s or m is None or not any(m.groups()):
        raise ValueError(f"invalid duration {text!r} (use e.g. 500ms, 10s, 5m, 1h30m, 7d)")
    seconds = sum(float(g) * u for g, u in zip(m.groups(), _DURATION_UNITS, strict=True) if g)
    if seconds > LONGEST_DURATION:
        raise ValueError(f"invalid duration {text!r}: out of range (at most 292y)")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds to the shortest Prometheus-style duration string."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    if ms:
        out.append(f"{ms}ms")
    return "".join(out)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and its noun, singular for 1 (`1 test`, `0 tests`, `2 rule groups`)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


# --- environment substitution --------------------------------------------------------------

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """Replace `${VAR}` and `${VAR:-default}`. Raises KeyError(VAR) for an unset VAR."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        val = env.get(name)
        if val is None or (val == "" and default is not None):
            if default is None:
                raise KeyError(name)
            return default
        return val

    return _ENV_RE.sub(sub, text)


# --- label names ------------------------------------------------------------------------

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def label_name_problem(name: str) -> str | None:
    """What is wrong with a label name, as Prometheus and Alertmanager see it, or None."""
    if not LABEL_NAME.match(name):
        return (
            f"{name!r} is not a valid label name (letters, digits and _, not starting with a"
            " digit: Alertmanager and Prometheus refuse it)"
        )
    if name.startswith("__"):
        return f"{name!r}: names starting with __ are reserved"
    return None
