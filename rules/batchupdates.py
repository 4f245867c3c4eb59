"""What the plans that judge a whole batch at once add to a log rule's windows.

A bulk plan (rules/plans/) counts a batch's matches, or gathers them per key, before any
window is touched; these methods then update each key once and evaluate it (inline, as
`LogRule.observe` does for one line): `observe_counts` and `observe_values` for a rule of one
key, `observe_keys` for a keyed plan. A sweeping rule (alerter.rules.sweep) is told of every
update its inline evaluation does not see (`Sweep.touched`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alerter.rules.alert import Transition
from alerter.rules.keyedwindows import KeyedWindows
from alerter.rules.state import Key
from alerter.rules.windows import EXAMPLE_CHARS, CountWindow, Window


class BatchUpdates(KeyedWindows):
    """The batch updates of a log rule's windows (`LogRule` builds on this class)."""

    def observe_counts(
        self, n: int, hits: int, examples: list[str], now: float, bucket: int, out: list[Transition]
    ) -> None:
        """A batch's matching lines at once, for the counting plans (BulkCount, BulkLines,
        RegexScan of a rule with one key and nothing to filter): n lines matched, `hits` of
        them also matched `of` (ratio)."""
        keys = self.keys
        w = keys.get(())
        if w is None:
            w = keys[()] = self.new_window()
        if self.agg == "ratio":
            w.add_counts(bucket, n, hits)  # type: ignore[attr-defined]  # a RatioWindow
        else:
            w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
        w.examples(examples)
        if self.eager:
            self._evaluate_key((), w, now, out)
        elif self.sweep is not None:
            self.sweep.touched((), w)  # (spike: evaluated at the next tick)

    def observe_values(
        self, xs: list[float], examples: list[str], now: float, out: list[Transition]
    ) -> None:
        """A batch's values of a BulkValues plan (one key), in order."""
        w = self.keys.get(())
        if w is None:
            w = self.keys[()] = self.new_window()
        w.add_many(self.bucket(now), xs)  # type: ignore[attr-defined]  # a QuantileWindow
        w.examples(examples)
        if self.eager:
            self._evaluate_key((), w, now, out)
        elif self.sweep is not None:
            self.sweep.touched((), w)

    def observe_keys(
        self,
        counts: Mapping[Any, int],
        single: bool,
        values: Mapping[Any, list[str]] | None,
        examples: Mapping[Any, list[str]],
        now: float,
        out: list[Transition],
    ) -> None:
        """A batch's matches of a keyed plan (KeyedFindall, KeyedGated), gathered per key (a
        group's value when `single`, else a tuple of them): how many, distinct's values, the
        last lines (newest first). Each key is updated and evaluated once."""
        get, new, to_end = self.keys.get, self.new_window, self.keys.move_to_end
        bucket, first = self.bucket(now), self.first_bucket(now)
        active, cmp, bound = self.table.active, self.cmp, self.bound
        touched = self._touched()
        if cmp is not None and values is None and self.resolves is None:
            self._count_keys(counts, single, examples, now, bucket, first, out, touched)
            return
        for k, n in counts.items():
            key = (k,) if single else k
            ex = examples[k]
            if len(ex) > 1:
                ex.reverse()
            w = get(key)
            if w is None and values is None:  # a new key of a count: its window made full
                w = self._new_count(key, n, ex, bucket)
                if cmp is not None and not cmp(n, bound) and key not in active:
                    if touched is not None:
                        touched(key, w)
                    continue
                self._evaluate_key(key, w, now, out)
                continue
            if w is None:
                w = self.insert_key(key, new())
                w.examples(ex)  # (cut to EXAMPLE_CHARS there)
            else:
                to_end(key)  # the least recently updated key is evicted first
                w.examples(ex)
            if values is None:
                w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
            else:
                for x in values[k]:
                    w.add(bucket, x)
            w.expire(first)
            if cmp is not None and key not in active and not cmp(w.total, bound):  # type: ignore[attr-defined]
                if touched is not None:
                    touched(key, w)
                continue  # a count below its threshold, decided inline
            self._evaluate_key(key, w, now, out)

    def _count_keys(
        self,
        counts: Mapping[Any, int],
        single: bool,
        examples: Mapping[Any, list[str]],
        now: float,
        bucket: int,
        first: int,
        out: list[Transition],
        touched: Callable[[Key, Window], None] | None,
    ) -> None:
        """`observe_keys` of a count rule with a threshold and no `resolve_threshold`, each key
        decided inline in its two common cases (below its threshold and not active: nothing;
        firing and still holding: `AlertTable.still_firing`), `_evaluate_key` only for the
        others: its general path costs more than the update itself in a storm of thousands of
        keys. `first`, the first bucket at the clock, is where `_evaluate_key` would expire
        the window; `touched`, `_touched()`."""
        get, to_end, still_firing = self.keys.get, self.keys.move_to_end, self.table.still_firing
        active, cmp, bound, sweep = self.table.active, self.cmp, self.bound, self.sweep
        assert cmp is not None
        numbers = sweep.numbers if sweep is not None else None
        for k, n in counts.items():
            key = (k,) if single else k
            ex = examples[k]
            if len(ex) > 1:
                ex.reverse()
            w = get(key)
            if w is None:
                w = self._new_count(key, n, ex, bucket)
            else:
                to_end(key)  # the least recently updated key is evicted first
                w.examples(ex)
                w.add(bucket, None, n)  # type: ignore[call-arg]  # a CountWindow
            w.expire(first)
            inst = active.get(key)
            if inst is None:
                if not cmp(w.total, bound):  # type: ignore[attr-defined]
                    if touched is not None:
                        touched(key, w)
                    continue  # below its threshold
            elif inst.state == "firing" and cmp(w.total, bound):  # type: ignore[attr-defined]
                still_firing(inst, float(w.total), w.kept())  # type: ignore[attr-defined]
                if sweep is not None:  # (`Sweep.seen`, written out: a storm's firing keys)
                    w.seq = next(numbers)  # type: ignore[arg-type]
                    d = w.due
                    if d is None or bucket < d:  # (its lines' bucket: its oldest now)
                        sweep.file_oldest(key, w)
                continue
            self._evaluate_key(key, w, now, out)

    def _touched(self) -> Callable[[Key, Window], None] | None:
        """What to tell of a key updated but not evaluated (a count below its threshold,
        decided inline): `Sweep.touched` when the rule's sweep files every key."""
        sweep = self.sweep
        return sweep.touched if sweep is not None and not sweep.quiet else None

    def _new_count(self, key: Any, n: int, ex: list[str], bucket: int) -> CountWindow:
        """A new key's count window, made full: n events in `bucket`, `ex` its examples
        (oldest first)."""
        one = ex[0][:EXAMPLE_CHARS] if len(ex) == 1 else tuple(x[:EXAMPLE_CHARS] for x in ex)
        return self.insert_key(key, CountWindow.of(bucket, n, one))
