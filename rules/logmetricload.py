"""Load a rule group's `metrics:` entries (DESIGN "Log-derived metrics") into `LogMetric`s,
reporting every problem at its place in the file, as the rest of the rule loader does."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from alerter.core.yamlsource import MapReader, Mark, Problems
from alerter.rules.model import METRIC_TYPES, LogMetric, LogSelector, Reference

_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count", "_total")

ParseLogs = Callable[[MapReader, list[Reference]], LogSelector | None]


def parse_metric(
    r: MapReader, group: str, refs: list[Reference], parse_logs: ParseLogs
) -> LogMetric | None:
    """One `metrics:` entry, or None after recording its problems. `parse_logs` is the rule
    loader's reader of a `logs:` selector (the same keys as a log rule's)."""
    p = r.problems
    before = len(p.items)
    name = r.str("name", required=True)
    kind = r.choice("type", METRIC_TYPES, required=True)
    if name is not None:
        _check_name(r, name, kind)
    help_text = r.str("help")
    logs = parse_logs(r, refs) if r.has("logs") else None
    if not r.has("logs") and r.ok:
        p.add(r.node, f"{r.what}: missing required key 'logs' (which lines the metric reads)")
    by = r.label_list("by")
    for b in by:
        if b == "le" and kind == "histogram":
            p.add(r.raw("by") or r.node, "by: 'le' is the histogram's bucket label")
    if len(set(by)) < len(by):
        p.add(r.raw("by") or r.node, "by: a label is named twice")
    field = r.str("field", required=kind in ("gauge", "histogram"))
    buckets: tuple[float, ...] = ()
    if kind == "histogram":
        buckets = _buckets(r)
    elif r.has("buckets") and kind is not None:
        p.add(r.key_mark("buckets"), f"buckets: only a histogram has buckets, not a {kind}")
    max_series = r.int("max_series", 1000, minimum=1)
    r.done()
    if len(p.items) > before or name is None or kind is None or logs is None:
        return None
    return LogMetric(
        name=name,
        type=kind,
        help=help_text or f"{kind} of {group} log lines",
        group=group,
        logs=logs,
        by=by,
        field=field,
        buckets=buckets,
        max_series=max_series,
        mark=r.mark,
    )


def _check_name(r: MapReader, name: str, kind: str | None) -> None:
    where = r.raw("name") or r.node
    if not _METRIC_NAME_RE.match(name):
        r.problems.add(where, f"name: {name!r} is not a valid metric name")
    elif name.startswith("alerter_"):
        r.problems.add(where, f"name: {name!r}: the alerter_ prefix is for alerter's self-metrics")
    elif kind == "counter" and not name.endswith("_total"):
        r.problems.add(where, f"name: a counter's name ends in _total ({name}_total)")
    elif kind in ("gauge", "histogram") and name.endswith(_HISTOGRAM_SUFFIXES):
        r.problems.add(
            where, f"name: a {kind}'s name does not end in {', '.join(_HISTOGRAM_SUFFIXES)}"
        )


def _buckets(r: MapReader) -> tuple[float, ...]:
    nodes = r.list("buckets", required=True)
    out: list[float] = []
    for n in nodes:
        v = n.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            r.problems.add(n, f"buckets: expected a number, got {v!r}")
            return ()
        out.append(float(v))
    if out and any(b >= a for a, b in zip(out[1:], out, strict=False)):
        r.problems.add(r.raw("buckets") or r.node, "buckets: must be strictly increasing")
        return ()
    return tuple(b for b in out if b != math.inf)


def check_unique(metrics: Sequence[LogMetric], p: Problems) -> None:
    """Each metric name once across every group and file."""
    seen: dict[str, Mark] = {}
    for m in metrics:
        if m.name in seen:
            p.add(m.mark, f"metric {m.name!r} is defined twice (first at {seen[m.name]})")
        else:
            seen[m.name] = m.mark
