"""The syslog parser's `times` (every line's time, as the engine asks for it) gives what
`parse` gives for each line, whatever lines came before (its cache of line heads)."""

from __future__ import annotations

import random

from alerter.collectors.syslog import HEADS_MAX, SyslogParser

STAMPS = (
    "Dec  4 17:11:08",
    "Dec 14 17:11:09",
    "Jan  1 00:00:00",
    "Dex  4 17:11:08",  # no such month: parsed as no time
    "2026-12-04T10:00:00Z",
    "2026-12-04T10:00:00.123456+01:00",
    "2026-12-04T10:00:00",
    "12-04 10:00:00",  # no timestamp at all
)
HOSTS = ("web1", "h", "a-very-long-host-name.example.org", "", "ho\tst", "h\u00e9", "h\u2003x")
PRIS = ("", "", "<13>", "<191>", "<1000>")
RESTS = (
    " sshd[1]: Failed password for root",
    " cron: x",
    "",
    "  two spaces",
    "\tafter a tab",
    " x" * 30,
)
RFC5424 = (
    "<13>1 2026-12-04T10:00:00Z web1 sshd 1 - - hello",
    "<13>1 - - - - - -",
    "<13>1 2026-12-04T10:00:00Z",
)


def line(rnd: random.Random) -> str:
    if rnd.random() < 0.05:
        return rnd.choice(RFC5424)
    if rnd.random() < 0.03:
        return rnd.choice(("", " ", "garbage", "Dec  4 17:11:08", "Dec  4 17:11:08 "))
    return rnd.choice(PRIS) + rnd.choice(STAMPS) + " " + rnd.choice(HOSTS) + rnd.choice(RESTS)


def test_times_are_the_times_parse_gives_with_heads_learnt_from_other_lines() -> None:
    rnd = random.Random(12)
    clock = 1_796_400_000.0
    p = SyslogParser(clock=lambda: clock)
    reference = SyslogParser(clock=lambda: clock)
    for _ in range(300):
        lines = [line(rnd) for _ in range(rnd.randint(0, 40))]
        assert p.times(lines) == [reference.parse(x)[1] for x in lines]
    assert p._heads  # the cache was used (and learnt only from lines that matched)


def test_the_heads_cache_stays_bounded() -> None:
    p = SyslogParser(clock=lambda: 1_796_400_000.0)
    for i in range(0, HEADS_MAX + 10, 1000):
        lines = [f"Dec  4 17:11:08 host{j} x" for j in range(i, i + 1000)]
        assert None not in p.times(lines)
    assert len(p._heads) <= HEADS_MAX + 1000
