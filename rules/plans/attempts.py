"""`AttemptScan`: a keyed count rule with `attempts` (rules/connections.py `AttemptSpec`,
builtin:sshd's SSHBruteForce) whose matches each hold one of a few literals. As
`KeyedAnyGated` (rules/plans/keyedany.py) each line holding one is searched in place and the
matches gathered per key in C; a match where one of the `attempts` address groups took part
(its key group did not) is judged by the rule's connection state with the match in hand
(`LogRule.attempt`), in order, instead of being searched again by `LogRule.observe`.
A literal that only lines both `ends` and `other_user` hold (builtin:sshd's `Accepted `,
found by pruning those alternatives from the regex's parse tree) finds lines that count
nothing while no connection has state: they are searched only from the line that gives
one state on. Chosen only for a rule with `attempts`; like the keyed plans it is wrapped in
`Fieldless` when the rule has a `where` (plans.plan_for)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alerter.rules.plans.anyliteral import line_starts, tree_literals
from alerter.rules.plans.base import SEP, Facts, Pass, Plan
from alerter.rules.plans.keyed import Keys, gather_kept
from alerter.rules.plans.keyedany import KeyedAnyGated
from alerter.rules.prefilter import NotParsed, parse, rare_chars

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


@dataclass(frozen=True, slots=True)
class AttemptScan(Plan):
    pattern: re.Pattern[str]  # the rule's regex for a line of the batch, searched in place
    literals: tuple[str, ...]
    rare: tuple[str, ...]
    keys: Keys
    address: tuple[int, ...]  # the `attempts` address groups
    # literals only lines that are `ends` and `other_user` at once hold (builtin:sshd's
    # `Accepted `): while no connection has state, such a line is idle (not even searched)
    idle_literals: tuple[str, ...] = ()
    idle_rare: tuple[str, ...] = ()

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        spec = f.rule.attempts
        if spec is None:
            return None
        inner = KeyedAnyGated.choose(f, then)
        if not isinstance(inner, KeyedAnyGated):
            return None
        groups = tuple(f.groups[g] for g in spec.address)
        idle = {f.groups[g] for g in spec.ends if g in spec.other_user}
        lits = _literals_without(f.match, idle) if idle and f.match is not None else None
        main = tuple(x for x in inner.literals if lits is not None and x in lits)
        if lits is None or not lits <= set(inner.literals) or not main:
            return cls(inner.pattern, inner.literals, inner.rare, inner.keys, groups)
        rest = tuple(x for x in inner.literals if x not in lits)
        return cls(
            inner.pattern,
            main,
            tuple(map(rare_chars, main)),
            inner.keys,
            groups,
            rest,
            tuple(map(rare_chars, rest)),
        )

    @property
    def label(self) -> str:
        idle = f" + {len(self.idle_literals)} idle" if self.idle_literals else ""
        return f"AttemptScan({len(self.literals)}{idle})"

    def searched(self) -> tuple[str, ...]:
        return (*self.literals, *self.idle_literals)

    def run(self, r: LogRule, p: Pass) -> None:
        batch = p.batch
        text = batch.text
        assert text is not None
        attempts = r.attempts
        assert attempts is not None
        starts = line_starts(text, self.literals, self.rare, p.absent, p.starts)
        # the lines only an idle literal finds are read from where a connection has state
        idle = bool(self.idle_literals)
        if idle and attempts:
            starts = self._with_idle(text, starts, -1, p)
            idle = False
        if not starts:
            return
        find, count = text.find, text.count
        search, size, now = self.pattern.search, len(text), p.now
        keyed_group, address = self.keys.groups[0], self.address
        # The judged lines are judged first (the connection state reads and writes only
        # them, in order); the keyed matches between two judged lines that count are
        # gathered as one run, before the judged line: each key's lines are counted in the
        # batch's order (its examples too). A judged line that can neither count nor change
        # the state (a login where its connection named no user) is skipped unjudged.
        runs: list[list[re.Match[str]]] = [[]]
        counted: list[tuple[str, int, str]] = []  # (address, events, line)
        idx = last = 0
        i = 0
        while i < len(starts):
            at = starts[i]
            i += 1
            end = find(SEP, at)
            if end < 0:
                end = size
            m = search(text, at, end)
            if m is None:
                continue
            if m.group(keyed_group) is not None or all(m.group(g) is None for g in address):
                runs[-1].append(m)
                continue
            idx += count(SEP, last, at)
            last = at
            line = text[at:end]
            got = r.attempt(batch, idx, m, now, line)
            if got is not None:
                counted.append((*got, line))
                runs.append([])
            if idle and attempts:  # the first state: the idle lines after this one count
                starts, i, idle = self._with_idle(text, starts[i:], at, p), 0, False
        bucket = r.bucket(now)
        for i, run in enumerate(runs):
            gather_kept(self.keys, r, run, p)
            if i < len(counted):
                r.count_for(*counted[i], now, bucket, p.out)

    def _with_idle(self, text: str, starts: list[int], after: int, p: Pass) -> list[int]:
        """`starts` and the starts of the lines after `after` holding an idle literal."""
        idle = line_starts(text, self.idle_literals, self.idle_rare, p.absent, p.starts)
        more = [x for x in idle if x > after]
        return sorted(set(starts).union(more)) if more else starts


def _literals_without(pattern: re.Pattern[str], gone: set[int]) -> frozenset[str] | None:
    """The literals one of which every match holds where none of the `gone` groups takes
    part (rules/plans/anyliteral.py's reading of the tree, with the alternatives holding
    those groups removed), or None."""
    try:
        tree = parse(pattern)
    except NotParsed:
        return None
    pruned = _prune(tree, gone)
    return tree_literals(pruned) if pruned is not None else None


def _prune(items: list[Any], gone: set[int]) -> list[Any] | None:
    """The parse tree without the alternatives that hold a `gone` group; None when every
    match must pass through one."""
    out: list[Any] = []
    for op, arg in items:
        name = str(op)
        if name == "SUBPATTERN":
            if arg[0] in gone:
                return None
            sub = _prune(list(arg[3]), gone)
            if sub is None:
                return None
            out.append((op, (arg[0], arg[1], arg[2], sub)))
        elif name == "BRANCH":
            alts = [a for a in (_prune(list(alt), gone) for alt in arg[1]) if a is not None]
            if not alts:
                return None
            out.append((op, (arg[0], alts)))
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            sub = _prune(list(arg[2]), gone)
            if sub is None:
                if arg[0] >= 1:
                    return None
                continue  # an optional part that cannot match: left out
            out.append((op, (arg[0], arg[1], sub)))
        else:
            out.append((op, arg))
    return out
