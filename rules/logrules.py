"""A log rule at run time: which events it selects and what each adds to which key's window.

`observe` runs for every line that passed the rule's literal pre-filter: it applies `match`,
`exclude` and `where`, computes the `by` key and the value the aggregate needs, adds it to the
key's window and evaluates that key at once, so the line that crosses the threshold fires the
alert in its own processing. How the rule reads a whole batch is its `plan`, chosen once at
load (rules/plans/); the plans that judge a batch at once call `observe_counts`,
`observe_values`, `observe_keys` (alerter.rules.batchupdates) and `touch`. The windows per key,
their evaluation (inline and periodic) and the snapshot are
`alerter.rules.keyedwindows.KeyedWindows`.
"""

from __future__ import annotations

import re
from typing import Any

from alerter.core.events import LogLines
from alerter.rules.alert import Transition
from alerter.rules.batchupdates import BatchUpdates
from alerter.rules.bulk import BulkSpec
from alerter.rules.connections import Attempts, Connections, weight_of
from alerter.rules.keyedwindows import KeyedWindows
from alerter.rules.matchers import value_matches as _test
from alerter.rules.model import Rule
from alerter.rules.plans import BulkPlan, Plan, plan_for
from alerter.rules.state import AlertTable, Key
from alerter.rules.windows import AbsentWindow

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


def _lookup(name: str, in_groups: bool, m: re.Match[str] | None, batch: LogLines, idx: int) -> str:
    """A label value: the regex group of that name, else the parsed field of the batch's
    event idx (built, its line parsed, only now), else ''."""
    if in_groups and m is not None:
        v = m.group(name)
        if v is not None:
            return v
    ev = batch.event(idx)
    v = ev.fields.get(name)
    if v is not None:
        return v
    return ev.source if name == "source" else ""


class LogRule(BatchUpdates):
    def __init__(self, rule: Rule, table: AlertTable) -> None:
        assert rule.logs is not None
        super().__init__(rule, table)
        sel = rule.logs
        self.sources = frozenset(sel.sources)
        # how the rule reads a batch given as text (rules/plans/), chosen once
        self.plan: Plan = plan_for(rule)
        # a batch without text is judged line by line, through this literal when there is one
        self.literal = sel.literal
        self.match = sel.match
        self.exclude = sel.exclude
        groups = sel.match.groupindex if sel.match is not None else {}
        self.where = tuple((mt, mt.name in groups) for mt in sel.where)
        # every `where` reads a field (not a group, not `source`) the empty value passes: a
        # batch whose lines cannot have those fields (LogLines.field_names) passes every line
        self.where_empty_ok = all(
            not g and mt.name != "source" and _test(mt, "") for mt, g in self.where
        )
        self.where_names = frozenset(mt.name for mt, _ in self.where)
        self.of = tuple((mt, mt.name in groups) for mt in rule.of)
        self.by = tuple((b, b in groups) for b in rule.by)
        self.field_name = rule.field or ""
        self.field_in_groups = self.field_name in groups
        self.kind = _KINDS.get(rule.aggregate, _COUNT)
        self.ratio = self.kind == _RATIO
        self.by_group = rule.by[0] if len(rule.by) == 1 and rule.by[0] in groups else ""
        self._of_cache: dict[tuple[str, ...], bool] = {}
        # count: the events a line stands for (`weight`), the address its connection told
        # (`connection`): rules/connections.py
        self.weight = (rule.weight, rule.weight in groups) if rule.weight else None
        self.conn = (rule.connection, rule.connection in groups) if rule.connection else None
        self.tells = tuple(g for g in rule.tells if g in groups)
        self.tell_ends = frozenset(rule.connection_ends)
        self.connections = Connections(ttl=max(rule.over, 600.0)) if rule.connection else None
        # count: lines judged by their connection's attempts (rules/connections.py Attempts)
        at = rule.attempts
        self.attempts = Attempts(at) if at is not None else None
        self.attempt_id = (at.id, at.id in groups) if at is not None else ("", False)

    def adopt(self, old: KeyedWindows) -> None:
        """`KeyedWindows.adopt`, the connections' state too: a reload between the lines of
        one attempt still counts it once, for the address its connection told."""
        super().adopt(old)
        if isinstance(old, LogRule):
            self.connections, old.connections = old.connections, self.connections
            self.attempts, old.attempts = old.attempts, self.attempts

    @property
    def bulk_spec(self) -> BulkSpec | None:
        """The rule's batch pass as plain values, when its plan has one: it may run elsewhere."""
        return self.plan.spec if isinstance(self.plan, BulkPlan) else None

    # --- per event ------------------------------------------------------------------------

    def observe(
        self,
        batch: LogLines,
        idx: int,
        line: str,
        now: float,
        bucket: int,
        out: list[Transition],
        m: re.Match[str] | None = None,
    ) -> None:
        """The batch's line idx (`line`) passed the pre-filter; `bucket` is
        `self.bucket(now)`; `m` the match when the caller already searched."""
        if m is None and self.match is not None:
            m = self.match.search(line)
            if m is None:
                return
        if self.exclude is not None and self.exclude.search(line) is not None:
            return
        if self.where and not (
            self.where_empty_ok
            and (names := batch.field_names) is not None
            and names.isdisjoint(self.where_names)
        ):
            for mt, in_groups in self.where:
                if not _test(mt, _lookup(mt.name, in_groups, m, batch, idx)):
                    return
        if (
            self.attempts is not None
            and m is not None
            and self.judge_attempt(batch, idx, line, m, now, bucket, out)
        ):
            return
        by = self.by
        if not by:
            key: Key = ()
        elif len(by) == 1:
            key = (
                (m.group(self.by_group) if m is not None and self.by_group else None)
                or _lookup(by[0][0], by[0][1], m, batch, idx),
            )
        else:
            key = tuple([_lookup(b, g, m, batch, idx) for b, g in by])
        kind = self.kind
        x: Any = None
        if kind == _NUMERIC:
            try:
                x = float(_lookup(self.field_name, self.field_in_groups, m, batch, idx))
            except ValueError:
                return  # not a number: the event does not count
        elif kind == _TEXT:
            x = _lookup(self.field_name, self.field_in_groups, m, batch, idx)
        elif kind == _RATIO:
            x = True
            for mt, g in self.of:
                if not _test(mt, _lookup(mt.name, g, m, batch, idx)):
                    x = False
                    break
        elif kind == _ABSENT:
            x = now
        elif kind == _NEW_VALUE:
            self._new_value(
                key, _lookup(self.field_name, self.field_in_groups, m, batch, idx), line, now, out
            )
            return
        if self.weight is not None or self.conn is not None:
            self._count_weighted(key, m, batch, idx, line, now, bucket, out)
            return
        w = self.touch_key(key)
        w.add(bucket, x)
        w.example(line)
        if self.eager:
            self._evaluate_key(key, w, now, out)
        elif self.sweep is not None:
            self.sweep.touched(key, w)

    def _count_weighted(
        self,
        key: Key,
        m: re.Match[str] | None,
        batch: LogLines,
        idx: int,
        line: str,
        now: float,
        bucket: int,
        out: list[Transition],
    ) -> None:
        """count with `weight` or `connection`: the events the line stands for, counted for
        its key, or for its connection's address once a line of it told one."""
        if self.connections is None or self.conn is None:
            self._count_todo([(key, self._events(m, batch, idx), (line,))], bucket, now, out)
            return
        cid = _lookup(*self.conn, m, batch, idx)
        if m is not None:
            for g in self.tells:
                if (told := m.group(g)) is not None:  # the line only tells the address
                    self.tell(cid, told, g in self.tell_ends, now, bucket, out)
                    return
        n = self._events(m, batch, idx)
        todo = self.connections.see(cid, key if any(key) else None, n, line, now)
        self._count_todo(todo, bucket, now, out)

    def _events(self, m: re.Match[str] | None, batch: LogLines, idx: int) -> int:
        """The events a counted line stands for (`weight`, else 1)."""
        wg = self.weight
        if wg is None:
            return 1
        if wg[1] and m is not None and (v := m.group(wg[0])) is not None:
            return weight_of(v)
        if (names := batch.field_names) is not None and wg[0] not in names:
            return 1  # (a field its lines cannot have: 1 event, no event built to read it)
        return weight_of(_lookup(*wg, m, batch, idx))

    def judge_attempt(
        self,
        batch: LogLines,
        idx: int,
        line: str,
        m: re.Match[str],
        now: float,
        bucket: int,
        out: list[Transition],
    ) -> bool:
        """A matching line that passed `exclude` and `where`: when one of the `attempts`
        address groups took part, count it for that address if its connection's state says
        it counts, and return True (it is judged); else False (counted as any other line)."""
        at = self.attempts
        assert at is not None
        if at.address(m.group) is None:
            return False
        got = self.attempt(batch, idx, m, now)
        if got is not None:
            self.count_for(*got, line, now, bucket, out)
        return True

    def attempt(
        self, batch: LogLines, idx: int, m: re.Match[str], now: float, line: str | None = None
    ) -> tuple[str, int] | None:
        """A line where one of the `attempts` address groups took part, judged by its
        connection's state (which it updates): (its address, its events) when it counts.
        With `line` (a plan's match, not yet checked against `exclude`): a line that can
        neither count nor change the state (Attempts.idle) is passed over unread, and an
        excluded one judged no further."""
        at = self.attempts
        assert at is not None
        addr = at.address(m.group)
        if addr is None:
            return None
        conn = _lookup(*self.attempt_id, m, batch, idx)
        if line is not None and (
            at.idle(conn, m.group)
            or (self.exclude is not None and self.exclude.search(line) is not None)
        ):
            return None
        if not at.counts(conn, m.group, addr, now):
            return None
        return addr, self._events(m, batch, idx)

    def count_for(
        self, addr: str, n: int, line: str, now: float, bucket: int, out: list[Transition]
    ) -> None:
        """Count n events for the address `addr` (a rule keyed by one label)."""
        self._count_todo([((addr,), n, (line,))], bucket, now, out)

    def tell(
        self,
        conn: str,
        told: str,
        ends: bool,
        now: float,
        bucket: int,
        out: list[Transition],
    ) -> None:
        """A line of connection `conn` that only tells its address (`told`, from one of the
        `connection`'s `tells` groups; `ends`: one of its `ends`): what that connection's
        earlier lines now count."""
        assert self.connections is not None
        todo = self.connections.see(conn, (told,), 0, "", now, ends)
        self._count_todo(todo, bucket, now, out)

    def _count_todo(
        self,
        todo: list[tuple[Key, int, tuple[str, ...]]],
        bucket: int,
        now: float,
        out: list[Transition],
    ) -> None:
        for k, events, lines in todo:
            w = self.touch_key(k)
            w.add(bucket, None, events)  # type: ignore[call-arg]  # a CountWindow
            w.examples(list(lines))
            if self.eager:
                self._evaluate_key(k, w, now, out)

    def of_ok(self, batch: LogLines, idx: int, line: str, m: re.Match[str] | None) -> bool:
        """ratio: does a selected event also match `of`?"""
        if m is None and self.match is not None:
            m = self.match.search(line)
        for mt, g in self.of:  # noqa: SIM110 - a loop, not all(genexpr): no allocation per line
            if not _test(mt, _lookup(mt.name, g, m, batch, idx)):
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
        elif self.sweep is not None:
            self.sweep.touched(key, w)  # (its next filing: alerter.rules.absentsweep)
