"""What every plan shares: the `Plan` base, the `Pass` (a batch and where its results go) a
plan runs in, the `Facts` it is chosen
from, and the line-by-line path every plan agrees with."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from alerter.core.events import LogLines
from alerter.rules.alert import Transition
from alerter.rules.matchers import value_matches
from alerter.rules.model import Rule
from alerter.rules.prefilter import batch_pattern, line_confined, literal_or_why

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule

SEP = "\n"


@dataclass(frozen=True, slots=True)
class Pass:
    """One batch's pass through its source's rules: the batch itself (read by the plans
    through `LogLines`: its text, a line only where a rule matched, an event only for a line
    whose fields a rule reads), the time it is processed at, where transitions go, and the
    findall results that rules of the same pattern share within the pass."""

    batch: LogLines
    now: float
    out: list[Transition]
    shared: dict[object, list[Any]] = field(default_factory=dict)
    # literals of the source's plans the batch does not hold (alerter.rules.plans.literals):
    # a search for one of them ends at once
    absent: frozenset[str] = frozenset()
    # where the lines holding each literal start (plans.anyliteral.line_starts): a literal
    # several rules search for (sshd's `Failed `) is found once a batch
    starts: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Facts:
    """What a rule's plan is chosen from: its definition and the forms of its regex the
    batch paths run (each None when it cannot be derived)."""

    rule: Rule
    match: re.Pattern[str] | None
    groups: Mapping[str, int]  # the regex's named groups
    literal: str | None  # a literal every match holds (the loader's pre-filter)
    no_literal: str  # when there is none: why
    batch: re.Pattern[str] | None  # MULTILINE, for a whole batch (the regex starts with a literal)
    one_line: re.Pattern[str] | None  # the regex confined to one line (no match holds a newline)
    one_batch: re.Pattern[str] | None  # both
    plain: bool  # nothing to filter after the match (no `where`, no `exclude`)
    rises: bool  # a threshold a batch can only cross upwards (> or >=: counts only grow)
    # the keyed plans also take an `exclude` (the lines it finds dropped), a `weight` group
    # (a line where it took part judged on its own) and a `where` on fields that an event
    # without fields passes (read only for a batch with fields: `Fieldless`), but no
    # connection state
    keyable: bool = False
    fields_where: bool = False  # (keyable) a `where` that a batch with fields must run
    where_empty_ok: bool = False  # every line of a batch without fields passes the `where`

    @property
    def aggregate(self) -> str:
        return self.rule.aggregate

    @property
    def field_in_groups(self) -> bool:
        return (self.rule.field or "") in self.groups

    @property
    def bulk(self) -> bool:
        """One key and nothing to filter after the match: whole batches are counted at once
        (a ratio or spike is judged on the batch as a whole)."""
        return (
            not self.rule.by
            and self.plain
            and (
                self.aggregate in ("ratio", "spike")
                or (self.aggregate in ("count", "rate") and self.rises)
            )
        )

    @property
    def of_in_groups(self) -> bool:
        """`of` (ratio) reads only regex groups: no event needs to be built."""
        return all(mt.name in self.groups for mt in self.rule.of)

    @property
    def keyed(self) -> bool:
        """count, rate or distinct keyed by regex groups only, nothing to filter, a threshold
        the batch can only cross upwards: a batch's matches are gathered per key and each
        key updated and evaluated once."""
        return (
            (
                self.aggregate in ("count", "rate")
                or (self.aggregate == "distinct" and self.field_in_groups)
            )
            and self.rises
            and bool(self.rule.by)
            and (self.plain or self.keyable)
            and self.match is not None
            and all(b in self.groups for b in self.rule.by)
        )


def facts(rule: Rule) -> Facts:
    sel = rule.logs
    assert sel is not None
    match = sel.match
    if match is None:
        why = "no regex: every line is judged by its fields"
    else:
        why = literal_or_why(match)[1] if sel.literal is None else ""
    # the pattern confined to one line (`[^"]` as `[^\n"]`: the same matches in a line), as
    # a batch pattern: a search over the joined batch finds each line's matches
    one_line = line_confined(match) if match is not None else None
    th = rule.threshold
    groups = match.groupindex if match is not None else {}
    # a `where` on a field (not a group, not `source`, which an event always has) that the
    # empty value passes: on a batch without fields every line passes it
    where_ok = all(
        mt.name not in groups and mt.name != "source" and value_matches(mt, "") for mt in sel.where
    )
    return Facts(
        rule=rule,
        match=match,
        groups=match.groupindex if match is not None else {},
        literal=sel.literal,
        no_literal=why,
        batch=batch_pattern(match) if match is not None else None,
        one_line=one_line,
        one_batch=batch_pattern(one_line) if one_line is not None else None,
        # weight and connection state are counted line by line (LogRule.observe)
        plain=not sel.where and sel.exclude is None and not (rule.weight or rule.connection),
        rises=th is not None and th.op in (">", ">="),
        keyable=where_ok and not rule.connection and (not rule.weight or rule.weight in groups),
        fields_where=bool(sel.where),
        where_empty_ok=where_ok,
    )


class Plan:
    """How a rule reads a batch given as text: a frozen object whose type names the strategy
    and whose fields are what it runs. A subclass is a frozen dataclass with `choose` (its
    plan for a rule, or None when it cannot serve it) and `run`."""

    __slots__ = ()
    # False: the plan reads lines, not the text (it runs on a batch without text too)
    needs_text: ClassVar[bool] = True
    # True: `run` reads only lines holding one of the literals it searches for, and does
    # nothing else, so a pass that knows none is there may leave it out (`scan.feed`)
    only_its_lines: ClassVar[bool] = False

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        """This strategy's plan for the rule, or None. `then()` is the plan the strategies
        after this one would choose (for a plan that names what runs when it cannot)."""
        raise NotImplementedError

    def run(self, r: LogRule, p: Pass) -> None:
        """The rule's pass over the batch (its text is there unless `needs_text` is False)."""
        raise NotImplementedError

    def searched(self) -> tuple[str, ...]:
        """The literals `run` searches the batch for with `first` or `line_starts`."""
        return ()

    @property
    def label(self) -> str:
        """The strategy's name (with what it falls back to, for a plan that has one)."""
        return type(self).__name__


def each_line(r: LogRule, p: Pass, literal: str | None) -> None:
    """Every line holding `literal` (every line when None) judged on its own: the path of a
    batch without text, and the reference every plan agrees with."""
    batch, now, out = p.batch, p.now, p.out  # (events built only for the fields a rule reads)
    bucket = r.bucket(now)
    if literal is None:
        for idx, line in enumerate(batch.lines):
            r.observe(batch, idx, line, now, bucket, out)
        return
    for idx, line in enumerate(batch.lines):
        if literal in line:
            r.observe(batch, idx, line, now, bucket, out)


# a plan scans the batch for its literal rather than take the lines the pass found holding it
# (Pass.starts) when they are more than one in SPARSE characters: reading a line's match or
# index costs about as much as a scan of 5,000 characters for the literal
SPARSE = 5000


def few_lines(p: Pass, literal: str | None, text: str) -> list[int] | None:
    """The starts of the lines holding `literal`, where the pass found them (Pass.starts) and
    they are few (SPARSE); None when the plan had better scan the text itself."""
    starts = p.starts.get(literal) if literal is not None else None
    return starts if starts is not None and len(starts) * SPARSE < len(text) else None


def first(literal: str, rare: str, text: str, absent: frozenset[str] = frozenset()) -> int:
    """Where `literal` first occurs in the text, or -1. A text that lacks one of the
    literal's rarest characters (`rare`) is ruled out by memchr, without searching for it,
    and one known to lack it (`absent`: Pass.absent) at once."""
    if literal in absent:
        return -1
    for c in rare:
        if c not in text:
            return -1
    return text.find(literal)


_LINE_STARTS = object()  # Pass.shared's key for line_number's list
_NEWLINE = re.compile(SEP)


def line_number(p: Pass, text: str, offset: int) -> int:
    """The index of the line of the pass's text that holds `offset`, by bisecting the lines'
    starts (found once a pass: plans that know their lines' starts, Pass.starts, read many
    lines' indices without counting the newlines before each)."""
    starts = p.shared.get(_LINE_STARTS)
    if starts is None:
        starts = p.shared[_LINE_STARTS] = [0, *(m.end() for m in _NEWLINE.finditer(text))]
    return bisect_right(starts, offset) - 1
