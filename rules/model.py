"""The rule model: what a loaded rule file is, validated once and never mutated.

The loader builds these values; the engine compiles them into runtime objects that hold the
changing state (windows, alert instances).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from alerter.core.yamlsource import Mark
from alerter.rules.connections import AttemptSpec
from alerter.rules.matchers import Matcher

LOG_AGGREGATES = (
    "count",
    "rate",
    "sum",
    "avg",
    "min",
    "max",
    "last",
    "quantile",
    "distinct",
    "ratio",
    "absent",
    "spike",
    "new_value",
    "change",
)
METRIC_AGGREGATES = (*LOG_AGGREGATES, "increase", "predict")
NEEDS_THRESHOLD = (
    "count",
    "rate",
    "increase",
    "predict",
    "sum",
    "avg",
    "min",
    "max",
    "last",
    "quantile",
    "distinct",
    "ratio",
)
COMBINERS = ("sum", "avg", "min", "max")
DIRECTIONS = ("up", "down", "both")

NOWHERE = Mark("", 1, 1)

_THRESHOLD_RE = re.compile(
    r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf)\s*$"
)

_NEGATED = {">": "<=", ">=": "<", "<": ">=", "<=": ">", "==": "!=", "!=": "=="}


@dataclass(frozen=True, slots=True)
class Threshold:
    """A comparison such as `>= 5`, applied to an instance's value."""

    op: str
    bound: float

    @staticmethod
    def parse(text: str) -> Threshold:
        m = _THRESHOLD_RE.match(text)
        if m is None:
            raise ValueError(
                f"invalid threshold {text!r}: expected an operator (> >= < <= == !=) and a number, "
                'e.g. ">= 5"'
            )
        return Threshold(m.group(1), float(m.group(2)))

    def holds(self, value: float) -> bool:
        op, b = self.op, self.bound
        if op == ">":
            return value > b
        if op == ">=":
            return value >= b
        if op == "<":
            return value < b
        if op == "<=":
            return value <= b
        if op == "==":
            return value == b
        return value != b

    def overlap(self, other: Threshold) -> float | None:
        """A value both hold, or None. Each holds on intervals ending at the bounds, so the
        bounds, the numbers next to them, the points between and the extremes tell."""
        bounds = sorted({self.bound, other.bound})
        points = [*bounds, *((a + b) / 2 for a, b in itertools.pairwise(bounds))]
        points += [b + d for b in bounds for d in (-1, 1)]  # (a round number to tell first)
        points += [math.nextafter(b, d) for b in bounds for d in (-math.inf, math.inf)]
        points += [-1e308, 1e308]
        return next((v for v in points if self.holds(v) and other.holds(v)), None)

    def negated(self) -> Threshold:
        """The comparison that holds exactly where this one does not."""
        return Threshold(_NEGATED[self.op], self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True, slots=True)
class LogSelector:
    """Which log events a rule sees."""

    sources: tuple[str, ...]  # empty: every log collector
    match: re.Pattern[str] | None
    exclude: re.Pattern[str] | None
    where: tuple[Matcher, ...]
    literal: str | None  # a substring every matching line contains (cheap pre-filter)
    # `source_kinds`: named no source, the rule reads the collectors of these kinds only
    # (SOURCE_KINDS; the config resolves them into `sources`: alerter.config.sourcekinds)
    kinds: tuple[str, ...] = ()
    # `forgeable`: the fields (groups of `match`) whose text the line's subject chooses, even
    # where its writer is trusted: a process's name (its comm), a client's user name or path.
    # An action must not take its target from them (alerter.config.trust).
    forgeable: tuple[str, ...] = ()


# a file collector's parser type, or `journald` for the journal
SOURCE_KINDS = ("syslog", "journald", "regex", "json", "logfmt", "none")


@dataclass(frozen=True, slots=True)
class MetricSelector:
    """A PromQL-style series selector: `name{label="v", ...}`."""

    name: str | None
    matchers: tuple[Matcher, ...]
    text: str

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.name is not None and name != self.name:
            return False
        for m in self.matchers:
            v = name if m.name == "__name__" else labels.get(m.name, "")
            if not m.matches({m.name: v}):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Rule:
    alert: str
    group: str
    index: int  # position in its group: with group and alert, the rule's identity in snapshots
    logs: LogSelector | None
    metric: MetricSelector | None
    aggregate: str
    over: float
    by: tuple[str, ...] = ()
    threshold: Threshold | None = None
    resolve_threshold: Threshold | None = None
    for_: float = 0.0
    keep_firing_for: float = 0.0
    max_keys: int = 100_000
    labels: Mapping[str, str] = field(default_factory=dict)  # group labels + rule labels
    annotations: Mapping[str, str] = field(default_factory=dict)
    actions: tuple[str, ...] = ()
    field: str | None = None
    q: float = 0.5
    of: tuple[Matcher, ...] = ()
    min_events: int = 1
    forget_after: float = 86_400.0
    factor: float = 2.0
    direction: str = "up"
    min_count: float = 1.0
    lookback: float = 7 * 86_400.0
    combine: str = "sum"
    ahead: float = 3600.0
    # count: how many events a matching line stands for, read from this regex group or field
    # (a whole number from 1 to 1,000,000; empty or anything else: 1), e.g. rsyslog's
    # "message repeated N times: [ ... ]"
    weight: str | None = None
    # count: the group or field naming a line's connection (sshd's pid), for lines that do not
    # name the `by` address themselves (rules/connections.py); `tells`: groups that capture
    # the address in lines that only tell it for their connection (they count nothing);
    # `connection_ends`: those of them that are their connection's last line (its state is
    # dropped after it: the pid's next line is another connection's)
    connection: str | None = None
    tells: tuple[str, ...] = ()
    connection_ends: tuple[str, ...] = ()
    # count: lines whose count depends on other lines of their connection (one attempt logged
    # twice, a line counting only where its connection named two users): rules/connections.py
    attempts: AttemptSpec | None = None
    mark: Mark = NOWHERE

    @property
    def ident(self) -> str:
        return f"{self.group}/{self.index}/{self.alert}"

    def keeps_windows_of(self, old: Rule) -> bool:
        """Whether a reload may hand this rule the key tables `old` holds, as they are: the two
        differ at most in what is read when an alert is evaluated or made (where the rule is
        written, its thresholds, `for`, `keep_firing_for`, labels, annotations, actions), never
        in what a window or a connection holds."""
        return (
            replace(
                old,
                mark=self.mark,
                threshold=self.threshold,
                resolve_threshold=self.resolve_threshold,
                for_=self.for_,
                keep_firing_for=self.keep_firing_for,
                labels=self.labels,
                annotations=self.annotations,
                actions=self.actions,
            )
            == self
        )

    @property
    def signature(self) -> str:
        """What the saved window contents depend on: restore them only into an equal rule."""
        sel = (
            self.metric.text
            if self.metric
            else repr(self.logs.match.pattern if self.logs and self.logs.match else None)
        )
        weight = (
            f"|{self.weight}|{self.connection}|{self.tells}"
            if self.weight or self.connection
            else ""
        ) + (f"|{self.attempts}" if self.attempts else "")
        return f"{self.aggregate}|{self.over}|{','.join(self.by)}|{self.field}|{sel}{weight}"


METRIC_TYPES = ("counter", "gauge", "histogram")


@dataclass(frozen=True, slots=True)
class LogMetric:
    """A series family made from log lines (DESIGN "Log-derived metrics"): `counter` counts
    matching lines (or adds `field`), `gauge` holds the last value of `field`, `histogram`
    observes `field` into `buckets`. `by`: label names, each a regex group or a parsed field;
    at most `max_series` label sets, the least recently updated evicted past it."""

    name: str
    type: str
    help: str
    group: str
    logs: LogSelector
    by: tuple[str, ...] = ()
    field: str | None = None
    buckets: tuple[float, ...] = ()
    max_series: int = 1000
    mark: Mark = NOWHERE


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    interval: float
    rules: tuple[Rule, ...]
    file: str = ""
    metrics: tuple[LogMetric, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """A name a rule uses that another config section must define."""

    kind: Literal["action", "source"]
    name: str
    mark: Mark


@dataclass(frozen=True, slots=True)
class RuleSet:
    groups: tuple[Group, ...]
    refs: tuple[Reference, ...] = ()

    @staticmethod
    def empty() -> RuleSet:
        return RuleSet(())

    def references(self) -> list[Reference]:
        return list(self.refs)

    def rules(self) -> list[Rule]:
        return [r for g in self.groups for r in g.rules]

    def log_metrics(self) -> list[LogMetric]:
        return [m for g in self.groups for m in g.metrics]
