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

from alerter.rules.alert import Transition
from alerter.rules.bulk import BulkSpec, Summary
from alerter.rules.events import LogLines
from alerter.rules.logrules import LogRule
from alerter.rules.plans import BulkPlan, Pass, each_line

# An offload takes a batch's text and the bulk passes to run over it, starts them elsewhere and
# returns the call that waits for their summaries (None from it: run them here after all), or
# returns None at once when it does not take the batch.
Offload = Callable[[str, tuple[BulkSpec, ...]], Callable[[], list[Summary] | None] | None]


def feed(
    rules: Sequence[LogRule],
    batch: LogLines,
    now: float,
    out: list[Transition],
    errors: dict[str, str],
    offload: Offload | None = None,
    beside: Callable[[], None] | None = None,
) -> None:
    """Feed one source's batch to its rules; a rule that raises is recorded in `errors`.
    The batch is searched as its text (the block a collector read, or its lines joined once,
    unless a line holds a newline); its lines are split, and its events built (each line
    parsed), only for the lines a rule matched. `offload` may run the bulk rules' passes
    elsewhere while the other rules run here; `beside` (the log-derived metrics' pass, which
    guards itself) runs here once the offloaded passes have started."""
    p = Pass(batch, now, out)
    later: list[tuple[LogRule, BulkPlan]] = []
    wait = None
    if offload is not None:
        bulk = [(r, r.plan) for r in rules if isinstance(r.plan, BulkPlan)]
        text = batch.text if bulk else None
        if text is not None:
            try:
                wait = offload(text, tuple(plan.spec for _, plan in bulk))
            except Exception:  # the offload's own failure: the passes run here
                wait = None
            if wait is not None:
                later = bulk
    if beside is not None:
        beside()
    for r in rules:
        if not later or not isinstance(r.plan, BulkPlan):  # (`later`: every bulk rule)
            _guarded(r, p, errors)
    if wait is not None:
        summaries = _summaries(wait, len(later))
        for i, (r, plan) in enumerate(later):
            try:
                if summaries is not None and plan.take(r, summaries[i], p):
                    continue
            except Exception as e:
                errors[r.rule.ident] = f"{type(e).__name__}: {e}"
                continue
            _guarded(r, p, errors)


def _summaries(wait: Callable[[], list[Summary] | None], n: int) -> list[Summary] | None:
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
