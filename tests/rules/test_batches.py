"""The batch-wide search paths find exactly what a line-by-line search finds: a batch gives
the same windows and alerts as the same lines fed one at a time."""

from __future__ import annotations

import random
import re

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.engine import Engine
from alerter.rules.plans import (
    STRATEGIES,
    BulkCount,
    EveryLine,
    Fieldless,
    base,
    literals,
)
from tests.rules.helpers import engine, logs, plan_kinds

RULES = r"""
groups:
  - name: g
    rules:
      - alert: KeyedCount
        logs: {match: 'Failed password for (?P<user>\S+) from (?P<ip>[\d.]+)'}
        aggregate: count
        over: 10m
        by: [ip, user]
        threshold: ">= 3"
      - alert: OptionalGroupKey
        logs: {match: 'login(?: from (?P<ip>[\d.]+))? ok'}
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 2"
      - alert: PlainCount
        logs: {match: 'ERROR '}
        aggregate: count
        over: 10m
        threshold: ">= 4"
      - alert: Ratio
        logs: {match: '" (?P<status>\d{3}) '}
        aggregate: ratio
        of: ['status=~"5.."']
        over: 10m
        threshold: "> 0.2"
      - alert: CountSameShapeAsRatio
        logs: {match: '" \d{3} '}
        aggregate: count
        over: 10m
        threshold: ">= 4"
      - alert: SpanningRatio
        logs: {match: '"[^"]*" (?P<status>\d{3}) '}
        aggregate: ratio
        of: ['status=~"5.."']
        over: 10m
        threshold: "> 0.2"
      - alert: RatioOfField
        logs: {match: '" (?P<status>\d{3}) '}
        aggregate: ratio
        of: {level: error}
        over: 10m
        threshold: "> 0.2"
      - alert: SpanningKeyed
        logs: {match: '"[^"]*" (?P<status>\d{3}) '}
        aggregate: count
        over: 10m
        by: [status]
        threshold: ">= 5"
      - alert: SpanningFirst
        logs: {match: 'q(?:x[^y]*y|zz)'}
        aggregate: count
        over: 10m
        threshold: ">= 3"
      - alert: SpanningFirstKeyed
        logs: {match: 'q(?:x[^y]*y|zz)'}
        aggregate: count
        over: 10m
        by: [source]
        threshold: ">= 3"
      - alert: SpanningBulk
        logs: {match: 'qx[\sa]*y'}
        aggregate: count
        over: 10m
        threshold: ">= 3"
      - alert: DistinctUsers
        logs: {match: 'Failed password for (?P<user>\S+) from (?P<ip>[\d.]+)'}
        aggregate: distinct
        field: user
        by: [ip]
        over: 10m
        threshold: ">= 2"
      - alert: LiteralOnly
        logs: {match: '(?P<unit>\w+)\.service: Failed'}
        aggregate: count
        over: 10m
        by: [unit]
        threshold: ">= 1"
      - alert: AnchoredKeyed
        logs: {match: '^(?P<app>\w+): ERROR x(?P<n>\d)$'}
        aggregate: count
        over: 10m
        by: [app, n]
        threshold: ">= 2"
      - alert: WordBoundaryKeyed
        logs: {match: '\bERROR x(?P<n>\d)\b'}
        aggregate: count
        over: 10m
        by: [n]
        threshold: ">= 2"
      - alert: QuantileOfGroup
        logs: {match: '" \d{3} (?P<ms>\d+|-) "[^"]*"'}
        aggregate: quantile
        q: 0.9
        field: ms
        over: 10m
        threshold: "> 5"
      - alert: QuantileOptionalGroup
        logs: {match: 'took(?: (?P<ms>\d+))?ms'}
        aggregate: quantile
        q: 0.5
        field: ms
        over: 10m
        threshold: "> 5"
      - alert: AnyOfLiterals
        logs: {match: '^(?:\w+: )?(?:Failed password for (?P<u>\S+)|login(?: from (?P<ip>[\d.]+))? ok|took (?P<ms>\d+)ms)$'}
        aggregate: count
        over: 10m
        threshold: ">= 3"
      - alert: KeyedAnyWeighted
        logs:
          match: '^(?:\w+: )?(?:repeated (?P<n>\d+) times: )?(?:Failed password|Rejected key) for (?P<u>\S+) from (?P<ip>[\d.]+)'
          exclude: 'for c from 10\.0\.\d\.3 '
          where: ['level=~"|info"']
        weight: n
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 3"
      - alert: ConnectionCount
        logs:
          match: '^(?P<pid>\d): (?:(?:Failed password|Rejected key) for \S+ from (?P<told>[\d.]+) port \d+|login (?:from (?P<ip>[\d.]+) )?ok|closed by (?P<bye>[\d.]+))$'
          where: ['level=~"|info"']
        aggregate: count
        connection: {id: pid, tells: [told, bye], ends: [bye]}
        by: [ip]
        over: 10m
        threshold: ">= 2"
      - alert: AttemptCount
        logs:
          match: '^(?P<pid>\d): (?:Denied \S+ from (?P<ip>[\d.]+)|(?:(?P<first>Halt)|(?P<second>Stop)|(?P<ok>Enter)) for (?P<u>\S+) from (?P<peer>[\d.]+))$'
          where: ['level=~"|info"']
        aggregate: count
        attempts: {id: pid, address: [peer], user: [u], same_attempt: {second: first}, other_user: [ok], ends: [ok]}
        by: [ip]
        over: 10m
        threshold: ">= 2"
      - alert: WhereRule
        logs: {where: {level: error}}
        aggregate: count
        over: 10m
        by: [app]
        threshold: ">= 2"
      - alert: Silent
        logs: {}
        aggregate: absent
        by: [source]
        over: 1m
"""

TEMPLATES = [
    "sshd: Failed password for {u} from 10.0.0.{n} port 22",
    "sshd: Failed password for {u} from 10.0.0.{n} port 22",  # (twice: often enough to fire)
    "login from 10.0.1.{n} ok",
    "login ok",
    "app: ERROR x{n}",
    '1.2.3.4 - - [x] "GET / HTTP/1.1" {s} 12 "-"',
    '1.2.3.4 - - [x] "GET /{u} HTTP/1.1" {s} 12 "-" "agent"',
    "web{n}.service: Failed with result 'exit-code'.",
    'a "quote\nspanning" 500 line',
    'odd "quote starts {n}',
    '" 200 x "b" {s} z',
    "qx qzz {n}",  # alone: matches at "qzz"; joined: "qx ...y" spans into a later line
    "y end",
    "qx a",  # joined: `qx[\sa]*y` runs on into the next line's "y"
    "qx ay {n}",
    "nothing to see {n}",
    "took {n}ms",
    "sshd: repeated {n} times: Failed password for {u} from 10.0.0.{n} port 22",
    "sshd: Rejected key for {u} from 10.0.3.{n}",
    "{n}: Failed password for {u} from 10.0.4.{n} port 22",
    "{n}: login ok",
    "{n}: login from 10.0.5.{n} ok",
    "tookms",  # the group does not take part: the event's parsed `ms` counts
    "{n}: Denied {u} from 10.0.6.{n}",
    "{n}: Halt for {u} from 10.0.6.{n}",  # (an address a Denied line counts for too)
    "{n}: Stop for {u} from 10.0.6.{n}",
    "{n}: Enter for {u} from 10.0.7.{n}",
    "{n}: closed by 10.0.8.{n}",  # (its connection's last line, another address than it told)
]


def random_lines(seed: int, n: int) -> list[LogEvent]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        t = rnd.choice(TEMPLATES)
        line = t.format(u=rnd.choice("abc"), n=rnd.randrange(4), s=rnd.choice((200, 404, 502)))
        out.append(LogEvent(0, rnd.choice(("s1", "s1", "s2")), line, fields_of(line)))
    return out


def fields_of(line: str) -> dict[str, str]:
    """A line's parsed fields: random, but a function of the line (as a parser's are)."""
    rnd = random.Random(line)
    return {
        "level": rnd.choice(("error", "info")),
        "app": rnd.choice(("x", "y")),
        "ms": rnd.choice(("3", "9")),
    }


def parse(line: str) -> tuple[dict[str, str], None]:
    return fields_of(line), None


def line_by_line(e: Engine) -> Engine:
    """The reference: every rule searches every line on its own (no batch-wide search, no
    literal pre-filter)."""
    for r in e._log_rules:
        r.plan = EveryLine("the reference")
        r.literal = None
    return e


def test_the_rules_take_every_plan() -> None:
    assert plan_kinds(engine(RULES)) == {*STRATEGIES, Fieldless}


def state(e: Engine) -> tuple[object, object]:
    snap = e.snapshot()["rules"]
    windows = {k: sorted(map(repr, v["window"]["keys"])) for k, v in snap.items()}
    alerts = sorted((tuple(sorted(a.labels.items())), a.value, a.examples) for a in e.alerts())
    return windows, alerts


def text_batch(part: list[LogEvent]) -> LogBatch:
    """The lines as a collector sends a block it read: the text whole, lines split and
    parsed on demand."""
    return LogBatch(
        part[0].source,
        0.0,
        parse,
        text="\n".join(ln.line for ln in part),
        field_names=frozenset(("level", "app", "ms")),
    )


def no_level(line: str) -> tuple[dict[str, str], None]:
    fields = fields_of(line)
    del fields["level"]
    return fields, None


def named_batch(part: list[LogEvent]) -> LogBatch:
    """A block read by a parser whose fields never include `level` (as the syslog parser's
    never include journald's `_UID`): a `where` on it passes or fails every line alike."""
    return LogBatch(
        part[0].source,
        0.0,
        no_level,
        text="\n".join(ln.line for ln in part),
        field_names=frozenset(("app", "ms")),
    )


def bare_batch(part: list[LogEvent]) -> LogBatch:
    """A block read with the `none` parser: no line has fields (LogLines.fieldless)."""
    return LogBatch(part[0].source, 0.0, None, text="\n".join(ln.line for ln in part))


@pytest.fixture(params=["searched", "indexed"])
def finding(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the plans find their literals' lines: each plan by its own search, or all at once
    by the pass (`LiteralSet.starts`, for many literals: here from one on, the lines always
    searched in place, whatever it costs)."""
    if request.param == "indexed":
        monkeypatch.setattr(literals, "INDEX_LITERALS", 1)
        monkeypatch.setattr(literals, "LINE_MS", 1e-12)
        monkeypatch.setattr(base, "SPARSE", 0)
    return str(request.param)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("kind", ["lines", "multiline", "text", "bare", "named"])
def test_a_batch_equals_its_lines_one_by_one(seed: int, kind: str, finding: str) -> None:
    lines = random_lines(seed, 300)
    if kind != "multiline":
        lines = [ln for ln in lines if "\n" not in ln.line]
    if kind == "bare":
        lines = [LogEvent(ln.time, ln.source, ln.line) for ln in lines]
    if kind == "named":
        lines = [LogEvent(ln.time, ln.source, ln.line, no_level(ln.line)[0]) for ln in lines]
    batched, single = engine(RULES), line_by_line(engine(RULES))
    for t in range(0, len(lines), 50):
        chunk = lines[t : t + 50]
        for source in ("s1", "s2"):
            part = [ln for ln in chunk if ln.source == source]
            if part:
                batch = (
                    text_batch(part)
                    if kind == "text"
                    else bare_batch(part)
                    if kind == "bare"
                    else named_batch(part)
                    if kind == "named"
                    else LogBatch.of_events(source, t, part)
                )
                assert batch.fieldless == (kind == "bare")
                batched.process(batch, float(t))
                for ln in part:
                    logs(single, float(t), [ln])
    assert state(batched) == state(single)
    assert {a.labels["alertname"] for a in batched.alerts()} >= {"KeyedCount", "PlainCount"}


def test_patterns_that_differ_only_in_groups_share_a_shape() -> None:
    from alerter.rules.prefilter import match_shape

    ratio = match_shape(re.compile(r'" (?P<status>[1-5]\d\d) (?:\d+|-) "'))
    assert ratio is not None
    assert ratio == match_shape(re.compile(r'" [1-5]\d\d (?:\d+|-) "'))
    assert ratio != match_shape(re.compile(r'" [1-4]\d\d (?:\d+|-) "'))
    assert match_shape(re.compile(r"(a)b")) != match_shape(re.compile(r"(?i:a)b"))
    assert match_shape(re.compile(r"(a)\1")) is None  # a back reference needs its group


def test_quantile_values_added_at_once_equal_one_by_one() -> None:
    from alerter.rules.valuewindows import QuantileWindow

    rnd = random.Random(7)
    for _ in range(200):
        one, many, i = QuantileWindow(0.5), QuantileWindow(0.5), 0
        for _ in range(rnd.randint(1, 5)):
            i += rnd.choice((0, 0, 1, -1))  # -1: a late batch lands in the newest bucket
            xs = [rnd.random() for _ in range(rnd.choice((0, 1, 5, 63, 64, 65, 130, 300)))]
            for x in xs:
                one.add(i, x)
            many.add_many(i, xs)
        assert many.b == one.b


@pytest.mark.parametrize(
    ("pattern", "confined"),
    [
        (r'"[^"]*" (?P<s>\d+)', r'"[^\n"]*" (?P<s>\d+)'),
        (r"a\sb\W\D", r"a[^\S\n]b[^\w\n][^\d\n]"),
        (r"[^]x]y", r"[^\n\]x]y"),
        (r"x[^\\]y", r"x[^\n\\]y"),
        (r"a\S+b", r"a\S+b"),  # already confined: unchanged
    ],
)
def test_patterns_confined_to_a_line(pattern: str, confined: str) -> None:
    from alerter.rules.prefilter import line_confined, may_match_newline

    got = line_confined(re.compile(pattern))
    assert got is not None and got.pattern == confined and not may_match_newline(got)


@pytest.mark.parametrize("pattern", [r"(?s)a.b", r"[\s]x", r"a\nb", r"(?x) a [^b] "])
def test_patterns_that_cannot_be_confined(pattern: str) -> None:
    from alerter.rules.prefilter import line_confined

    assert line_confined(re.compile(pattern)) is None


def test_rare_characters_of_a_literal() -> None:
    from alerter.rules.prefilter import rare_chars

    assert rare_chars("Out of memory: Killed process ")[:4] == "KOyp"  # capitals, rare letters
    assert rare_chars("I/O error, dev ") == "IOvdroe,/"  # ...punctuation last, no spaces
    assert rare_chars('" 4') == '4"'  # digits before the commonest punctuation


@pytest.mark.parametrize("of", ['status=~"5.."', 'status!~"5.."', 'status=~"[2-5]0[0-4]"'])
@pytest.mark.parametrize(
    "codes", [(200, 502), (200, 201, 204, 301, 302, 304, 404, 410, 429, 500, 502, 503, 504)]
)
def test_a_ratio_over_many_distinct_values_counts_as_line_by_line(
    of: str, codes: tuple[int, ...]
) -> None:
    rules = f"""
groups:
  - name: g
    rules:
      - alert: R
        logs: {{match: '" (?P<status>[1-5]\\d\\d) (?:\\d+|-) "'}}
        aggregate: ratio
        of: ['{of}']
        over: 10m
        threshold: "> 0.3"
"""
    rnd = random.Random(len(codes) + len(of))
    batched, single = engine(rules), line_by_line(engine(rules))
    for t in range(20):
        part = [
            LogEvent(0, "s", f'1.2.3.4 - - [x] "GET / HTTP/1.1" {rnd.choice(codes)} 5 "-"')
            for _ in range(40)
        ]
        batched.process(text_batch(part), float(t))
        for ln in part:
            logs(single, float(t), [ln])
        assert state(batched) == state(single)
    assert isinstance(batched._log_rules[0].plan, BulkCount)  # the plan tested
