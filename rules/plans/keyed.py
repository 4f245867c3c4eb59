"""Plans for count, rate and distinct rules keyed by regex groups: a batch's matches are
gathered per key in C (Counter over the key groups) and each key is updated and evaluated
once (`LogRule.observe_keys`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from alerter.rules.plans.base import SEP, Facts, Pass, Plan, few_lines, first
from alerter.rules.prefilter import bounded_pattern, line_pattern, rare_chars
from alerter.rules.windows import EXAMPLES

if TYPE_CHECKING:
    from alerter.rules.logrules import LogRule


@dataclass(frozen=True, slots=True)
class Keys:
    """Where a match's key is: its groups' numbers (and distinct's value group, else 0)."""

    groups: tuple[int, ...]
    value_group: int
    # (from the two above: itemgetters, which compare by identity)
    key_of: Callable[[re.Match[str]], Any] = field(compare=False)  # a group or tuple of them
    pair_of: Callable[[re.Match[str]], Any] = field(compare=False)  # key + distinct's value
    weight_group: int = 0  # count's `weight` group: a match where it took part is odd
    exclude: re.Pattern[str] | None = None  # the rule's `exclude`: lines it finds count nothing

    @property
    def single(self) -> bool:
        return len(self.groups) == 1

    @staticmethod
    def of(f: Facts) -> Keys:
        groups = tuple(f.groups[b] for b in f.rule.by)
        value = f.groups[f.rule.field or ""] if f.aggregate == "distinct" else 0
        sel = f.rule.logs
        return Keys(
            groups,
            value,
            itemgetter(*groups),
            itemgetter(*groups, value) if value else itemgetter(0),
            f.groups[f.rule.weight] if f.rule.weight else 0,
            sel.exclude if sel is not None else None,
        )

    def kept(self, text: str, ms: list[re.Match[str]]) -> list[re.Match[str]]:
        """The matches whose line `exclude` does not find (all of them without one)."""
        ex = self.exclude
        if ex is None:
            return ms
        find, rfind, size = text.find, text.rfind, len(text)
        out = []
        for m in ms:
            at = m.start()
            end = find(SEP, at)
            if ex.search(text[rfind(SEP, 0, at) + 1 : size if end < 0 else end]) is None:
                out.append(m)
        return out


@dataclass(frozen=True, slots=True)
class KeyedFindall(Plan):
    """One finditer over the batch from the first line holding the literal: the regex's
    matches cannot span lines and it starts with a literal (`pattern` takes the rest of
    each line: one match per line). Where the pass knows the lines holding the literal
    (`Pass.starts`) and they are few, each is searched in place instead (`bounded`, as
    KeyedGated does): a rule of hundreds, each with its own literal, then costs its lines,
    not a scan of the batch."""

    only_its_lines = True

    pattern: re.Pattern[str]
    literal: str | None
    rare: str
    keys: Keys
    bounded: re.Pattern[str] | None = None  # bounded_pattern of the rule's regex

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        if not f.keyed or f.one_batch is None:
            return None
        rx = line_pattern(f.one_batch)
        if rx is None:
            return None
        lit = f.literal
        bounded = bounded_pattern(f.match) if f.match is not None and lit is not None else None
        return cls(
            rx,
            lit,
            rare_chars(lit) if lit is not None else "",
            Keys.of(f),
            bounded if type(bounded) is re.Pattern else None,
        )

    def searched(self) -> tuple[str, ...]:
        return () if self.literal is None else (self.literal,)

    def run(self, r: LogRule, p: Pass) -> None:
        text = p.batch.text
        assert text is not None
        if self.bounded is not None and (starts := few_lines(p, self.literal, text)) is not None:
            gather_kept(self.keys, r, search_lines(self.bounded, text, starts), p)
            return
        pos = first(self.literal, self.rare, text, p.absent) if self.literal is not None else 0
        if pos < 0:
            return  # a C substring search rules out the batch faster than the regex scan
        gather_kept(self.keys, r, list(self.pattern.finditer(text, text.rfind(SEP, 0, pos) + 1)), p)


@dataclass(frozen=True, slots=True)
class KeyedGated(Plan):
    """Each line holding the literal searched in place (`pattern` is the rule's regex for a
    line of the batch, ending at the line's end). The literal's places come from one
    finditer (a tighter loop than str.find for frequent literals)."""

    only_its_lines = True

    pattern: re.Pattern[str]
    literal: str
    literal_rx: re.Pattern[str]
    rare: str
    keys: Keys

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        lit = f.literal
        if not f.keyed or f.match is None or lit is None or "\n" in lit:
            return None
        rx = bounded_pattern(f.match)
        if rx is None:
            return None
        return cls(rx, lit, re.compile(re.escape(lit)), rare_chars(lit), Keys.of(f))

    def searched(self) -> tuple[str, ...]:
        return (self.literal,)

    def run(self, r: LogRule, p: Pass) -> None:
        text = p.batch.text
        assert text is not None
        starts = p.starts.get(self.literal)
        if starts is not None:  # (the pass found the literal's lines)
            gather_kept(self.keys, r, search_lines(self.pattern, text, starts), p)
            return
        pos = first(self.literal, self.rare, text, p.absent)
        if pos < 0:
            return
        find, rfind, search, size = text.find, text.rfind, self.pattern.search, len(text)
        ms = []
        end = -1
        for c in self.literal_rx.finditer(text, pos):
            at = c.start()
            if at < end:
                continue  # the literal again in the line just searched
            end = find(SEP, at)
            if end < 0:
                end = size
            m = search(text, rfind(SEP, 0, at) + 1, end)
            if m is not None:
                ms.append(m)
        gather_kept(self.keys, r, ms, p)


def search_lines(rx: re.Pattern[str], text: str, starts: list[int]) -> list[re.Match[str]]:
    """`rx` (a bounded_pattern) searched in each line of the text that starts at `starts`."""
    find, search, size = text.find, rx.search, len(text)
    ms = []
    for start in starts:
        end = find(SEP, start)
        m = search(text, start, size if end < 0 else end)
        if m is not None:
            ms.append(m)
    return ms


def gather_kept(kp: Keys, r: LogRule, ms: list[re.Match[str]], p: Pass) -> None:
    """`gather` of the matches whose line the rule's `exclude` does not find."""
    text = p.batch.text
    assert text is not None
    if ms:
        ms = kp.kept(text, ms)
    if ms:
        gather(kp, r, ms, p)


def gather(kp: Keys, r: LogRule, ms: list[re.Match[str]], p: Pass) -> None:
    """A keyed rule's matches in one batch (one per line, in order, each ending at its
    line's end): each key is updated and evaluated once, with its last lines as examples.
    Counting is done in C (Counter over the key groups); Python steps only per key and
    back through the batch's last matches for the examples."""
    batch, now, out = p.batch, p.now, p.out
    text = batch.text
    assert text is not None
    key_of, single, value_group = kp.key_of, kp.single, kp.value_group
    keys = list(map(key_of, ms))
    counts = Counter(keys)
    odd = None in counts if single else any(None in k for k in counts)
    if not odd and value_group:
        odd = None in map(itemgetter(value_group), ms)
    if kp.weight_group and (odd or any(map(itemgetter(kp.weight_group), ms))):
        # a line standing for a number of events shares keys with the others: all judged in
        # the batch's order (a key's examples are its last lines)
        bucket = r.bucket(now)
        run: list[re.Match[str]] = []
        for m in ms:
            if _is_odd(kp, m, key_of(m)):
                if run:
                    gather(kp, r, run, p)
                    run = []
                idx = text.count(SEP, 0, m.start())
                r.observe(batch, idx, batch.lines[idx], now, bucket, out)
            else:
                run.append(m)
        if run:
            gather(kp, r, run, p)
        return
    if odd:  # an optional group did not take part: such lines are judged on their own
        good = [m for m, k in zip(ms, keys, strict=True) if not _is_odd(kp, m, k)]
        if good:
            gather(kp, r, good, p)
        bucket = r.bucket(now)
        for m in ms:
            if _is_odd(kp, m, key_of(m)):
                idx = text.count(SEP, 0, m.start())
                r.observe(batch, idx, batch.lines[idx], now, bucket, out)
        return
    # the last EXAMPLES lines of each key (newest first), walking back from the batch's end
    examples: dict[Any, list[str]] = {}
    left = sum(map(min, counts.values(), repeat(EXAMPLES)))
    rfind = text.rfind
    i = len(ms)
    if left == i:  # every match is one of its key's last lines (most keys: once a batch)
        for k, m in zip(reversed(keys), reversed(ms), strict=True):
            line = text[rfind(SEP, 0, m.start()) + 1 : m.end()]
            e = examples.get(k)
            if e is None:
                examples[k] = [line]
            else:
                e.append(line)
        left = 0
    while left:
        i -= 1
        k = keys[i]
        e = examples.get(k)
        if e is None:
            m = ms[i]
            examples[k] = [text[rfind(SEP, 0, m.start()) + 1 : m.end()]]
        elif len(e) < EXAMPLES:
            m = ms[i]
            e.append(text[rfind(SEP, 0, m.start()) + 1 : m.end()])
        else:
            continue
        left -= 1
    values: dict[Any, list[str]] | None = None
    if value_group:  # distinct: each key's distinct values, in order of appearance
        values = {}
        for pair in dict.fromkeys(map(kp.pair_of, ms)):
            k = pair[0] if single else pair[:-1]
            v = values.get(k)
            if v is None:
                values[k] = [pair[-1]]
            else:
                v.append(pair[-1])
    r.observe_keys(counts, single, values, examples, now, out)


def _is_odd(kp: Keys, m: re.Match[str], k: Any) -> bool:
    if (k is None) if kp.single else (None in k):
        return True
    if kp.weight_group and m[kp.weight_group] is not None:
        return True  # the line stands for a number of events: LogRule.observe weighs it
    return bool(kp.value_group) and m[kp.value_group] is None


@dataclass(frozen=True, slots=True)
class Fieldless(Plan):
    """A keyed rule whose `where` reads fields that a line without them passes: a batch
    whose lines cannot have them (`LogLines.field_names`: the `none` parser's lines have no
    fields, the syslog parser's a fixed set without journald's `_UID`) is read by the keyed
    plan (`fast`), which skips the `where`; any other batch (the journal's entries, a json
    log) by `slow`, the plan the rule has with its `where` (each line judged by
    `LogRule.observe`)."""

    fast: Plan
    slow: Plan
    where_names: frozenset[str]  # the fields the `where` reads

    @classmethod
    def choose(cls, f: Facts, then: Callable[[], Plan]) -> Plan | None:
        return None  # made by plans.plan_for around a keyed plan

    @property
    def label(self) -> str:
        return f"Fieldless({self.fast.label}, else {self.slow.label})"

    def searched(self) -> tuple[str, ...]:
        return (*self.fast.searched(), *self.slow.searched())

    def run(self, r: LogRule, p: Pass) -> None:
        names = p.batch.field_names
        fast = names is not None and names.isdisjoint(self.where_names)
        (self.fast if fast else self.slow).run(r, p)
