"""Lazy parsing against eager parsing: random lines (syslog lines that parse and lines that do
not, lines the regex parser matches and misses) and random rule sets. A collector's batch
parses a line only when a rule looks at it; it must give the same transitions, windows and
alerts as the same lines parsed up front, and parse (and count as errors) exactly the lines
whose fields a line-by-line reference reads."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from alerter.collectors.parsers import Parser, ParserConfig, batch, make_parser
from alerter.core.events import LogEvent
from alerter.rules.engine import Engine
from alerter.rules.plans import STRATEGIES, Fieldless, Plan
from tests.rules.helpers import engine, logs, plan_kinds
from tests.rules.test_batches import line_by_line, state

NOW = 1_795_000_000.0
APP_PATTERN = r"^(?P<level>[a-z]+) (?P<app>\w+): (?P<msg>.*)$"

# Each rule: what it needs of a line's parsed fields, as a comment.
RULE_POOL = {
    # regex groups only (KeyedFindall): never parses
    "SSHByGroup": """
        logs: {source: auth, match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'}
        aggregate: count
        by: [ip]""",
    # `where` and `by` read parsed fields of the lines holding the literal
    "InvalidByHost": """
        logs: {source: auth, match: 'Invalid user (?P<user>\\S+)', where: {program: sshd}}
        aggregate: count
        by: [host]""",
    "SessionsByProgram": """
        logs: {source: auth, match: 'session opened'}
        aggregate: count
        by: [program]""",
    # no regex: every line's fields (EveryLine)
    "CronLines": """
        logs: {source: auth, where: {program: cron}}
        aggregate: count""",
    # absent by source (Touch): never parses
    "AuthSilent": """
        logs: {source: auth}
        aggregate: absent
        by: [source]""",
    # ratio whose `of` reads a parsed field
    "SshdShare": """
        logs: {source: auth, match: 'from (?P<ip>[\\d.]+)'}
        aggregate: ratio
        of: {program: sshd}""",
    # distinct of a parsed field, keyed by a group
    "HostsPerUser": """
        logs: {source: auth, match: 'for (?P<user>\\w+) from'}
        aggregate: distinct
        field: host
        by: [user]""",
    # exclude, then a field
    "NotRootByPid": """
        logs: {source: auth, match: 'Failed', exclude: 'root', where: ['pid=~"[0-9]+"']}
        aggregate: count""",
    # optional group: when it does not take part, the parsed field counts
    "OptionalHost": """
        logs: {source: auth, match: 'Accepted \\w+(?: on (?P<host>\\S+))?'}
        aggregate: count
        by: [host]""",
    # the regex parser's fields
    "AppByCode": """
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        by: [code]""",
    "AppTimeouts": """
        logs: {source: app, match: 'timeout', where: {level: error}}
        aggregate: count""",
    "AppLatency": """
        logs: {source: app, match: 'took(?: (?P<ms>\\d+))?ms'}
        aggregate: quantile
        q: 0.5
        field: ms""",
    "AppByName": """
        logs: {source: app, match: 'ERROR'}
        aggregate: count
        by: [app]""",
    "AppSum": """
        logs: {source: app, match: 'bytes=(?P<n>\\d+)', where: ['app=~"api|web"']}
        aggregate: sum
        field: n""",
    # one of a few literals in every match, keyed by groups (KeyedAnyGated); with a `where`
    # an event without fields passes (Fieldless around it)
    "FailedOrInvalid": """
        logs: {source: auth, match: '^\\w+ +\\d+ [\\d:]+ \\w+ sshd\\[\\d+\\]: (?:Failed password for|Invalid user) (?P<user>\\S+) from (?P<ip>[\\d.]+)'}
        aggregate: count
        by: [ip]""",
    "FailedOrInvalidWhere": """
        logs: {source: auth, match: '^\\w+ +\\d+ [\\d:]+ \\w+ sshd\\[\\d+\\]: (?:Failed password for|Invalid user) (?P<user>\\S+) from (?P<ip>[\\d.]+)', where: ['pid=~"|4.*"']}
        aggregate: count
        by: [ip]""",
    # lines judged by their connection (sshd's pid): ConnectionScan and AttemptScan
    "ByConnection": """
        logs: {source: auth, match: '^\\w+ +\\d+ [\\d:]+ \\w+ sshd\\[(?P<pid>\\d+)\\]: (?:Invalid user \\S+ from (?P<told>[\\d.]+)|Failed password for \\S+ from (?P<ip>[\\d.]+)|Accepted \\w+ for \\S+ from (?P<bye>[\\d.]+))'}
        aggregate: count
        connection: {id: pid, tells: [told, bye], ends: [bye]}
        by: [ip]""",
    "ByAttempt": """
        logs: {source: auth, match: '^\\w+ +\\d+ [\\d:]+ \\w+ sshd\\[(?P<pid>\\d+)\\]: (?:Failed password for \\S+ from (?P<ip>[\\d.]+)|(?P<ok>Accepted) \\w+ for (?P<u>\\S+) from (?P<peer>[\\d.]+))'}
        aggregate: count
        attempts: {id: pid, address: [peer], user: [u], other_user: [ok], ends: [ok]}
        by: [ip]""",
    # anchored, one literal, keyed (KeyedGated)
    "AppAnchored": """
        logs: {source: app, match: '^(?P<lvl>[a-z]+) (?P<name>\\w+): ERROR (?P<code>\\d+)$'}
        aggregate: count
        by: [name]""",
    # one key, one-line regex (BulkCount); one whose matches may span lines (BulkLines)
    "AppUpstream": """
        logs: {source: app, match: 'upstream timeout'}
        aggregate: count""",
    "AppSpanning": """
        logs: {source: app, match: 'took[\\sa]*ms'}
        aggregate: count""",
    # the literal is not where the match starts (LiteralScan)
    "AppNamedError": """
        logs: {source: app, match: '(?P<name>\\w+): ERROR'}
        aggregate: count
        by: [name]""",
}

AUTH = [
    "Dec  4 17:11:08 web{n} sshd[4{n}]: Failed password for {u} from 10.0.0.{n} port 22 ssh2",
    "Dec  4 17:11:08 web{n} sshd[4{n}]: Failed password for invalid user {u} from 10.0.1.{n}",
    "Dec  4 17:11:09 web{n} sshd[4{n}]: Invalid user {u} from 10.0.0.{n} port 40",
    "Dec  4 17:11:09 web1 CRON[7{n}]: pam_unix(cron:session): session opened for user root",
    "Dec  4 17:11:10 web{n} sshd[4{n}]: Accepted publickey for {u} from 10.0.2.{n} port 22",
    "Dec  4 17:11:10 web{n} sshd: Accepted password on host{n} for {u}",
    "Dec  4 17:11:11 web1 cron[9]: (root) CMD (run-parts /etc/cron.hourly)",
    "<38>1 2026-12-04T17:11:12.003Z web{n} sshd 4{n} - - Failed password for {u} from 10.0.3.{n}",
    "<86>Dec  4 17:11:12 web{n} su[5{n}]: session opened for user {u}",
    # lines that do not parse as syslog, yet hold what rules search
    "garbage Failed password for {u} from 10.0.0.{n} port 22",
    "Dec  4 bad Invalid user {u} from 10.0.0.{n}",
    "session opened for {u} without a header",
    "<999>1 x Accepted password on host{n}",
    "cron job {n} ran from nowhere",
    "",
]
APP = [
    "error api: ERROR 50{n} upstream timeout",
    "info web: took {n}ms bytes=1{n}",
    "warn api: tookms bytes=2{n}",
    "error web: ERROR 40{n}",
    # misses of the regex parser
    "ERROR 50{n} no level timeout",
    "timeout at {u}",
    "took {n}ms bytes=3{n} (no level)",
    "Error Api: ERROR 1",
    "",
]


def random_rules(rnd: random.Random) -> str:
    names = rnd.sample(sorted(RULE_POOL), rnd.randrange(1, len(RULE_POOL) + 1))
    out = ["groups:", "  - name: g", "    rules:"]
    for name in names:
        body = textwrap.dedent(RULE_POOL[name]).strip() + "\nover: 10m"
        if "absent" not in body:
            body += f'\nthreshold: "{rnd.choice([">= 1", ">= 2", "> 3", "> 0.4"])}"'
        out.append(f"      - alert: {name}")
        out.append(textwrap.indent(body, " " * 8))
    return "\n".join(out) + "\n"


def random_lines(rnd: random.Random, templates: list[str], n: int) -> list[str]:
    return [
        rnd.choice(templates).format(n=rnd.randrange(4), u=rnd.choice(["root", "bob", "eve"]))
        for _ in range(n)
    ]


class Watched(Mapping[str, str]):
    """A line's parsed fields that note when the engine reads them."""

    def __init__(self, fields: Mapping[str, str], idx: int, read: set[int]) -> None:
        self._fields, self._idx, self._read = fields, idx, read

    def __getitem__(self, key: str) -> str:
        self._read.add(self._idx)
        return self._fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        self._read.add(self._idx)
        return self._fields.get(key, default)

    def __iter__(self) -> Iterator[str]:
        self._read.add(self._idx)
        return iter(self._fields)

    def __len__(self) -> int:
        self._read.add(self._idx)
        return len(self._fields)


def values_aside(ts: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Transitions without the value a firing one carries."""
    return [t[:-1] if t[2] == "firing" else t for t in ts]


def transitions(ts: list[Any]) -> list[tuple[object, ...]]:
    return [
        (t.time, t.previous, t.state, tuple(sorted(t.alert.labels.items())), t.alert.value)
        for t in ts
    ]


SEEDS = range(40)


def test_the_random_rule_sets_take_every_plan() -> None:
    """The rule sets the test below draws run every plan kind (rules/plans/), each in one
    seed at least, so each batch path is compared with eager parsing."""
    drawn: set[type[Plan]] = set()
    for seed in SEEDS:
        drawn |= plan_kinds(engine(random_rules(random.Random(seed))))
    assert drawn == {*STRATEGIES, Fieldless}


@pytest.mark.parametrize("seed", SEEDS)
def test_lazy_parsing_equals_eager_parsing_of_the_lines_rules_read(seed: int) -> None:
    rnd = random.Random(seed)
    rules = random_rules(rnd)
    parsers: dict[str, Parser] = {
        "auth": make_parser(ParserConfig("syslog"), clock=lambda: NOW),
        "app": make_parser(ParserConfig("regex", APP_PATTERN)),
    }
    lazy = engine(rules)
    eager = engine(rules)  # every line parsed up front, the batch paths
    reference = line_by_line(engine(rules))  # every line parsed up front, each on its own
    restricted = line_by_line(engine(rules))  # only the lines lazy parsed have their fields
    for step in range(8):
        now = NOW + 30.0 * step
        for source, templates in (("auth", AUTH), ("app", APP)):
            p = parsers[source]
            lines = random_lines(rnd, templates, rnd.randrange(1, 60))
            if rnd.random() < 0.3:  # the multiline path: lines, no text
                lazy_batch = batch(p, source, now, lines=lines)
            else:
                lazy_batch = batch(p, source, now, text="\n".join(lines))
            got = transitions(lazy.process(lazy_batch, now))
            parsed = set(lazy_batch.parsed_lines())

            events, _ = p.events(lines, source, now)
            # (the lazy batch reads only the times of lines holding a rule's literal, and its
            # runs are cut only where those change: a keyed count may cross in a longer run,
            # so the value it fires with may differ; the states after the batch may not)
            assert values_aside(got) == values_aside(transitions(logs(eager, now, events)))
            read: set[int] = set()
            logs(
                reference,
                now,
                [
                    LogEvent(e.time, e.source, e.line, Watched(e.fields, i, read))
                    for i, e in enumerate(events)
                ],
            )
            # (an unparsed line still has its time: the engine reads every line's time)
            logs(
                restricted,
                now,
                [
                    e if i in parsed else LogEvent(e.time, source, e.line)
                    for i, e in enumerate(events)
                ],
            )
            # (the line-by-line paths fire at the crossing line: their values may differ)
            assert state(lazy) == state(eager) == state(reference) == state(restricted)
            # parsed: only lines whose fields the reference reads (it also reads a line's
            # `source` field, which the batch paths know is the collector's name)
            assert parsed <= read, (source, lines)
            assert lazy_batch.parse_errors == sum(p.parse(lines[i])[0] is None for i in parsed)
        t_lazy, t_eager = lazy.tick(now + 15), eager.tick(now + 15)
        reference.tick(now + 15)
        restricted.tick(now + 15)
        assert transitions(t_lazy) == transitions(t_eager)
        assert state(lazy) == state(eager) == state(reference) == state(restricted)
    assert all(r["health"] == "ok" for g in lazy.rule_health() for r in g["rules"])


def test_the_random_cases_hold_lines_parsed_and_not() -> None:
    """The generator makes what the test above needs: batches where some lines are parsed,
    some of them parse errors, and others are not parsed, with either parser."""
    for source, templates, p in (
        ("auth", AUTH, make_parser(ParserConfig("syslog"), clock=lambda: NOW)),
        ("app", APP, make_parser(ParserConfig("regex", APP_PATTERN))),
    ):
        parsed = errors = skipped = 0
        for seed in SEEDS:
            rnd = random.Random(seed)
            e: Engine = engine(random_rules(rnd))
            lines = random_lines(rnd, templates, 60)
            b = batch(p, source, NOW, text="\n".join(lines))
            e.process(b, NOW)
            parsed += len(b.parsed_lines())
            errors += b.parse_errors
            skipped += len(lines) - len(b.parsed_lines())
        assert parsed > 100 and errors > 20 and skipped > 100, source
