"""Lazy event time: when every rule of a source has a pre-filter literal, the engine reads the
times of the lines holding one only (`LogLines.runs(wanted)`); the other lines ride in a
neighbour's run. Compared here with the all-lines path (every line's time read, the batch cut
at every change of time): the same windows, alerts, examples, transition states and late
counts of the lines a rule can count, over random rule sets, lines and times."""

from __future__ import annotations

import random
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest

from alerter.collectors.parsers import Parser, ParserConfig, batch, make_parser
from alerter.core.events import LogBatch
from alerter.core.eventtime import holding, holding_lines, minimal
from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.plans import STRATEGIES, EveryLine, Fieldless, Plan, Touch
from alerter.testing import RecordingHooks
from tests.rules.helpers import plan_kinds
from tests.rules.test_batches import state

NOW = 1_800_000_000.0
# time first (epoch), as an nginx-like regex parser with its time field reads it
PARSER = make_parser(ParserConfig("regex", r"^(?P<t>\d+) (?P<app>\w+) (?P<msg>.*)$", "t", "epoch"))
SYSLOG = make_parser(ParserConfig("syslog"), clock=lambda: NOW)

POOL = {
    "ByIp": """
        logs: {match: 'Failed password for \\S+ from (?P<ip>[\\d.]+)'}
        aggregate: count
        by: [ip]""",
    "Invalid": """
        logs: {match: 'Invalid user (?P<user>\\S+)', where: {app: sshd}}
        aggregate: count
        by: [user]""",
    "Errors": """
        logs: {match: 'ERROR (?P<code>\\d+)'}
        aggregate: count""",
    "ErrorShare": """
        logs: {match: 'ERROR (?P<code>\\d+)'}
        aggregate: ratio
        of: {code: "500"}""",
    "Took": """
        logs: {match: 'took (?P<ms>\\d+)ms'}
        aggregate: quantile
        q: 0.5
        field: ms""",
    "Users": """
        logs: {match: 'for (?P<user>\\w+) from (?P<ip>[\\d.]+)'}
        aggregate: distinct
        field: user
        by: [ip]""",
    "LastError": """
        logs: {match: 'ERROR (?P<code>\\d+)'}
        aggregate: last
        field: code""",
    "Closed": """
        logs: {match: '(?:Connection closed by|Disconnected from) (?P<ip>[\\d.]+)'}
        aggregate: count
        by: [ip]""",
    "NoRoot": """
        logs: {match: 'Failed', exclude: 'root'}
        aggregate: count""",
    # one of a few literals in every match, keyed (KeyedAnyGated; Fieldless with a `where`)
    "FailedOrInvalid": """
        logs: {match: '^\\S+ (?:[ \\d]\\d [\\d:]+ \\S+ )?\\w+(?:\\[\\d+\\]:)? (?:Failed password for|Invalid user) (?P<user>\\S+) from (?P<ip>[\\d.]+)'}
        aggregate: count
        by: [ip]""",
    "FailedOrInvalidSshd": """
        logs: {match: '^\\S+ (?:[ \\d]\\d [\\d:]+ \\S+ )?\\w+(?:\\[\\d+\\]:)? (?:Failed password for|Invalid user) (?P<user>\\S+) from (?P<ip>[\\d.]+)', where: ['app=~"|sshd"']}
        aggregate: count
        by: [ip]""",
    # lines judged by their connection (the app's name here): ConnectionScan, AttemptScan
    "ByConnection": """
        logs: {match: '^\\S+ (?:[ \\d]\\d [\\d:]+ \\S+ )?(?P<app>\\w+)(?:\\[\\d+\\]:)? (?:Invalid user \\S+ from (?P<told>[\\d.]+)|Failed password for \\S+ from (?P<ip>[\\d.]+)|Connection closed by (?P<bye>[\\d.]+))'}
        aggregate: count
        connection: {id: app, tells: [told, bye], ends: [bye]}
        by: [ip]""",
    "ByAttempt": """
        logs: {match: '^\\S+ (?:[ \\d]\\d [\\d:]+ \\S+ )?(?P<app>\\w+)(?:\\[\\d+\\]:)? (?:Failed password for \\S+ from (?P<ip>[\\d.]+)|(?P<ok>Accepted) for (?P<u>\\w+) from (?P<peer>[\\d.]+))'}
        aggregate: count
        attempts: {id: app, address: [peer], user: [u], other_user: [ok], ends: [ok]}
        by: [ip]""",
    # one literal, keyed, word bounds (KeyedGated); the literal after a group (LiteralScan)
    "Upstream": """
        logs: {match: '\\bERROR 50(?P<n>\\d)\\b'}
        aggregate: count
        by: [n]""",
    "ErrorsByApp": """
        logs: {match: '(?P<app>\\w+)(?:\\[\\d+\\]:)? ERROR'}
        aggregate: count
        by: [app]""",
    # one key, matches that may span lines (BulkLines)
    "TookSpanning": """
        logs: {match: 'took[\\s\\d]*ms'}
        aggregate: count""",
}
# Every plan kind but the two for rules without a literal (Touch, EveryLine): a source with
# such a rule reads every line's time (the test below it), which is what this file compares
# the lazy path with.
LITERAL_PLANS = {*STRATEGIES, Fieldless} - {Touch, EveryLine}
MESSAGES = [
    "Failed password for {u} from 10.0.0.{n} port 22",
    "Invalid user {u} from 10.0.1.{n}",
    "ERROR 50{n} upstream",
    "took 1{n}ms",
    "Connection closed by 10.0.2.{n} port 22",
    "Disconnected from 10.0.2.{n}",
    "Accepted for {u} from 10.0.3.{n}",
    "GET /index.html 200",  # the lines no rule counts
    "GET /a.css 200",
    "session closed for {u}",
    "cron ran",
]


def random_rules(rnd: random.Random) -> str:
    names = rnd.sample(sorted(POOL), rnd.randrange(1, len(POOL) + 1))
    out = ["groups:", "  - name: g", "    rules:"]
    for name in names:
        body = textwrap.dedent(POOL[name]).strip() + f"\nover: {rnd.choice(['2m', '10m'])}"
        body += f'\nthreshold: "{rnd.choice([">= 1", ">= 2", "> 3", "> 0.4"])}"'
        out += [f"      - alert: {name}", textwrap.indent(body, " " * 8)]
    return "\n".join(out) + "\n"


def random_line(rnd: random.Random, now: float, syslog: bool) -> str:
    msg = rnd.choice(MESSAGES).format(n=rnd.randrange(4), u=rnd.choice(["root", "bob", "eve"]))
    app = rnd.choice(["sshd", "web"])
    # times: recent, stepping back, older than a window, ahead of the clock, none
    back = rnd.choice([0, 0, 0, 1, 5, 60, 200, 900, 86_400, -30, -1000])
    if rnd.random() < 0.1:
        return f"no time here {msg}"
    if syslog:
        stamp = _syslog_stamp(now - back)
        return f"{stamp} web1 {app}[42]: {msg}"
    return f"{int(now - back)} {app} {msg}"


def _syslog_stamp(t: float) -> str:
    s = time.localtime(t)
    return f"{time.strftime('%b', s)} {s.tm_mday:2d} {time.strftime('%H:%M:%S', s)}"


def late_lines(hooks: RecordingHooks) -> int:
    return sum(count for _, count, _ in hooks.uncounted)


def engine(rules: str, hooks: RecordingHooks) -> Engine:
    return Engine(load_rule_files([("t.yaml", rules)], default_interval=15), {}, hooks)


def windows(e: Engine) -> list[Any]:
    return [r.dump() for r in e._log_rules]


def moves(ts: list[Any]) -> list[tuple[object, ...]]:
    """Transitions without their values, in a stable order. The value of a transition a
    batch causes is the rule's value where the batch is cut: the all-lines path cuts it at
    every change of time, of counted lines or not, the lazy one only at changes of the
    counted lines' times (the values after the batch are compared by `state`)."""
    return sorted(
        ((t.time, t.previous, t.state, tuple(sorted(t.alert.labels.items()))) for t in ts),
        key=repr,
    )


SEEDS = range(15)


def test_the_random_rule_sets_take_every_plan_of_a_rule_with_a_literal() -> None:
    drawn: set[type[Plan]] = set()
    for seed in SEEDS:
        drawn |= plan_kinds(engine(random_rules(random.Random(seed)), RecordingHooks()))
    assert drawn == LITERAL_PLANS


@pytest.mark.parametrize("syslog", [False, True], ids=["regex", "syslog"])
@pytest.mark.parametrize("seed", SEEDS)
def test_reading_the_times_of_counted_lines_only_equals_reading_every_line(
    seed: int, syslog: bool
) -> None:
    rnd = random.Random(seed)
    rules = random_rules(rnd)
    parser: Parser = SYSLOG if syslog else PARSER
    lazy_late, all_late = RecordingHooks(), RecordingHooks()
    lazy, every = engine(rules, lazy_late), engine(rules, all_late)
    wanted = lazy._rules_of("app") and lazy._wanted["app"]
    if "Closed" in rules:  # no one literal, one of its alternatives' in every match
        assert {"Connection closed by", "Disconnected from"} <= set(wanted or ())
    assert wanted, "every rule of the pool has a literal: the lazy path must be taken"
    read_times: list[int] = []
    for step in range(10):
        now = NOW + 20.0 * step
        lines = [random_line(rnd, now, syslog) for _ in range(rnd.randrange(1, 80))]
        text = "\n".join(lines)

        def noted(ls: list[str]) -> list[float | None]:
            read_times.append(len(ls))
            return parser.times(ls)

        # 1 in 5: a batch without text (its lines searched one by one)
        if rnd.random() < 0.2:
            counted = LogBatch("app", now, parser.parse, lines=lines, times=noted)
        else:
            counted = LogBatch("app", now, parser.parse, text=text, times=noted)
        late_before = late_lines(lazy_late)
        got = lazy.process(counted, now)
        # the all-lines path: every line's time read, each run fed at its time
        ref: list[Any] = []
        late_counted = 0
        for t, part in batch(parser, "app", now, text=text).at_times():
            before = late_lines(all_late)
            ref += every.process(part, now, at=t)
            if (
                late_lines(all_late) > before
            ):  # the run was late for a rule: its lines holding a literal
                late_counted += sum(any(w in ln for w in wanted) for ln in part.lines)
        assert moves(got) == moves(ref)
        assert state(lazy) == state(every)
        assert windows(lazy) == windows(every)
        assert late_lines(lazy_late) - late_before == late_counted
        # only the lines holding a literal had their time read
        holders = sum(any(w in ln for w in wanted) for ln in lines)
        assert read_times == ([holders] if holders else [])
        read_times.clear()
    for t in (NOW + 400, NOW + 1200):
        assert moves(lazy.tick(t)) == moves(every.tick(t))
        assert state(lazy) == state(every)


def test_the_lines_holding_a_literal_found_in_the_text_and_line_by_line() -> None:
    rnd = random.Random(7)
    for _ in range(200):
        lines = ["".join(rnd.choice("ab \n") for _ in range(rnd.randrange(6))) for _ in range(9)]
        lines = [ln.replace("\n", "") for ln in lines]
        wanted = minimal(rnd.sample(["a", "ab", "b a", "ba", "bb"], rnd.randrange(1, 4)))
        expect = [i for i, ln in enumerate(lines) if any(w in ln for w in wanted)]
        assert holding("\n".join(lines), lines, wanted) == expect
        assert holding_lines(lines, wanted) == expect


def test_a_literal_holding_another_is_left_out() -> None:
    assert set(minimal(["from ", " from 1", "ERROR", "ERROR 5", "x"])) == {"from ", "ERROR", "x"}


def test_a_source_with_a_rule_without_a_literal_reads_every_time() -> None:
    rules = random_rules(random.Random(1)) + textwrap.indent(
        textwrap.dedent(
            """\
            - alert: Silent
              logs: {}
              aggregate: absent
              by: [source]
              over: 5m
            """
        ),
        "      ",
    )
    e = engine(rules, RecordingHooks())
    e._rules_of("app")
    assert e._wanted["app"] is None


class Counting:
    """A parser's `times`, counting the lines it is asked about."""

    def __init__(self, times: Callable[[list[str]], list[float | None]]) -> None:
        self.times, self.asked = times, 0

    def __call__(self, lines: list[str]) -> list[float | None]:
        self.asked += len(lines)
        return self.times(lines)


@pytest.mark.parametrize(("parser", "every"), [(PARSER, False), (SYSLOG, True)])
def test_a_collectors_batch_reads_every_time_only_with_the_syslog_parser(
    parser: Parser, every: bool
) -> None:
    """Syslog's `times` is cheap for every line (by runs of one stamp): not gated; a regex
    parser's runs the user's pattern: only the counted lines' times are read."""
    lines = [random_line(random.Random(i), NOW, parser is SYSLOG) for i in range(200)]
    made = batch(parser, "app", NOW, text="\n".join(lines))
    counting = Counting(parser.times)
    b = LogBatch("app", NOW, parser.parse, text="\n".join(lines), times=counting, every_time=every)
    assert [(t, len(r)) for t, r, _ in made.runs(("ERROR",))] == [
        (t, len(r)) for t, r, _ in b.runs(("ERROR",))
    ]
    holders = sum("ERROR" in ln for ln in lines)
    assert 0 < holders < len(lines)
    assert counting.asked == (len(lines) if every else holders)


def test_a_syslog_batch_made_from_text_runs_as_one_made_from_its_lines() -> None:
    """A syslog block not split yet is cut into runs in its text (the parser's `spans`, runs as
    slices of it): the same times, lines, fields and parse errors as the runs of its lines."""
    rnd = random.Random(5)
    for _ in range(200):
        lines = [random_line(rnd, NOW, True) for _ in range(rnd.randint(1, 60))]
        lines = [x for x in lines for _ in range(rnd.choice((1, 1, 3)))]  # longer runs
        text = "\n".join(lines)
        made = batch(SYSLOG, "app", NOW, text=text)
        split = batch(SYSLOG, "app", NOW, lines=list(lines))
        a, b = made.runs(None), split.runs(None)
        assert not made.split  # (cut in its text)
        assert [(t, list(r.lines), k) for t, r, k in a] == [(t, list(r.lines), k) for t, r, k in b]
        assert [[(e.time, dict(e.fields)) for e in r.events()] for _, r, _ in a] == [
            [(e.time, dict(e.fields)) for e in r.events()] for _, r, _ in b
        ]
        assert made.parse_errors == split.parse_errors
