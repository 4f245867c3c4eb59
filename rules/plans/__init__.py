"""How each log rule reads a batch: one plan per rule, chosen once when the rule is loaded.

A plan is a frozen object whose type names the strategy and whose fields are what it runs
(patterns derived from the rule's regex, its literal, the groups that key it). `plan_for`
tries the strategies in `STRATEGIES` order, quickest first; the first that can serve the rule
is its plan. `alerter.rules.scan` runs `plan.run(rule, pass_)` for each batch that has a text; a batch
without one (its events hold newlines) is judged line by line through the rule's literal
(`each_line`), which is what every plan finds too (tests/rules/test_batches.py).

    Touch         absent over every line of a source: the batch's last lines, once
    AttemptScan   keyed count with `attempts` (rules/plans/attempts.py): as KeyedAnyGated, and
                  the matches naming their address in an `attempts` group judged by their
                  connection's state with the match in hand
    KeyedFindall  keyed count/rate/distinct, one-line regex starting with a literal: one
                  finditer over the batch, matches counted per key in C
    KeyedAnyGated keyed, each match holding one of a few literals (rules/plans/keyedany.py):
                  each line holding one searched in place, matches counted per key in C
    KeyedGated    keyed, literal-gated: each line holding the literal searched in place
    BulkCount     one key, one-line regex: one findall counts the batch (may run in the
                  scan helper process)
    BulkValues    quantile of a group: one findall gives the values (may run in the helper);
                  names the plan that runs when a value is empty (`fallback`)
    BulkLines     one key, a regex whose matches may span lines: one finditer, spanning
                  matches judged per line
    RegexScan     regex starting with a literal: one MULTILINE search over the batch, each
                  match's line judged on its own
    ConnectionScan  count with connection state, one of a few literals in every match
                  (rules/plans/connscan.py): on a batch without fields a line that only tells
                  its connection's address goes straight to the state, the others judged
    AnyLiteralScan  one of a few literals in every match, each rarer than the one literal
                  every match holds, if any (rules/plans/anyliteral.py): one scan for them,
                  each line holding one judged
    LiteralScan   literal-gated: str.find over the batch, each line holding it judged
    EveryLine     no literal (`why` says why): every line judged on its own

Each strategy is one class in the module of its kind (`lines`, `keyed`, `counts`): its fields,
`choose` (its plan for a rule, or None) and `run`. Adding one is a class and its place in
`STRATEGIES`. A keyed plan chosen for a rule with a `where` on fields (which it skips) is
wrapped in `Fieldless`: it reads only batches without fields. The plan of every shipped pack rule is pinned by tests/rules/test_plans.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from alerter.rules.model import Rule
from alerter.rules.plans.anyliteral import AnyLiteralScan
from alerter.rules.plans.attempts import AttemptScan
from alerter.rules.plans.base import Facts, Pass, Plan, each_line, facts
from alerter.rules.plans.connscan import ConnectionScan
from alerter.rules.plans.counts import BulkCount, BulkLines, BulkPlan, BulkValues
from alerter.rules.plans.keyed import Fieldless, KeyedFindall, KeyedGated
from alerter.rules.plans.keyedany import KeyedAnyGated
from alerter.rules.plans.lines import EveryLine, LiteralScan, RegexScan, Touch

STRATEGIES: tuple[type[Plan], ...] = (
    Touch,
    AttemptScan,
    KeyedFindall,
    KeyedAnyGated,
    KeyedGated,
    BulkCount,
    BulkValues,
    BulkLines,
    RegexScan,
    ConnectionScan,
    AnyLiteralScan,
    LiteralScan,
    EveryLine,  # serves any rule: the last
)

__all__ = [
    "STRATEGIES",
    "AnyLiteralScan",
    "AttemptScan",
    "BulkCount",
    "BulkLines",
    "BulkPlan",
    "BulkValues",
    "ConnectionScan",
    "EveryLine",
    "Facts",
    "Fieldless",
    "KeyedAnyGated",
    "KeyedFindall",
    "KeyedGated",
    "LiteralScan",
    "Pass",
    "Plan",
    "RegexScan",
    "Touch",
    "each_line",
    "plan_for",
]


def plan_for(rule: Rule) -> Plan:
    """The plan of a log rule: the first strategy that can serve it. A keyed plan that skips
    the rule's `where` (on fields a line without fields passes) runs only for batches
    without fields; the others get the plan chosen with the `where` (`Fieldless`)."""
    f = facts(rule)
    plan = _choose(f, STRATEGIES)
    if f.fields_where and isinstance(plan, KEYED):
        names = frozenset(mt.name for mt in rule.logs.where) if rule.logs is not None else ()
        return Fieldless(plan, _choose(replace(f, keyable=False), STRATEGIES), frozenset(names))
    return plan


KEYED = (AttemptScan, KeyedFindall, KeyedAnyGated, KeyedGated)


def _choose(f: Facts, strategies: Sequence[type[Plan]]) -> Plan:
    for i, strategy in enumerate(strategies):
        plan = strategy.choose(f, partial(_choose, f, strategies[i + 1 :]))
        if plan is not None:
            return plan
    raise AssertionError("no strategy serves the rule (EveryLine serves any)")
