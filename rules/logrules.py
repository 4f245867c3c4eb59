"""A log rule at run time: which events it selects and what each adds to which key's window.

`observe` runs for every line that passed the rule's literal pre-filter: it applies `match`,
`exclude` and `where`, computes the `by` key and the value the aggregate needs, adds it to the
key's window and evaluates that key at once, so the line that crosses the threshold fires the
alert in its own processing. The constructor also decides which whole-batch paths the engine
may take for the rule (`bulk`, `count_in_c`, `values_match`, `keyed`, `touches`), served by
`observe_counts`, `observe_values`, `observe_keys` and `touch`. The windows per key, their
evaluation (inline and periodic) and the snapshot are `rules.keyedwindows.KeyedWindows`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

from rules.alert import Transition
from rules.bulk import BulkSpec
from rules.keyedwindows import KeyedWindows
from rules.matchers import value_matches as _test
from rules.model import Rule
from rules.prefilter import (
    batch_pattern,
    bounded_pattern,
    line_confined,
    line_pattern,
    match_shape,
    rare_chars,
)
from rules.state import AlertTable, Key
from rules.windows import EXAMPLES, AbsentWindow, CountWindow

# what observe() extracts from an event, by aggregate
_COUNT, _NUMERIC, _TEXT, _RATIO, _ABSENT, _NEW_VALUE = range(6)
_KINDS = {
    "sum": _NUMERIC,
    "avg": _NUMERIC,
    "min": _NUMERIC,
    "max": _NUMERIC,
    "last": _NUMERIC,
    "quantile": _NUMERIC,
    "distinct": _TEXT,
    "change": _TEXT,
    "ratio": _RATIO,
    "absent": _ABSENT,
    "new_value": _NEW_VALUE,
}


class LogEventLike(Protocol):
    """What the engine reads of a log event (collectors.events.LogEvent has it)."""

    @property
    def time(self) -> float: ...
    @property
    def source(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def fields(self) -> Mapping[str, str]: ...


def _lookup(
    name: str, in_groups: bool, m: re.Match[str] | None, events: Sequence[LogEventLike], idx: int
) -> str:
    """A label value: the regex group of that name, else the parsed field of events[idx]
    (built only now: a collector's batch builds events on access), else ''."""
    if in_groups and m is not None:
        v = m.group(name)
        if v is not None:
            return v
    ev = events[idx]
    v = ev.fields.get(name)
    if v is not None:
        return v
    return ev.source if name == "source" else ""


class LogRule(KeyedWindows):
    def __init__(self, rule: Rule, table: AlertTable) -> None:
        assert rule.logs is not None
        super().__init__(rule, table)
        sel = rule.logs
        self.sources = frozenset(sel.sources)
        self.literal = sel.literal
        self.batch_match = batch_pattern(sel.match) if sel.match is not None else None
        self.match = sel.match
        self.exclude = sel.exclude
        groups = sel.match.groupindex if sel.match is not None else {}
        self.where = tuple((mt, mt.name in groups) for mt in sel.where)
        self.of = tuple((mt, mt.name in groups) for mt in rule.of)
        self.by = tuple((b, b in groups) for b in rule.by)
        self.field_name = rule.field or ""
        self.field_in_groups = self.field_name in groups
        self.kind = _KINDS.get(rule.aggregate, _COUNT)
        self.ratio = self.kind == _RATIO
        self.by_group = rule.by[0] if len(rule.by) == 1 and rule.by[0] in groups else ""
        # a threshold a batch of events can only cross upwards (counts only grow within one)
        th_up = rule.threshold is not None and rule.threshold.op in (">", ">=")
        # one key and nothing to filter after the match: the engine hands over whole batches
        # (a ratio or spike is judged on the batch as a whole)
        self.bulk = (
            not rule.by
            and not sel.where
            and sel.exclude is None
            and (
                rule.aggregate in ("ratio", "spike")
                or (rule.aggregate in ("count", "rate") and th_up)
            )
        )
        # the pattern confined to one line (`[^"]` as `[^\n"]`: the same matches in a line),
        # as a batch pattern: a search over the joined batch finds each line's matches
        one_line = line_confined(sel.match) if sel.match is not None else None
        one_batch = batch_pattern(one_line) if one_line is not None else None
        # a bulk rule whose lines can be counted by one finditer over the batch: `of` (ratio)
        # reads only regex groups, so no event needs to be built
        self.line_match: re.Pattern[str] | None = None
        if self.bulk and all(g for _, g in self.of):
            batch = one_batch or self.batch_match
            self.line_match = line_pattern(batch) if batch is not None else None
        self._of_cache: dict[tuple[str, ...], bool] = {}
        # ...and when no match can span two lines, counted without a Python step per line
        self.count_in_c = self.line_match is not None and one_batch is not None
        self.of_groups = (
            tuple((mt, groups[mt.name] - 1) for mt, _ in self.of) if self.count_in_c else ()
        )
        # rules counting the same places (patterns that differ only in their groups) share
        # one findall per batch
        self.shape = match_shape(one_line) if self.count_in_c and one_line is not None else None
        # quantile of a regex group, one key, nothing to filter, evaluated only at ticks: a
        # batch's values come from one findall (`value_index`: the field's place in its tuples)
        self.values_match = (
            line_pattern(one_batch)
            if rule.aggregate == "quantile"
            and self.field_in_groups
            and not rule.by
            and not sel.where
            and sel.exclude is None
            and one_batch is not None
            else None
        )
        self.value_index = groups[self.field_name] - 1 if self.values_match is not None else 0
        # count, rate or distinct keyed by regex groups only, nothing to filter, a threshold
        # the batch can only cross upwards: the engine gathers a batch's matches per key and
        # updates and evaluates each key once
        self.keyed = (
            (
                rule.aggregate in ("count", "rate")
                or (rule.aggregate == "distinct" and self.field_in_groups)
            )
            and th_up
            and bool(rule.by)
            and not sel.where
            and sel.exclude is None
            and sel.match is not None
            and all(g for _, g in self.by)
        )
        self.key_groups = tuple(groups[b] for b in rule.by) if self.keyed else ()
        self.value_group = groups[self.field_name] if self.keyed and self.kind == _TEXT else 0
        # a match's key (a group's value, or a tuple of them), and key + distinct's value
        self.key_of: Callable[[re.Match[str]], Any] = (
            itemgetter(*self.key_groups) if self.keyed else itemgetter(0)
        )
        self.pair_of: Callable[[re.Match[str]], Any] = (
            itemgetter(*self.key_groups, self.value_group) if self.value_group else itemgetter(0)
        )
        # ...with one finditer over the batch when its pattern starts with a literal
        self.keyed_match = line_pattern(one_batch) if self.keyed and one_batch is not None else None
        # ...or else each line holding the literal is searched in place
        self.bounded = bounded_pattern(sel.match) if self.keyed and sel.match is not None else None
        self.literal_rx = (
            re.compile(re.escape(self.literal))
            if self.literal is not None and "\n" not in self.literal
            else None
        )
        # a batch lacking one of these characters cannot hold the literal (a C memchr)
        self.rare = rare_chars(self.literal) if self.literal is not None else ""
        # a count_in_c or values_match rule's batch pass as plain values: it may run elsewhere
        bulk = self.line_match if self.count_in_c else self.values_match
        self.bulk_spec = (
            BulkSpec(
                values=not self.count_in_c,
                pattern=bulk,
                first=self.batch_match if not self.count_in_c else None,
                shape=self.shape,
                ratio=self.ratio,
                of_groups=self.of_groups,
                match=sel.match,
                literal=self.literal if self.literal_rx is not None else None,
                value_index=self.value_index,
            )
            if bulk is not None and sel.match is not None
            else None
        )
        # absent over every line of a source: the engine calls touch() once per batch
        self.touches = (
            rule.aggregate == "absent"
            and sel.match is None
            and not sel.where
            and sel.exclude is None
            and rule.by in ((), ("source",))
        )

    # --- per event ------------------------------------------------------------------------

    def observe(
        self,
        events: Sequence[LogEventLike],
        idx: int,
        line: str,
        now: float,
        bucket: int,
        out: list[Transition],
        m: re.Match[str] | None = None,
    ) -> None:
        """events[idx] (its line: `line`) passed the pre-filter; `bucket` is
        `self.bucket(now)`; `m` the match when the caller already searched."""
        if m is None and self.match is not None:
            m = self.match.search(line)
            if m is None:
                return
        if self.exclude is not None and self.exclude.search(line) is not None:
            return
        for mt, in_groups in self.where:
            if not _test(mt, _lookup(mt.name, in_groups, m, events, idx)):
                return
        by = self.by
        if not by:
            key: Key = ()
        elif len(by) == 1:
            key = (
                (m.group(self.by_group) if m is not None and self.by_group else None)
                or _lookup(by[0][0], by[0][1], m, events, idx),
            )
        else:
            key = tuple([_lookup(b, g, m, events, idx) for b, g in by])
        kind = self.kind
        x: Any = None
        if kind == _NUMERIC:
            try:
                x = float(_lookup(self.field_name, self.field_in_groups, m, events, idx))
            except ValueError:
                return  # not a number: the event does not count
        elif kind == _TEXT:
            x = _lookup(self.field_name, self.field_in_groups, m, events, idx)
        elif kind == _RATIO:
            x = True
            for mt, g in self.of:
                if not _test(mt, _lookup(mt.name, g, m, events, idx)):
                    x = False
                    break
        elif kind == _ABSENT:
            x = now
        elif kind == _NEW_VALUE:
            self._new_value(
                key, _lookup(self.field_name, self.field_in_groups, m, events, idx), line, now, out
            )
            return
        keys = self.keys
        w = keys.get(key)
        if w is None:
            w = keys[key] = self.new_window()
            if len(keys) > self.max_keys:
                self._evict()
        else:
            keys.move_to_end(key)  # the least recently updated key is evicted first
        w.add(bucket, x)
        ex = w.ex
        w.ex = (*ex[1:], line) if len(ex) >= EXAMPLES else (*ex, line)
        if self.eager:
            self._evaluate_key(key, w, now, out)

    def of_ok(
        self, events: Sequence[LogEventLike], idx: int, line: str, m: re.Match[str] | None
    ) -> bool:
        """ratio: does a selected event also match `of`?"""
        if m is None and self.match is not None:
            m = self.match.search(line)
        for mt, g in self.of:  # noqa: SIM110 - a loop, not all(genexpr): no allocation per line
            if not _test(mt, _lookup(mt.name, g, m, events, idx)):
                return False
        return True

    def of_ok_groups(self, m: re.Match[str]) -> bool:
        """ratio, when every `of` matcher reads a regex group: cached per group values."""
        key = tuple([m.group(mt.name) or "" for mt, _ in self.of])
        ok = self._of_cache.get(key)
        if ok is None:
            if len(self._of_cache) > 4096:
                self._of_cache.clear()
            ok = self._of_cache[key] = all(
                _test(mt, v) for (mt, _), v in zip(self.of, key, strict=True)
            )
        return ok

    def observe_counts(
        self, n: int, hits: int, examples: list[str], now: float, bucket: int, out: list[Transition]
    ) -> None:
        """A batch's matching lines at once, for a `bulk` rule (one key, nothing
        to filter): n lines matched, `hits` of them also matched `of` (ratio)."""
        keys = self.keys
        w = keys.get(())
        if w is None:
            w = keys[()] = self.new_window()
        if self.kind == _COUNT:
            w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
        else:
            w.add_counts(bucket, n, hits)  # type: ignore[attr-defined]  # a RatioWindow
        w.examples(examples)
        if self.eager:
            self._evaluate_key((), w, now, out)

    def observe_values(
        self, xs: list[float], examples: list[str], now: float, out: list[Transition]
    ) -> None:
        """A batch's values of a `values_match` rule (one key), in order."""
        w = self.keys.get(())
        if w is None:
            w = self.keys[()] = self.new_window()
        w.add_many(self.bucket(now), xs)  # type: ignore[attr-defined]  # a QuantileWindow
        w.examples(examples)
        if self.eager:
            self._evaluate_key((), w, now, out)

    def observe_keys(
        self,
        counts: Mapping[Any, int],
        single: bool,
        values: Mapping[Any, list[str]] | None,
        examples: Mapping[Any, list[str]],
        now: float,
        out: list[Transition],
    ) -> None:
        """A batch's matches of a `keyed` rule, gathered per key (a group's value when
        `single`, else a tuple of them): how many, distinct's values, the last lines (newest
        first). Each key is updated and evaluated once."""
        keys, get, new, to_end = self.keys, self.keys.get, self.new_window, self.keys.move_to_end
        bucket, first = self.bucket(now), self.first_bucket(now)
        active, cmp, bound, max_keys = self.table.active, self.cmp, self.bound, self.max_keys
        for k, n in counts.items():
            key = (k,) if single else k
            ex = examples[k]
            if len(ex) > 1:
                ex.reverse()
            w = get(key)
            if w is None and values is None:  # a new key of a count: its window made full
                w = keys[key] = CountWindow.of(bucket, n, tuple(ex))
                if len(keys) > max_keys:
                    self._evict()
                if cmp is not None and not cmp(n, bound) and key not in active:
                    continue
                self._evaluate_key(key, w, now, out)
                continue
            if w is None:
                w = keys[key] = new()
                if len(keys) > max_keys:
                    self._evict()
                w.ex = tuple(ex)
            else:
                to_end(key)  # the least recently updated key is evicted first
                w.examples(ex)
            if values is None:
                w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
            else:
                for x in values[k]:
                    w.add(bucket, x)
            if w.b[0] < first:  # type: ignore[attr-defined]  # a Count or DistinctWindow
                w.expire(first)
            if cmp is not None and key not in active and not cmp(w.total, bound):  # type: ignore[attr-defined]
                continue  # a count below its threshold, decided inline
            self._evaluate_key(key, w, now, out)

    def touch(self, source: str, last: list[str], now: float, out: list[Transition]) -> None:
        """`absent` over every line of a source: only the batch's last lines matter (`last`)."""
        key = (source,) if self.by else ()
        w = self.keys.get(key)
        if w is None:
            w = self.keys[key] = AbsentWindow(now)
        else:
            self.keys.move_to_end(key)
        w.add(0, now)
        w.examples(last)
        if self.table.active:
            self._evaluate_key(key, w, now, out)
