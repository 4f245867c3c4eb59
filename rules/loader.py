"""Load rule files (DESIGN "Rule files") into a RuleSet, reporting every problem at once.

Each problem is `FILE:LINE:COL: message`: bad regexes, unknown aggregates, keys an aggregate
needs but lacks (or does not use), bad matchers and thresholds, template syntax errors and
templates that fail when rendered with sample data, and rules that would produce the same alerts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import jinja2

from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Mark, Problem, Problems, SourceError
from alerter.rules import templates
from alerter.rules.attemptsload import parse_attempts
from alerter.rules.logmetricload import check_unique, parse_metric
from alerter.rules.model import (
    COMBINERS,
    DIRECTIONS,
    LOG_AGGREGATES,
    METRIC_AGGREGATES,
    NEEDS_THRESHOLD,
    Group,
    Reference,
    Rule,
    RuleSet,
    Threshold,
)
from alerter.rules.selectorload import parse_logs, parse_matcher_list, parse_selector

__all__ = ["Reference", "RuleFileError", "RuleSet", "load_rule_files"]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Keys only some aggregates use: naming one for another aggregate is a mistake worth reporting.
_ONLY_FOR = {
    "q": ("quantile",),
    "of": ("ratio",),
    "min_events": ("ratio",),
    "forget_after": ("absent",),
    "factor": ("spike",),
    "direction": ("spike",),
    "min_count": ("spike",),
    "lookback": ("new_value",),
    "ahead": ("predict",),
    "weight": ("count",),
    "connection": ("count",),
    "attempts": ("count",),
}
_LOG_FIELD_AGGS = (
    "sum",
    "avg",
    "min",
    "max",
    "last",
    "quantile",
    "distinct",
    "new_value",
    "change",
)
_METRIC_FIELD_AGGS = ("distinct", "new_value")


def load_rule_files(
    files: Sequence[tuple[str, str]],
    default_interval: float,
    linear: frozenset[str] = frozenset(),
) -> RuleSet:
    """Parse (display name, text) pairs. Raises SourceError listing every problem.
    `linear`: regexes known to run in linear time in Python's `re` (the shipped packs', whose
    tests prove it: alerter.config.rulefiles.shipped_patterns); a rule file's identical copy of
    one runs there, as any pattern `re` provably runs in linear time does, instead of in RE2."""
    p = Problems()
    groups: list[Group] = []
    refs: list[Reference] = []
    group_marks: dict[str, Mark] = {}
    for name, text in files:
        try:
            root = load_yaml(text, name)
        except SourceError as e:
            p.items.extend(e.problems)
            continue
        top = MapReader(root, p, "rule file")
        for gr in top.items("groups"):
            g = _parse_group(gr, name, default_interval, refs, linear)
            if g is None:
                continue
            if g.name in group_marks:
                p.add(gr.mark, f"duplicate group name {g.name!r} (first at {group_marks[g.name]})")
                continue
            group_marks[g.name] = gr.mark
            groups.append(g)
        top.done()
    _check_duplicate_alerts(groups, p)
    check_unique([m for g in groups for m in g.metrics], p)
    if p.items:
        raise RuleFileError(p.items, RuleSet((), tuple(refs)))
    return RuleSet(tuple(groups), tuple(refs))


class RuleFileError(SourceError):
    """Problems in rule files. `partial` holds the references (actions, sources) the files
    name, so the config can still report the unknown ones along with these problems."""

    def __init__(self, problems: list[Problem], partial: RuleSet) -> None:
        super().__init__(problems)
        self.partial = partial


def _parse_group(
    r: MapReader,
    file: str,
    default_interval: float,
    refs: list[Reference],
    linear: frozenset[str],
) -> Group | None:
    name = r.str("name", required=True)
    interval = r.duration("interval", default_interval)
    if interval is not None and interval <= 0 and r.has("interval"):  # (else the default's)
        r.problems.add(r.raw("interval") or r.node, "interval: must be > 0")
    labels = r.label_map("labels")
    rules = []
    for i, rr in enumerate(r.items("rules")):
        rule = _parse_rule(rr, name or "", i, labels, refs, linear)
        if rule is not None:
            rules.append(rule)
    logs = functools.partial(parse_logs, linear=linear)
    metrics = [parse_metric(mr, name or "", refs, logs) for mr in r.items("metrics")]
    r.done()
    if name is None or not r.ok:
        return None
    found = tuple(m for m in metrics if m is not None)
    return Group(name, interval or default_interval, tuple(rules), file, found)


def _parse_rule(
    r: MapReader,
    group: str,
    index: int,
    group_labels: dict[str, str],
    refs: list[Reference],
    linear: frozenset[str],
) -> Rule | None:
    p = r.problems
    before = len(p.items)
    alert = r.str("alert", required=True)
    if alert is not None and not _NAME_RE.match(alert):
        p.add(
            r.raw("alert") or r.node,
            f"alert: {alert!r} is not a valid alert name "
            "(letters, digits and _, not starting with a digit)",
        )
    is_metric = r.has("metric")
    logs = parse_logs(r, refs, linear) if r.has("logs") else None
    metric = None
    if is_metric:
        text = r.str("metric", required=True)
        metric = r.check("metric", parse_selector, text) if text is not None else None
    if r.has("logs") == is_metric and r.ok:
        p.add(r.node, f"{r.what}: give exactly one of 'logs' (log rule) or 'metric' (metric rule)")

    aggs = METRIC_AGGREGATES if is_metric else LOG_AGGREGATES
    agg_node = r.raw("aggregate")
    if not is_metric and agg_node is not None and agg_node.value == "increase":
        p.add(
            agg_node,
            "aggregate: increase applies to metric rules (counters); "
            "use count or rate for log rules",
        )
        aggregate = None
    else:
        aggregate = r.choice(
            "aggregate", aggs, "last" if is_metric else None, required=not is_metric
        )
    over = r.duration("over", 300.0 if is_metric else None, required=not is_metric)
    if over is not None and over <= 0:
        p.add(r.raw("over") or r.node, "over: must be > 0")

    kw: dict[str, Any] = {}
    for key, aggs_for in _ONLY_FOR.items():
        if r.has(key) and aggregate is not None and aggregate not in aggs_for:
            p.add(
                r.key_mark(key),
                f"{key}: only used by aggregate {' or '.join(aggs_for)}, not {aggregate}",
            )
    field_aggs = _METRIC_FIELD_AGGS if is_metric else _LOG_FIELD_AGGS
    if aggregate in field_aggs:
        kw["field"] = r.str("field", required=True)
    elif r.has("field") and aggregate is not None:
        p.add(
            r.key_mark("field"),
            f"field: not used by aggregate {aggregate}"
            + (" of a metric rule (it aggregates sample values)" if is_metric else ""),
        )
    if aggregate == "quantile":
        q = r.float("q", required=True)
        if q is not None and not 0 <= q <= 1:
            p.add(r.raw("q") or r.node, f"q: must be between 0 and 1, got {q:g}")
        kw["q"] = q if q is not None else 0.5
    if aggregate == "ratio":
        kw["of"] = parse_matcher_list(r, "of", required=True)
        kw["min_events"] = r.int("min_events", 1, minimum=1)
    if aggregate == "absent":
        kw["forget_after"] = r.duration("forget_after", 86_400.0)
    if aggregate == "spike":
        factor = r.float("factor", required=True)
        if factor is not None and factor <= 1:
            p.add(r.raw("factor") or r.node, f"factor: must be > 1, got {factor:g}")
        kw["factor"] = factor or 2.0
        kw["direction"] = r.choice("direction", DIRECTIONS, "up")
        kw["min_count"] = r.float("min_count", 1.0)  # (a log rule's is never below 1)
    if aggregate == "predict":
        kw["ahead"] = r.duration("ahead", required=True) or 3600.0
    if aggregate == "new_value":
        kw["lookback"] = r.duration("lookback", 7 * 86_400.0)
    if aggregate == "count" and (r.has("weight") or r.has("connection")):
        if is_metric:
            p.add(
                r.key_mark("weight" if r.has("weight") else "connection"),
                "only log rules count lines",
            )
        kw["weight"] = r.str("weight")
        conn = r.map("connection", "connection")
        if conn is not None:
            kw["connection"] = conn.str("id", required=True)
            kw["tells"] = tuple(conn.str_list("tells", ()))
            groups = logs.match.groupindex if logs is not None and logs.match is not None else {}
            for g in kw["tells"]:
                if g not in groups:
                    p.add(conn.key_mark("tells"), f"tells: {g!r} is not a group of match")
            kw["connection_ends"] = tuple(conn.str_list("ends", ()))
            for g in kw["connection_ends"]:
                if g not in kw["tells"]:
                    p.add(conn.key_mark("ends"), f"ends: {g!r} is not one of tells")
            conn.done()
            if len(r.str_list("by", ())) != 1:
                p.add(r.key_mark("connection"), "connection: needs one `by` label (the address)")
    if aggregate == "count" and r.has("attempts"):
        kw["attempts"] = parse_attempts(
            r,
            logs.match.groupindex if logs is not None and logs.match is not None else {},
            tuple(r.str_list("by", ())),
            r.has("connection"),
        )

    threshold = _threshold(r, "threshold")
    resolve = _threshold(r, "resolve_threshold")
    if aggregate in NEEDS_THRESHOLD and threshold is None and r.raw("threshold") is None:
        p.add(r.node, f'{r.what}: aggregate {aggregate} needs a threshold, e.g. threshold: "> 5"')
    if aggregate in ("absent", "spike", "new_value") and r.raw("threshold") is not None:
        p.add(
            r.key_mark("threshold"),
            f"threshold: not used by aggregate {aggregate} "
            + ("(use factor and direction)" if aggregate == "spike" else "(it fires by itself)"),
        )
    if aggregate == "change" and threshold is None:
        threshold = Threshold(">", 0.0)
    if resolve is not None and threshold is None and r.raw("threshold") is None:
        p.add(r.key_mark("resolve_threshold"), "resolve_threshold: needs a threshold")
    both = resolve.overlap(threshold) if resolve is not None and threshold is not None else None
    if both is not None and resolve is not None and threshold is not None:
        p.add(
            r.raw("resolve_threshold") or r.node,
            f'resolve_threshold: "{resolve}" holds where threshold "{threshold}" does (at'
            f" {both:g}), so the alert would resolve while its threshold is still met; give"
            f' one that does not overlap it, e.g. "{threshold.negated()}"',
        )

    by = r.label_list("by")
    combine = r.choice("combine", COMBINERS, "sum")
    if r.has("combine") and not (is_metric and by):
        p.add(r.key_mark("combine"), "combine: only used by metric rules with by")
    for_ = r.duration("for", 0.0)
    keep = r.duration("keep_firing_for", 0.0)
    max_keys = r.int("max_keys", 100_000, minimum=1)
    rule_labels = r.label_map("labels")
    annotations = r.label_map("annotations")
    actions = _parse_actions(r, refs)
    r.done()
    labels = {**group_labels, **rule_labels}
    field_label = kw.get("field") if aggregate == "new_value" else None
    _check_templates(r, alert or "", is_metric, by, field_label, labels)
    if len(p.items) > before or alert is None or aggregate is None:
        return None
    rule = Rule(
        alert=alert,
        group=group,
        index=index,
        logs=logs,
        metric=metric,
        aggregate=aggregate,
        over=over or 300.0,
        by=by,
        threshold=threshold,
        resolve_threshold=resolve,
        for_=for_ or 0.0,
        keep_firing_for=keep or 0.0,
        max_keys=max_keys,
        labels=labels,
        annotations=annotations,
        actions=actions,
        combine=combine,
        mark=r.mark,
        **kw,
    )
    return rule


def _threshold(r: MapReader, key: str) -> Threshold | None:
    text = r.str(key)
    return r.check(key, Threshold.parse, text) if text is not None else None


def _parse_actions(r: MapReader, refs: list[Reference]) -> tuple[str, ...]:
    names = r.str_list("actions", ())
    n = r.raw("actions")
    if n is not None and isinstance(n.value, list):
        refs.extend(
            Reference("action", str(item.value), item.mark)
            for item in n.value
            if isinstance(item.value, str)
        )
    return tuple(names)


class _SampleLabels(dict[str, str]):
    """Labels of a metric rule without `by`: any series label may exist at run time."""

    def __missing__(self, key: str) -> str:
        return "sample"


def _check_templates(
    r: MapReader,
    alert: str,
    is_metric: bool,
    by: tuple[str, ...],
    field_label: str | None,
    labels: dict[str, str],
) -> None:
    """Compile every template and render it once with sample data; report what fails."""
    p = r.problems
    sample: dict[str, str] = _SampleLabels() if is_metric and not by else {}
    sample.update({k: "sample" for k in by})
    if field_label:
        sample[field_label] = "sample"
    sample.update({k: v for k, v in labels.items() if "{" not in v})
    sample["alertname"] = alert
    ctx = templates.context(sample, 1.0, alert, ["sample log line"], 0.0)
    for section in ("labels", "annotations"):
        node = r.raw(section)
        if node is None or not isinstance(node.value, dict):
            continue
        for k, vnode in node.value.items():
            if not isinstance(vnode.value, str):
                continue
            where = vnode.mark
            try:
                err = templates.check_template(vnode.value, ctx)
            except jinja2.TemplateSyntaxError as e:
                p.add(
                    where,
                    f"{section}.{k}: template syntax error (template line {e.lineno}): {e.message}",
                )
                continue
            if err is not None:
                p.add(where, f"{section}.{k}: template fails with sample data: {err}")


def _check_duplicate_alerts(groups: list[Group], p: Problems) -> None:
    seen: dict[tuple[Any, ...], Rule] = {}
    for g in groups:
        for rule in g.rules:
            sel = rule.metric.text if rule.metric else "logs"
            key = (rule.alert, tuple(sorted(rule.labels.items())), rule.by, sel)
            first = seen.get(key)
            if first is not None:
                p.add(
                    rule.mark,
                    f"rule {rule.alert!r} produces the same alert labels as the rule "
                    f"at {first.mark} (give one a different alert name or labels)",
                )
            else:
                seen[key] = rule
