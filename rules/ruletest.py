"""Rule unit tests (`alerter test`): promtool's test file format, plus `input_logs`.

Pure: the caller passes the test file's text and a function that reads the rule files it names.
As promtool does, the runner steps from 0 to the largest eval_time by `evaluation_interval`,
feeding every input with a time up to the step before evaluating all groups; a check whose
eval_time falls in [t, t + evaluation_interval) is made at t. Only firing alerts are compared;
expected labels get `alertname` added; an empty `exp_alerts` asserts nothing fires.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from alerter.core.events import LogBatch, LogEvent, Sample
from alerter.core.values import format_duration
from alerter.core.yamlload import file_kind, load_yaml
from alerter.core.yamlsource import MapReader, Mark, Problem, Problems, SourceError
from alerter.rules.engine import Engine
from alerter.rules.expand import MAX_VALUES, expand_values
from alerter.rules.loader import load_rule_files
from alerter.rules.model import MetricSelector
from alerter.rules.selectorload import parse_selector

# name in the test file -> (display name, text); raises OSError, or ValueError saying what is wrong
ReadRuleFile = Callable[[str], tuple[str, str]]
# Reads `parser:` of an input_logs entry (reporting its problems) into line -> fields, or None
LineParser = Callable[[str], Mapping[str, str] | None]
ParseLine = Callable[[MapReader], LineParser | None]


@dataclass(frozen=True, slots=True)
class Check:
    eval_time: float
    alertname: str
    expected: tuple[tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]], ...]
    line: int = 0  # of the check in the test file (its failure names it)


@dataclass(frozen=True, slots=True)
class ExprCheck:
    """promtool's `promql_expr_test`, for log-derived series: `expr` a series selector."""

    eval_time: float
    expr: MetricSelector
    expected: tuple[tuple[tuple[tuple[str, str], ...], float], ...]
    line: int = 0


_TIME = attrgetter("time")
MAX_STEPS = 1_000_000  # evaluations a test case may take (a year at 1m is 525,600)


@dataclass(slots=True)
class TestCase:
    name: str
    interval: float
    samples: list[Sample] = field(default_factory=list)
    logs: list[LogEvent] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    expr_checks: list[ExprCheck] = field(default_factory=list)
    external_labels: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Result:
    """The outcome of one test file: failures as readable text blocks."""

    file: str
    tests: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


_OTHER_FILES = {  # file_kind -> what is said when one is given as a test file
    "rules": "a rule file (groups:), not a rule test file: alerter test runs files of tests "
    "(rule_files:, tests:) that name the rule files they test",
    "config": "an alerter config, not a rule test file: check it with alerter check -c FILE",
}


def run_test_file(
    name: str,
    text: str,
    read_rule_file: ReadRuleFile,
    parse_line: ParseLine | None = None,
    linear: frozenset[str] = frozenset(),
) -> Result:
    """Run every test of one file. Load errors raise SourceError (FILE:LINE:COL lines).
    `linear`: as for `load_rule_files` (the shipped packs' regexes)."""
    root = load_yaml(text, name)
    kind = file_kind(root)
    if kind in _OTHER_FILES:
        raise SourceError([Problem(Mark(name, 1, 1), _OTHER_FILES[kind])])
    p = Problems()
    top = MapReader(root, p, "test file")
    rule_names = top.str_list("rule_files", required=True) or ()
    eval_interval = top.duration("evaluation_interval", 60.0)
    if eval_interval is not None and eval_interval <= 0:
        p.add(top.raw("evaluation_interval") or root, "evaluation_interval: must be > 0")
    top.list("group_eval_order")  # accepted for promtool compatibility; groups run in order
    cases = [_parse_case(r, eval_interval, parse_line) for r in top.items("tests")]
    top.done()
    p.raise_if_any()
    files = []
    listed = top.raw("rule_files")
    for n, node in zip(rule_names, listed.value if listed else (), strict=False):
        try:
            files.append(read_rule_file(n))
        except OSError as e:
            p.add(node, f"rule_files: cannot read {n}: {e.strerror}")
        except SourceError as e:
            p.items.extend(e.problems)
        except ValueError as e:  # what the reader finds wrong with the name (a pack's)
            p.add(node, f"rule_files: {e}")
    p.raise_if_any()
    ruleset = load_rule_files(files, default_interval=eval_interval, linear=linear)
    known = {r.alert for r in ruleset.rules()}
    selectors = [r.logs for r in ruleset.rules() if r.logs is not None]
    selectors += [m.logs for m in ruleset.log_metrics()]
    read = (
        None if any(not s.sources for s in selectors) else {x for s in selectors for x in s.sources}
    )
    result = Result(name)
    for case in cases:
        assert case is not None
        result.tests += 1
        # a check of an alert no rule defines fails where it is written; the others still run
        for c in case.checks:
            if c.alertname not in known:
                close = difflib.get_close_matches(c.alertname, sorted(known), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                result.failures.append(
                    f"{name}:{c.line}: test {case.name!r}: no rule defines alert "
                    f"{c.alertname}{hint}"
                )
        case.checks = [c for c in case.checks if c.alertname in known]
        end = max(
            [c.eval_time for c in case.checks] + [x.eval_time for x in case.expr_checks],
            default=0.0,  # (checks nothing: passes, as in promtool)
        )
        if end / eval_interval > MAX_STEPS:
            result.failures.append(
                f"{name}: test {case.name!r}: eval_time {format_duration(end)} is"
                f" {end / eval_interval:,.0f} evaluations at evaluation_interval"
                f" {format_duration(eval_interval)}; at most {MAX_STEPS:,}: give a shorter"
                " eval_time or a longer evaluation_interval"
            )
            continue
        engine = Engine(ruleset, case.external_labels)
        failures = _run_case(name, case, engine, eval_interval)
        unread = sorted({e.source for e in case.logs} - read) if read is not None else []
        if failures and unread:  # (a source no rule reads may be there on purpose)
            failures[-1] += (
                f"\n  note: input_logs source {unread[0]!r} is read by no rule (they read"
                f" {', '.join(sorted(read or ())) or 'no logs'})"
            )
        result.failures.extend(failures)
    return result


def _parse_case(r: MapReader, eval_interval: float, parse_line: ParseLine | None) -> TestCase:
    case = TestCase(r.str("name", "unnamed test"), r.duration("interval", eval_interval))
    case.external_labels = r.str_map("external_labels", {})
    r.str("external_url")
    for sr in r.items("input_series"):
        _parse_series(sr, case)
    for lr in r.items("input_logs"):
        _parse_logs(lr, case, parse_line)
    for ar in r.items("alert_rule_test"):
        eval_time = ar.duration("eval_time", required=True)
        alertname = ar.str("alertname", required=True)
        expected = []
        for er in ar.items("exp_alerts"):
            labels = {**er.str_map("exp_labels", {}), "alertname": alertname or ""}
            annotations = er.str_map("exp_annotations", {})
            er.done()
            expected.append((tuple(sorted(labels.items())), tuple(sorted(annotations.items()))))
        ar.done()
        if eval_time is not None and alertname is not None:
            case.checks.append(Check(eval_time, alertname, tuple(sorted(expected)), ar.mark.line))
    for er in r.items("promql_expr_test"):
        _parse_expr_test(er, case)
    r.done()
    return case


def _parse_expr_test(er: MapReader, case: TestCase) -> None:
    """promtool's promql_expr_test, its subset alerter evaluates: `expr` is a series selector
    (no functions or operators: alerter has no query language) over the log-derived metrics
    (`metrics:` of the rule groups; a histogram as its _bucket, _sum and _count series)."""
    eval_time = er.duration("eval_time", required=True)
    text = er.str("expr", required=True)
    sel = er.check("expr", _selector_only, text) if text is not None else None
    expected = []
    for xr in er.items("exp_samples"):
        labels_text = xr.str("labels", required=True)
        value = xr.float("value", required=True)
        xr.done()
        lsel = xr.check("labels", parse_selector, labels_text) if labels_text else None
        if lsel is None or value is None:
            continue
        labels = {m.name: m.value for m in lsel.matchers if m.op == "="}
        if lsel.name:
            labels["__name__"] = lsel.name
        expected.append((tuple(sorted(labels.items())), float(value)))
    er.done()
    if eval_time is not None and sel is not None:
        case.expr_checks.append(ExprCheck(eval_time, sel, tuple(sorted(expected)), er.mark.line))


def _selector_only(text: str) -> MetricSelector:
    try:
        return parse_selector(text)
    except ValueError as e:
        raise ValueError(
            f"{e}; alerter evaluates only series selectors of log-derived metrics here "
            "(no PromQL functions or operators)"
        ) from None


def _parse_series(sr: MapReader, case: TestCase) -> None:
    text = sr.str("series", required=True)
    values = sr.str("values", required=True)
    sr.done()
    if text is None or values is None:
        return
    sel = sr.check("series", parse_selector, text)
    vals = sr.check("values", expand_values, values)
    if sel is None or vals is None:
        return
    labels = {m.name: m.value for m in sel.matchers if m.op == "="}
    name = sel.name or labels.pop("__name__", "")
    for i, v in enumerate(vals):
        if v is not None:
            case.samples.append(Sample(i * case.interval, "test", name, labels, v))


def _parse_logs(lr: MapReader, case: TestCase, parse_line: ParseLine | None) -> None:
    source = lr.str("source", "test")
    parser: LineParser | None = None
    if lr.has("parser"):
        if parse_line is None:
            lr.problems.add(lr.raw("parser") or lr.node, "parser: no line parsers available here")
        else:
            parser = parse_line(lr)
    for er in lr.items("entries"):
        at = er.duration("at", 0.0)
        line = er.str("line", required=True)
        repeat = er.int("repeat", 1, minimum=1, maximum=MAX_VALUES)
        every = er.duration("every", 0.0)
        fields = er.str_map("fields", {})
        er.done()
        if line is None:
            continue
        if parser is not None:
            fields = {**(parser(line) or {}), **fields}
        for i in range(repeat):
            case.logs.append(LogEvent(at + i * every, source or "test", line, fields))
    lr.done()


def _run_case(file: str, case: TestCase, engine: Engine, step: float) -> list[str]:
    samples = sorted(case.samples, key=_TIME)
    logs = sorted(case.logs, key=_TIME)
    checks = sorted(case.checks, key=lambda c: c.eval_time)
    failures: list[str] = []
    exprs = sorted(case.expr_checks, key=lambda c: c.eval_time)
    end = max([c.eval_time for c in checks] + [x.eval_time for x in exprs], default=0.0)
    i = j = 0
    n_steps = int(end // step) + 1
    for n in range(n_steps):
        ts = n * step
        # the inputs up to ts, time by time: a time's samples, then each source's lines
        while True:
            t = min(
                samples[i].time if i < len(samples) else ts + 1,
                logs[j].time if j < len(logs) else ts + 1,
            )
            if t > ts:
                break
            k = i
            while i < len(samples) and samples[i].time == t:
                i += 1
            engine.process_samples(samples[k:i], t)
            by_source: dict[str, list[LogEvent]] = {}  # in order of their first line
            while j < len(logs) and logs[j].time == t:
                by_source.setdefault(logs[j].source, []).append(logs[j])
                j += 1
            for source, events in by_source.items():
                engine.process(LogBatch.of_events(source, t, events), t)
        engine.evaluate(ts)
        for c in checks:
            if ts <= c.eval_time < ts + step:
                got = sorted(
                    (tuple(sorted(a.labels.items())), tuple(sorted(a.annotations.items())))
                    for a in engine.alerts()
                    if a.state == "firing" and a.alertname == c.alertname
                )
                if tuple(got) != c.expected:
                    failures.append(_diff(file, case.name, c, got))
        for x in exprs:
            if ts <= x.eval_time < ts + step:
                failures.extend(_expr_failure(file, case.name, x, engine, ts))
    return failures


def _expr_failure(file: str, case: str, x: ExprCheck, engine: Engine, ts: float) -> list[str]:
    got = sorted(
        (tuple(sorted({**s.labels, "__name__": s.name}.items())), s.value)
        for s in engine.log_metrics.samples(ts)
        if x.expr.matches(s.name, s.labels)
    )
    if tuple(got) == x.expected:
        return []
    head = (
        f"{file}:{x.line}: test {case!r}: expr {x.expr.text!r}, eval_time "
        f"{format_duration(x.eval_time)}: samples differ"
    )

    def render(samples: Any) -> list[str]:
        return [f"- {dict(labels)} {value:g}" for labels, value in samples] or ["(no samples)"]

    diff = difflib.unified_diff(render(x.expected), render(got), "expected", "got", lineterm="")
    return [head + "\n" + "\n".join("    " + line for line in diff)]


def _render(alerts: Any) -> list[str]:
    """One line per label and annotation, so a diff points at the one that differs."""
    lines = []
    for labels, annots in alerts:
        lines.append("- labels:")
        lines.extend(f"    {k}: {v!r}" for k, v in labels)
        lines.append("  annotations:")
        lines.extend(f"    {k}: {v!r}" for k, v in annots)
    return lines or ["(no firing alerts)"]


def _diff(file: str, case: str, c: Check, got: Any) -> str:
    head = (
        f"{file}:{c.line}: test {case!r}: alertname {c.alertname}, eval_time "
        f"{format_duration(c.eval_time)}: firing alerts differ"
    )
    diff = difflib.unified_diff(_render(c.expected), _render(got), "expected", "got", lineterm="")
    return head + "\n" + "\n".join("    " + line for line in diff)


__all__ = ["Result", "SourceError", "run_test_file"]
