"""The syslog parser's `times` (every line's time, as the engine asks for it) gives what
`parse` gives for each line, for lines in runs that share their head (one second, one host)
and for any other lines."""

from __future__ import annotations

import random

from alerter.collectors.syslog import SyslogParser

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
HOSTS = (
    "web1",
    "web1x",
    "h",
    "a-very-long-host-name.example.org",
    "",
    "ho\tst",
    "h\u00e9",
    "h\u2003x",
)
PRIS = ("", "", "", "<13>", "<191>", "<1000>")
RESTS = (
    " sshd[1]: Failed password for root",
    " cron: x",
    "",
    "  two spaces",
    "\tafter a tab",
    " x" * 30,
)
OTHERS = (
    "<13>1 2026-12-04T10:00:00Z web1 sshd 1 - - hello",
    "<13>1 - - - - - -",
    "<13>1 2026-12-04T10:00:00Z",
    "",
    " ",
    "garbage",
    "Dec  4 17:11:08",
    "Dec  4 17:11:08 ",
    "@400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication failure",
    "@400000004c91b044077a9e95 plain output",
    "@400000004c91b044077a9e9 too short",
    "@40000000zz91b044077a9e94 x: not hex",
)


def runs(rnd: random.Random) -> list[str]:
    """Lines in runs of one head (a log's lines of one second and host), some runs broken by
    other lines, some lines a head's prefix of another."""
    out: list[str] = []
    while len(out) < rnd.randint(0, 60):
        if rnd.random() < 0.1:
            out.append(rnd.choice(OTHERS))
            continue
        head = rnd.choice(PRIS) + rnd.choice(STAMPS) + " " + rnd.choice(HOSTS)
        for _ in range(rnd.randint(1, 8)):
            out.append(head + rnd.choice(RESTS))
    return out


def test_times_are_the_times_parse_gives() -> None:
    rnd = random.Random(12)
    clock = 1_796_400_000.0
    p = SyslogParser(clock=lambda: clock)
    reference = SyslogParser(clock=lambda: clock)
    for _ in range(500):
        lines = runs(rnd)
        assert p.times(lines) == [reference.parse(x)[1] for x in lines]
    shuffled = runs(rnd) * 3
    rnd.shuffle(shuffled)
    assert p.times(shuffled) == [reference.parse(x)[1] for x in shuffled]
    assert p.times([]) == []


def test_spans_read_the_times_of_a_text_as_its_lines_give_them() -> None:
    """`spans` over the lines joined by newlines: each run's lines have the time `parse`
    gives each of them, and each run ends at the newline after its last line."""
    rnd = random.Random(13)
    clock = 1_796_400_000.0
    p = SyslogParser(clock=lambda: clock)
    reference = SyslogParser(clock=lambda: clock)
    for i in range(1500):
        lines = runs(rnd) or [""]
        if i % 3 == 0:  # long runs: the gallop's windows double many times
            lines = lines[:1] * rnd.choice((2, 40, 700)) + lines
        text = "\n".join(lines)
        got: list[float | None] = []
        ends: list[int] = []
        for k, end, t in p.spans(text):
            assert k >= 1
            got += [t] * k
            ends.append(end)
        assert got == [reference.parse(x)[1] for x in lines]
        line_ends = [text.find("\n", len("\n".join(lines[: j + 1]))) for j in range(len(lines))]
        line_ends = [len(text) if e < 0 else e for e in line_ends]
        cum = 0
        for (k, _, _), end in zip(p.spans(text), ends, strict=True):
            cum += k
            assert end == line_ends[cum - 1]


def test_multilog_lines_are_placed_at_their_tai64n_label() -> None:
    # daemontools' multilog: `@` + TAI64N (2^62 + 10 + unix seconds, as libtai writes and
    # tai64nlocal reads it; then nanoseconds). They had no time: placed at read time, a 2010
    # backlog read with start_at: beginning fired at once
    line = (
        "@400000004c91b044077a9e94 dovecot-auth: pam_unix(dovecot:auth): authentication "
        "failure; logname= uid=0 euid=0 tty=dovecot ruser=web rhost=176.61.140.224"
    )
    at = 0x4C91B044 - 10 + 0x077A9E94 / 1e9  # 2010-09-16T05:50:50.125476500Z
    parser = SyslogParser()
    fields, t = parser.parse(line)
    assert t == at and abs(t - 1284616250.125) < 0.001
    assert fields == {
        "program": "dovecot-auth",
        "message": "pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
        "tty=dovecot ruser=web rhost=176.61.140.224",
    }
    assert parser.parse("@400000004c91b044077a9e94 svc[42]: up") == (
        {"program": "svc", "pid": "42", "message": "up"},
        at,
    )
    assert parser.parse("@400000004c91b044077a9e94 listening on :80") == (
        {"message": "listening on :80"},
        at,
    )
    assert parser.times([line, line]) == [at, at]
    assert parser.spans(line + "\n" + line) == [(1, len(line), at), (1, 2 * len(line) + 1, at)]
    assert parser.parse("@3fffffffffffffff00000000 before 1970") == (
        {"message": "before 1970"},
        None,
    )
