"""Label and annotation templates: Jinja2 in a sandbox, with Prometheus's humanize filters.

Plain text out (autoescape off): notifiers escape for their medium (Slack mrkdwn, HTML). A
template that fails at run time renders a visible `<error expanding template: ...>` marker, as
Prometheus does, and the caller counts it; it never stops the engine.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

_SI_BIG = ("", "k", "M", "G", "T", "P", "E", "Z", "Y")
_SI_SMALL = ("", "m", "µ", "n", "p", "f", "a", "z", "y")
_IEC = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi")


class TemplateValue(float):
    """A float that prints like Prometheus's `$value`: `5`, not `5.0`."""

    __slots__ = ()

    def __str__(self) -> str:
        return format_value(float(self))


def format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"  # (as Prometheus writes it)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {v!r}") from None


def humanize(v: Any) -> str:
    """1234567 -> 1.235M; 0.0012 -> 1.2m (SI prefixes, as Prometheus's `humanize`)."""
    x = _num(v)
    if x == 0 or math.isnan(x) or math.isinf(x):
        return f"{x:.4g}"
    if abs(x) >= 1:
        i = 0
        while abs(x) >= 1000 and i < len(_SI_BIG) - 1:
            x /= 1000
            i += 1
        return f"{x:.4g}{_SI_BIG[i]}"
    i = 0
    while abs(x) < 1 and i < len(_SI_SMALL) - 1:
        x *= 1000
        i += 1
    return f"{x:.4g}{_SI_SMALL[i]}"


def humanize_bytes(v: Any) -> str:
    """1536 -> 1.5KiB (powers of 1024)."""
    x = _num(v)
    i = 0
    while abs(x) >= 1024 and i < len(_IEC) - 1:
        x /= 1024
        i += 1
    return f"{x:.4g}{_IEC[i]}B"


def humanize_duration(v: Any) -> str:
    """Seconds to `1d 2h 3m 4s` (as Prometheus's `humanizeDuration`); below 1 s: `500ms`."""
    x = _num(v)
    if math.isnan(x) or math.isinf(x):
        return f"{x:.4g}"
    sign = "-" if x < 0 else ""
    x = abs(x)
    if x < 1:
        return f"{sign}{x * 1000:.4g}ms" if x else "0s"
    secs = int(x)
    days, secs = divmod(secs, 86400)
    hours, secs = divmod(secs, 3600)
    mins, secs = divmod(secs, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (mins, "m")) if n]
    parts.append(f"{secs}s")
    return sign + " ".join(parts)


def humanize_percentage(v: Any) -> str:
    """0.1234 -> 12.34%."""
    return f"{_num(v) * 100:.4g}%"


def rfc3339(t: float) -> str:
    """Epoch seconds to RFC 3339 UTC with milliseconds, as Alertmanager prints times."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


MAX_TEXT = 65_536  # characters an annotation renders to (past it, cut and marked)


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with `*` and `**` bounded: `"x" * 50000000` or `10 ** 10 ** 7` in an
    annotation would take memory and time at every evaluation."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                sized = isinstance(seq, (str, list, tuple)) and isinstance(n, int)
                if sized and len(seq) * n > MAX_TEXT:
                    raise SecurityError(f"a repeat past {MAX_TEXT} items")
        elif isinstance(left, int) and isinstance(right, int) and abs(right) > 1000:
            raise SecurityError("an integer power past 1000")
        return super().call_binop(context, operator, left, right)


def make_environment(undefined: type[jinja2.Undefined]) -> SandboxedEnvironment:
    env = BoundedEnvironment(autoescape=False, undefined=undefined, keep_trailing_newline=False)
    jinja_round = env.filters["round"]
    env.filters["round"] = lambda v, *a, **kw: TemplateValue(jinja_round(v, *a, **kw))
    env.filters["humanize"] = humanize
    env.filters["humanize_bytes"] = humanize_bytes
    env.filters["humanize_duration"] = humanize_duration
    env.filters["humanize_percentage"] = humanize_percentage
    return env


# At run time a label an alert lacks renders empty (Prometheus renders a missing label too);
# the loader renders each template once with sample data in the strict environment, where any
# undefined name is an error, to catch typos such as `labels.ipp`.
ENV = make_environment(jinja2.ChainableUndefined)
STRICT_ENV = make_environment(jinja2.StrictUndefined)
COMPILED_KEPT = 512  # compiled templates kept by their text (both environments together)


@functools.lru_cache(maxsize=COMPILED_KEPT)
def _compiled(strict: bool, text: str) -> jinja2.Template:
    """A template's text compiled in ENV (or STRICT_ENV), kept for the next rule or reload
    with the same text: hundreds of generated rules often share their annotations, and a
    compile costs about 1 ms. (A compiled template is never changed: sharing one is safe.)"""
    return (STRICT_ENV if strict else ENV).from_string(text)


def check_template(text: str, context: Mapping[str, Any]) -> str | None:
    """Render once with sample data, strictly: the error, or None. Raises TemplateSyntaxError."""
    if "{{" not in text and "{%" not in text:
        return None
    try:
        _compiled(True, text).render(context)
    except jinja2.TemplateSyntaxError:
        raise
    except Exception as e:  # a user template may raise anything
        return f"{type(e).__name__}: {e}"
    return None


class Template:
    """One compiled template, or a plain string when the text has no Jinja syntax."""

    __slots__ = ("_compiled", "_globals", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # Raises jinja2.TemplateSyntaxError; the loader turns it into FILE:LINE:COL.
        self._compiled = _compiled(False, text) if ("{{" in text or "{%" in text) else None
        # jinja2's render merges the context into the template's globals, a ChainMap that is
        # slow to iterate, on every call: flatten it once (nothing changes ENV.globals later).
        self._globals: dict[str, Any] = (
            dict(self._compiled.globals) if self._compiled is not None else {}
        )

    @property
    def is_static(self) -> bool:
        return self._compiled is None

    def render(self, context: Mapping[str, Any]) -> tuple[str, str | None]:
        """(text, error): on failure the text is a visible marker and error says why."""
        t = self._compiled
        if t is None:
            return self.text, None
        try:
            # What jinja2.Template.render does, with the globals pre-merged into a plain dict.
            # The sandbox's checks live in the compiled code, so they still apply.
            env = t.environment
            ctx = env.context_class(
                env, {**self._globals, **context}, t.name, t.blocks, globals=self._globals
            )
            text: str = env.concat(t.root_render_func(ctx))
            if len(text) > MAX_TEXT:
                text = text[:MAX_TEXT] + " [cut]"
            return text, None
        except Exception as e:  # a user template may raise anything
            msg = f"{type(e).__name__}: {e}"
            return f"<error expanding template: {msg}>", msg


def context(
    labels: Mapping[str, str],
    value: float,
    alertname: str,
    examples: Sequence[str],
    starts_at: float,
) -> dict[str, Any]:
    return {
        "labels": labels,
        "value": TemplateValue(value),
        "alertname": alertname,
        "examples": list(examples),
        "starts_at": rfc3339(starts_at),
    }
