"""The syslog line parser: RFC 5424, RFC 3164 as syslog daemons write it to files, and
daemontools' multilog lines (`@TAI64N`, the time in a label, then a syslog-like tag)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from alerter.collectors.timefmt import LocalTimes, TimeCache, syslog_time

ParseResult = tuple[dict[str, str] | None, float | None]

_FACILITIES = (
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
_SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

_RFC5424 = re.compile(
    r"<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) "
    r'(-|(?:\[(?:[^\]"\\]|\\.|"(?:[^"\\]|\\.)*")*\])+)'
    r"(?: (.*))?\Z",
    re.S,
)
_RFC3164 = re.compile(
    r"(?:<(\d{1,3})>)?"
    r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"  # BSD timestamp, no year
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"  # or RFC 3339 (rsyslog)
    r" (\S+) "  # host
    r"(?:([^\s:\[\]]+)(?:\[([^\]\s]*)\])?: ?)?"  # tag[pid]:
    r"(.*)\Z",
    re.S,
)
# daemontools' multilog `t` (runit's svlogd -t, s6-log `t` likewise): `@` + a TAI64N label, then
# the program's line, which is `PROG[PID]: message` when the program logged through syslog's
# conventions (dovecot-auth, vsftpd) and the message alone otherwise. No host.
_TAI64N = re.compile(
    r"@([0-9a-fA-F]{16})([0-9a-fA-F]{8}) "
    r"(?:([^\s:\[\]]+)(?:\[([^\]\s]*)\])?: ?)?"
    r"(.*)\Z",
    re.S,
)
# A TAI64 label is 2^62 + seconds of TAI. daemontools writes its clock (UTC, that is) + 10 s,
# TAI - UTC in 1970, and its tai64nlocal takes 10 s off again: leap seconds are counted by
# neither (libtai's tai_unix). So do we: an s6-log label of a clock kept in TAI (skalibs built
# to count leap seconds, TAI - UTC 37 s since 2017) is placed 27 s after its time.
_TAI64_UNIX = (1 << 62) + 10


def tai64n_time(secs: str, nanos: str) -> float | None:
    """A TAI64N label's hex seconds and nanoseconds to epoch seconds (None before 1970)."""
    t = int(secs, 16) - _TAI64_UNIX
    return t + int(nanos, 16) / 1e9 if 0 <= t < 1 << 40 else None


# What decides whether a line is RFC 3164 and its time: _RFC3164 matches a line exactly when
# this prefix does (the optional tag and `(.*)\Z` match any rest), and then with the same time.
# No line matches both this and _RFC5424 (after <PRI>, `\d{1,2} ` against `[A-Z]`/`\d{4}-`).
_RFC3164_TIME = re.compile(
    r"(?:<\d{1,3}>)?"
    r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r" \S+ "
)


# every name `SyslogParser.parse` gives a field (RFC 3164 / 3339 and RFC 5424 lines; the
# structured data is one field): rules/plans/keyed.py's `Fieldless` relies on it being all
FIELDS = frozenset(
    (
        "host",
        "message",
        "program",
        "pid",
        "priority",
        "facility",
        "severity",
        "version",
        "msgid",
        "structured_data",
    )
)


def _pri_fields(pri: str | None, fields: dict[str, str]) -> None:
    if pri is None:
        return
    n = int(pri)
    if n > 191:
        return
    fields["priority"] = pri
    fields["facility"] = _FACILITIES[n >> 3]
    fields["severity"] = _SEVERITIES[n & 7]


class SyslogParser:
    """RFC 5424, and RFC 3164 as written to files (`Mmm dd hh:mm:ss host tag[pid]: message`,
    with or without `<PRI>`, or with an RFC 3339 timestamp as rsyslog writes it), and
    daemontools' multilog files (`@TAI64N tag[pid]: message`, no host).

    Fields: host, program, pid, message; facility, severity, priority when a PRI is present;
    5424 adds msgid and structured_data (raw). Year-less timestamps are local time.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        local = LocalTimes(clock)

        def when(text: str) -> float | None:
            return syslog_time(text, clock()) if text[0].isalpha() else local.iso(text)

        self._time = TimeCache(when, clock)  # RFC 3164's BSD or RFC 3339 stamps by their text
        self._iso = TimeCache(local.iso)  # RFC 5424's

    def parse(self, line: str) -> ParseResult:
        if line.startswith("<"):
            m = _RFC5424.match(line)
            if m is not None:
                return self._rfc5424(m)
        elif line.startswith("@"):
            return _multilog(line)
        m = _RFC3164.match(line)
        if m is None:
            return None, None
        pri, ts, host, program, pid, message = m.groups()
        fields: dict[str, str] = {"host": host, "message": message}
        if program is not None:
            fields["program"] = program
        if pid is not None:
            fields["pid"] = pid
        if pri is not None:
            _pri_fields(pri, fields)
        return fields, self._time[ts]

    def times(self, lines: list[str]) -> list[float | None]:
        """Each line's time as `parse` gives it, without building its fields.

        The engine asks for every line's time (core/eventtime.py). Lines of one second and
        host usually follow each other and share their head, what the regex matched (up to
        the space after the host): a match reads nothing past its end (it ends with the host's
        greedy `\\S+` and the space that stopped it), so each following line that starts
        with that head matches the same way, found with `startswith` instead of a match."""
        get = self._time.__getitem__
        match = _RFC3164_TIME.match
        out: list[float | None] = [None] * len(lines)
        n = len(lines)
        i = 0
        while i < n:
            line = lines[i]
            m = match(line)
            if m is None:
                if line.startswith(("<", "@")):  # RFC 5424, multilog, or no time
                    out[i] = self.parse(line)[1]
                i += 1
                continue
            t = get(m[1])
            head = line[: m.end()]
            j = i + 1
            while j < n and lines[j].startswith(head):
                j += 1
            out[i:j] = [t] * (j - i)
            i = j
        return out

    def spans(self, text: str) -> list[tuple[int, int, float | None]]:
        """`times` for the lines of `text` (as `text.split("\n")` gives them) without splitting
        it: (lines, end, time) for each run of consecutive lines of one head (or one line that
        has none), `end` the offset of the newline ending the run (len(text) for the last).

        A run's head is matched once; the run is extended by galloping over the text: the
        last line starting with the head within a window twice as long each time, kept when
        every newline up to it is followed by the head (two counts in C), else line by line.
        A run of one line costs one search within its next line."""
        get = self._time.__getitem__
        match = _RFC3164_TIME.match
        find, rfind, count, startswith = text.find, text.rfind, text.count, text.startswith
        n = len(text)
        out: list[tuple[int, int, float | None]] = []
        pos = 0
        while True:
            end = find("\n", pos)
            if end < 0:
                end = n
            m = match(text, pos, end)
            if m is None:
                t = self.parse(text[pos:end])[1] if startswith(("<", "@"), pos) else None
                out.append((1, end, t))
            else:
                key = "\n" + text[pos : m.end()]
                lines, step = 1, 2 * (end - pos) + len(key)
                while end < n and startswith(key, end):
                    r = rfind(key, end, min(n, end + step))  # the last head line in reach
                    c = count("\n", end, r + 1)
                    if c == count(key, end, r + len(key)):  # every line up to it: the head
                        lines += c
                        end = find("\n", r + 1)
                        if end < 0:
                            end = n
                        step *= 2
                    else:  # another line in between: the head's lines one by one
                        lines += 1
                        end = find("\n", end + 1)
                        if end < 0:
                            end = n
                        step = 2 * len(key)
                out.append((lines, end, get(m[1])))
            if end >= n:
                return out
            pos = end + 1

    def _rfc5424(self, m: re.Match[str]) -> ParseResult:
        pri, version, ts, host, app, procid, msgid, sd, message = m.groups()
        fields: dict[str, str] = {
            "version": version,
            "message": (message or "").removeprefix("\ufeff"),
        }
        for key, value in (
            ("host", host),
            ("program", app),
            ("pid", procid),
            ("msgid", msgid),
            ("structured_data", sd),
        ):
            if value != "-":
                fields[key] = value
        _pri_fields(pri, fields)
        return fields, None if ts == "-" else self._iso[ts]


def _multilog(line: str) -> ParseResult:
    """A multilog line: its TAI64N label's time, and program, pid, message as RFC 3164's."""
    m = _TAI64N.match(line)
    if m is None:
        return None, None
    secs, nanos, program, pid, message = m.groups()
    fields: dict[str, str] = {"message": message}
    if program is not None:
        fields["program"] = program
    if pid is not None:
        fields["pid"] = pid
    return fields, tai64n_time(secs, nanos)
