"""How a batch of one source's lines reaches each log rule, without Python work for a line
that matches nothing.

The batch is searched as one text: the block a collector read, or its lines joined by newlines
once. Each rule reads it by its plan, chosen when the rule was loaded (rules/plans/: a
MULTILINE regex scan, a literal-gated search, counts gathered in C...); a batch whose lines
hold newlines has no text and is judged line by line through each rule's literal. The bulk
plans' passes (rules/bulk.py) are pure functions of the text, which an `offload` may run in
another process while the other rules run here.
`tests/rules/test_batches.py` checks that every plan finds exactly what searching each line
alone finds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from alerter.core.events import LogLines
from alerter.rules.alert import Transition
from alerter.rules.logrules import LogRule
from alerter.rules.metricbulk import AnySummary, MetricDelta, MetricSpec, Spec
from alerter.rules.plans import BulkPlan, Pass, each_line
from alerter.rules.plans.literals import LiteralSet

# An offload takes a batch's text and the bulk passes to run over it (the rules', then the
# log-derived metrics'), starts them elsewhere and returns the call that waits for their
# summaries (None from it: run them here after all), or returns None at once when it does not
# take the batch.
Offload = Callable[[str, tuple[Spec, ...]], Callable[[], list[AnySummary] | None] | None]


class Beside(Protocol):
    """The log-derived metrics' pass over a batch (rules/logmetrics.BatchPass): its bulk
    passes, and the call that adds the batch given their summaries (None: all run there)."""

    batch: LogLines
    specs: tuple[MetricSpec, ...]

    def __call__(self, summaries: Sequence[AnySummary] | None = None) -> None: ...


def feed(
    rules: Sequence[LogRule],
    batch: LogLines,
    now: float,
    out: list[Transition],
    errors: dict[str, str],
    offload: Offload | None = None,
    beside: Beside | None = None,
    absent: frozenset[str] = frozenset(),
    literals: LiteralSet | None = None,
) -> None:
    """Feed one source's batch to its rules; a rule that raises is recorded in `errors`.
    The batch is searched as its text (the block a collector read, or its lines joined once,
    unless a line holds a newline); its lines are split, and its events built (each line
    parsed), only for the lines a rule matched. `offload` may run the bulk rules' passes
    elsewhere while the other rules run here; `beside` (the log-derived metrics' pass, which
    guards itself) runs here once the offloaded passes have started, its own bulk passes
    (`beside.specs`, when it reads this very batch) offloaded with the rules'. `absent`: the
    literals of the rules' plans the batch does not hold (rules/plans/literals.py);
    `literals`, the source's, may find the lines holding each literal at once (`starts`)."""
    text = batch.text if literals is not None and literals.indexes else None
    starts = literals.starts(text, absent) if text is not None and literals is not None else None
    p = Pass(batch, now, out, absent=absent, starts={} if starts is None else starts)
    later: list[tuple[LogRule, BulkPlan]] = []
    wait = None
    extra = beside.specs if beside is not None and beside.batch is batch else ()
    if offload is not None:
        bulk = [(r, r.plan) for r in rules if isinstance(r.plan, BulkPlan)]
        text = batch.text if bulk or extra else None
        if text is not None:  # (a pass cheaper here than handed over: run with the others)
            bulk = [(r, plan) for r, plan in bulk if not plan.cheap_here(p, text)]
            if not bulk and not extra:
                text = None
        if text is not None:
            try:
                wait = offload(text, (*(plan.spec for _, plan in bulk), *extra))
            except Exception:  # the offload's own failure: the passes run here
                wait = None
            if wait is not None:
                later = bulk
    if beside is not None and (wait is None or not extra):
        beside()
        beside = None
    offloaded = {id(r) for r, _ in later}
    for r in rules:
        if id(r) in offloaded or (starts is not None and _none_of_its_lines(r, starts, absent)):
            continue
        _guarded(r, p, errors)
    if wait is not None:
        summaries = _summaries(wait, len(later) + len(extra))
        if beside is not None:  # the metrics' passes ran there (None: they run here)
            beside(summaries[len(later) :] if summaries is not None else None)
        for i, (r, plan) in enumerate(later):
            try:
                s = summaries[i] if summaries is not None else None
                if s is not None and not isinstance(s, MetricDelta) and plan.take(r, s, p):
                    continue
            except Exception as e:
                errors[r.rule.ident] = f"{type(e).__name__}: {e}"
                continue
            _guarded(r, p, errors)


def _none_of_its_lines(r: LogRule, starts: dict[str, list[int]], absent: frozenset[str]) -> bool:
    """Whether the pass knows that the text holds none of the literals the rule's plan reads
    its lines by, and the plan does nothing else (a rule of hundreds, each with its own)."""
    plan = r.plan
    if not plan.only_its_lines:
        return False
    lits = plan.searched()
    return bool(lits) and all(w in absent or not starts.get(w, True) for w in lits)


def _summaries(wait: Callable[[], list[AnySummary] | None], n: int) -> list[AnySummary] | None:
    """The offloaded passes' n summaries, or None: they run here (the offload failed, or
    answered with other than one summary a pass)."""
    try:
        summaries = wait()
    except Exception:  # the offload's own failure
        return None
    return summaries if type(summaries) is list and len(summaries) == n else None


def _guarded(r: LogRule, p: Pass, errors: dict[str, str]) -> None:
    """One rule's pass over the batch, by its plan (line by line when the batch has no text
    and the plan needs it); a bug in one rule must not stop the others."""
    try:
        plan = r.plan
        if plan.needs_text and p.batch.text is None:
            each_line(r, p, r.literal)
        else:
            plan.run(r, p)
    except Exception as e:
        errors[r.rule.ident] = f"{type(e).__name__}: {e}"
