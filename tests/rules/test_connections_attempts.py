"""`attempts` (rules/connections.py `Attempts`): a count rule's lines that count depending on
other lines of their connection, and builtin:sshd's use of it (one keyboard-interactive
attempt logged twice counted once; pam_unix lines and logins counted where a connection names
two users)."""

from __future__ import annotations

import re

import pytest

from alerter.core.events import LogBatch, LogEvent
from alerter.rules.connections import Attempts, AttemptSpec
from alerter.rules.engine import Engine
from alerter.rules.loader import RuleFileError, load_rule_files
from tests.rules.helpers import log
from tests.rules.test_fail2ban_samples import SAMPLES, _rules, _windows, counted, samples

SPEC = AttemptSpec(
    id="pid",
    address=("peer",),
    user=("u",),
    same_attempt=(("second", "first"),),
    other_user=("unix", "ok"),
    ends=("ok",),
    within=10.0,
)
LINE = re.compile(
    r"(?:(?P<first>first)|(?P<second>second)|(?P<unix>unix)|(?P<ok>ok)) (?P<u>\S*) (?P<peer>\S+)"
)


def judge(a: Attempts, conn: str, text: str, now: float = 1.0) -> bool:
    m = LINE.fullmatch(text)
    assert m is not None
    assert a.address(m.group) == m["peer"]
    return a.counts(conn, m.group, m["peer"], now)


def test_the_second_line_right_after_the_first_is_the_same_attempt() -> None:
    a = Attempts(SPEC)
    assert judge(a, "7", "first root 192.0.2.1")
    assert not judge(a, "7", "second root 192.0.2.1")
    # the pairing is used once: another second line is another attempt
    assert judge(a, "7", "second root 192.0.2.1")


def test_first_lines_without_their_second_line_each_count() -> None:
    # sshd logs the PAM line of every failed attempt, the Failed line only for some
    a = Attempts(SPEC)
    assert [judge(a, "7", "first root 192.0.2.1") for _ in range(3)] == [True] * 3
    assert not judge(a, "7", "second root 192.0.2.1")
    assert judge(a, "7", "first root 192.0.2.1")


def test_a_second_line_pairs_only_within_its_connection() -> None:
    a = Attempts(SPEC)
    assert judge(a, "7", "first root 192.0.2.1")
    assert judge(a, "8", "second root 192.0.2.1")
    assert judge(a, "", "first root 192.0.2.1")
    assert judge(a, "", "second root 192.0.2.1")  # no connection id: stands alone
    assert not judge(a, "7", "second root 192.0.2.1")


def test_other_user_lines_count_once_the_connection_named_two_users() -> None:
    a = Attempts(SPEC)
    assert not judge(a, "7", "unix root 192.0.2.1")
    assert not judge(a, "7", "unix root 192.0.2.1")  # the same user again
    assert not judge(a, "7", "unix  192.0.2.1")  # no user named: nothing learned
    assert judge(a, "7", "ok sudoer 192.0.2.1")  # a login as another user
    assert len(a) == 0  # `ends`: the connection's state dropped


def test_a_connection_whose_lines_name_one_user_counts_nothing() -> None:
    a = Attempts(SPEC)
    assert not judge(a, "7", "unix rda 192.0.2.1")
    assert not judge(a, "7", "ok rda 192.0.2.1")


def test_an_ending_line_of_an_unknown_connection_leaves_no_state() -> None:
    a = Attempts(SPEC)
    assert not judge(a, "7", "ok deploy 192.0.2.1")
    assert not judge(a, "", "ok deploy 192.0.2.1")  # no connection: cannot tell
    assert len(a) == 0


def test_attempt_state_is_bounded_and_forgotten_after_ttl() -> None:
    a = Attempts(SPEC, limit=2)
    for pid in ("1", "2", "3"):
        judge(a, pid, "first root 192.0.2.1")
    assert len(a) == 2
    assert judge(a, "1", "second root 192.0.2.1")  # dropped: the oldest
    assert not judge(a, "3", "second root 192.0.2.1")
    judge(a, "2", "unix root 192.0.2.1", now=1.0)
    assert not judge(a, "2", "ok admin 192.0.2.1", now=20.0)  # ttl passed: a reused pid


def test_a_line_naming_another_peer_is_another_connection() -> None:
    # sshd's pid reused by the next client: the first one's user and open attempt are not its
    a = Attempts(SPEC)
    assert not judge(a, "7", "unix root 198.51.100.20")
    assert not judge(a, "7", "ok deploy 192.0.2.10")  # its own only user: no switch
    assert judge(a, "7", "first root 198.51.100.20")
    assert judge(a, "7", "second root 192.0.2.11")  # not the first line's attempt
    # the same peer again, within `within`: the same connection
    assert not judge(a, "7", "unix root 192.0.2.11")
    assert judge(a, "7", "unix admin 192.0.2.11")


# --- the rule option --------------------------------------------------------------------------

RULE = """
groups:
  - name: g
    rules:
      - alert: A
        logs:
          match: '^(?P<pid>\\d+) (?:fail from (?P<ip>\\S+)|(?:(?P<first>pam)|(?P<second>kbd)) (?P<u>\\S+) (?P<peer>\\S+))$'
        aggregate: count
        attempts: {ATTEMPTS}
        over: 10m
        by: [ip]
        threshold: ">= 3"
"""
GOOD = "{id: pid, address: [peer], user: [u], same_attempt: {second: first}}"


def test_an_attempts_rule_counts_each_attempt_once_for_the_lines_address() -> None:
    e = Engine(load_rule_files([("t", RULE.replace("{ATTEMPTS}", GOOD))], 15), {})
    assert log(e, 0, "5 pam root 192.0.2.7") == []
    assert log(e, 1, "5 kbd root 192.0.2.7") == []  # the same attempt
    assert log(e, 2, "6 kbd root 192.0.2.7") == []  # another connection's: counts
    ts = log(e, 3, "7 fail from 192.0.2.7")
    assert [(t.alert.labels["ip"], t.alert.value) for t in ts] == [("192.0.2.7", 3)]


@pytest.mark.parametrize(
    ("attempts", "extra", "message"),
    [
        ("{id: pid, address: [nope]}", "", "attempts: 'nope' is not a group of match"),
        ("{id: pid, address: [ip]}", "", "attempts: address 'ip' is the `by` label"),
        ("{id: pid, address: [peer], other_user: [first]}", "", "other_user needs user"),
        ("{id: pid, address: [peer], bogus: 1}", "", "bogus"),
        ("{id: pid}", "", "address"),
        ("{id: pid, address: [peer], within: 0s}", "", "within must be > 0"),
        (GOOD, "connection: {id: pid}", "attempts: not with connection"),
    ],
)
def test_attempts_is_checked_at_load(attempts: str, extra: str, message: str) -> None:
    text = RULE.replace("{ATTEMPTS}", attempts)
    if extra:
        text = text.replace("        over: 10m", f"        {extra}\n        over: 10m")
    with pytest.raises(RuleFileError) as err:
        load_rule_files([("t.yaml", text)], 15)
    assert message in str(err.value)


def test_attempts_is_for_count_rules_with_one_by_label() -> None:
    text = RULE.replace("{ATTEMPTS}", GOOD).replace("aggregate: count", "aggregate: rate")
    with pytest.raises(RuleFileError) as err:
        load_rule_files([("t.yaml", text)], 15)
    assert "attempts: only used by aggregate count" in str(err.value)
    text = RULE.replace("{ATTEMPTS}", GOOD).replace("by: [ip]", "by: [ip, u]")
    with pytest.raises(RuleFileError) as err:
        load_rule_files([("t.yaml", text)], 15)
    assert "attempts: needs one `by` label" in str(err.value)


# --- builtin:sshd -------------------------------------------------------------------------------

H = "Dec  4 10:00:0{s} host sshd[{pid}]: "
PEER = "203.0.113.9"


def sshd(lines: list[tuple[int, str]]) -> list[set[str]]:
    """What each line counts for, in builtin:sshd (SSHBruteForce or another rule)."""
    return counted(("sshd",), [H.format(s=i % 10, pid=pid) + x for i, (pid, x) in enumerate(lines)])


def test_keyboard_interactive_failures_of_a_valid_user_count_once_each() -> None:
    # OpenSSH 7-9 with LogLevel INFO: the PAM line for every attempt (auth-pam.c sshpam_query),
    # auth.c's Failed line only from MaxAuthTries/2 failures on, right after the PAM line
    pam = f"error: PAM: Authentication failure for root from {PEER}"
    kbd = f"Failed keyboard-interactive/pam for root from {PEER} port 4242 ssh2"
    got = sshd([(9, pam), (9, pam), (9, pam), (9, kbd), (9, pam), (9, kbd)])
    assert [bool(c) for c in got] == [True, True, True, False, True, False]
    assert all(c <= {PEER} for c in got)


def test_keyboard_interactive_failures_of_an_invalid_user_count_once_each() -> None:
    pam = f"error: PAM: Authentication failure for illegal user admin from {PEER}"
    kbd = f"Failed keyboard-interactive/pam for invalid user admin from {PEER} port 4242 ssh2"
    got = sshd([(9, pam), (9, kbd), (9, pam), (9, kbd)])
    assert got == [{PEER}, set(), {PEER}, set()]


def test_a_failed_keyboard_interactive_line_without_its_pam_line_counts() -> None:
    # [f2b:77] as fail2ban's sample has it, alone; and after another connection's PAM line
    kbd = f"Failed keyboard-interactive/pam for invalid user jamedds from {PEER} port 33723 ssh2"
    pam = f"error: PAM: Authentication failure for illegal user x from {PEER}"
    assert sshd([(2554, kbd)]) == [{PEER}]
    assert sshd([(1, pam), (2, kbd)]) == [{PEER}, {PEER}]


def test_users_switching_in_one_connection_count_and_one_user_counts_nothing() -> None:
    # fail2ban's sample lines 228-254 (pids 1556, 1558, 1559)
    unix = "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
    got = sshd(
        [
            (1556, unix + "ruser= rhost=192.0.2.113  user=rda"),
            (1556, unix + "ruser=rda rhost=192.0.2.113 [preauth]"),
            (1556, "Accepted password for rda from 192.0.2.113 port 52100 ssh2"),
            (1558, unix + "ruser=root rhost=192.0.2.114"),
            (1558, unix + "ruser=sudoer rhost=192.0.2.114"),
            (1558, "Accepted password for known from 192.0.2.114 port 52100 ssh2"),
            (1559, unix + "ruser=root rhost=192.0.2.116"),
            (1559, unix + "ruser=root rhost=192.0.2.116"),
            (1559, "Accepted password for known from 192.0.2.116 port 52100 ssh2"),
        ]
    )
    assert got[:6] == [set(), set(), set(), set(), {"192.0.2.114"}, {"192.0.2.114"}]
    assert got[6:] == [set(), set(), {"192.0.2.116"}]


def test_a_password_failure_and_its_pam_unix_line_count_once() -> None:
    # Debian's sshd with UsePAM: pam_unix's line, then auth.c's Failed line of the attempt
    unix = "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
    got = sshd(
        [
            (3, unix + f"rhost={PEER}  user=root"),
            (3, f"Failed password for root from {PEER} port 4242 ssh2"),
            (3, f"Accepted password for root from {PEER} port 4242 ssh2"),
        ]
    )
    assert got == [set(), {PEER}, set()]


@pytest.mark.parametrize(
    ("line", "counts"),
    [
        # [forged] a user name ending as sshd's `from ADDR port N ssh2`, then text: nobody
        (
            f"Accepted password for x from 198.51.100.7 port 22 ssh2: y from {PEER} port 1 ssh2",
            set(),
        ),
        # ... without text after it: the anchored end is sshd's (the real peer)
        (f"Accepted password for x from 198.51.100.7 port 22 ssh2 from {PEER} port 1 ssh2", {PEER}),
        # [forged] pam_unix's user= is the client's name: it cannot move rhost
        (
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
            f"rhost={PEER}  user=x rhost=198.51.100.7",
            {PEER},
        ),
        (
            f"Failed keyboard-interactive/pam for x from 198.51.100.7 port 22 ssh2: y from {PEER} "
            "port 1 ssh2",
            set(),
        ),
        (
            f"error: PAM: Authentication failure for x from 198.51.100.7 port 22 ssh2: y from {PEER}",
            set(),
        ),
    ],
)
def test_forged_text_in_judged_lines_never_counts_another_address(
    line: str, counts: set[str]
) -> None:
    unix = "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
    # a connection that named two users already: its judged lines count, only for its peer
    got = sshd([(4, unix + f"ruser=root rhost={PEER}"), (4, unix + f"ruser=admin rhost={PEER}")])
    assert got == [set(), {PEER}]
    got = sshd(
        [
            (4, unix + f"ruser=root rhost={PEER}"),
            (4, unix + f"ruser=admin rhost={PEER}"),
            (4, line),
        ]
    )
    assert got[2] == counts


def test_a_user_switch_forged_by_text_is_one_connection_s_own_count() -> None:
    # [forged] user names with spaces and sshd's words: the lines of one connection (one pid)
    # can make that connection count, only ever for its own peer
    got = sshd(
        [
            (
                4,
                f"Failed password for invalid user a from 198.51.100.7 port 22 ssh2 from {PEER} port 1 ssh2",
            ),
            (4, f"Accepted password for b from 198.51.100.7 port 22 ssh2 from {PEER} port 1 ssh2"),
        ]
    )
    assert got == [{PEER}, set()]


def _one_batch_windows(
    lines: list[str], batch: LogBatch
) -> dict[tuple[str, tuple[str, ...]], object]:
    e = Engine(_rules(("sshd",)), {})
    e.process(batch, 1000.0)
    return _windows(e)


@pytest.mark.integration  # (a system package: in CI, the skip below fails the run)
@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs the fail2ban package (tests/system-deps.sh)"
)
def test_the_samples_in_one_batch_count_as_line_by_line() -> None:
    """The plan for a batch without fields (AttemptScan) and the journal's path (each entry
    judged by LogRule.observe, its pid from _PID) count the same as lines one by one."""
    lines = [s.line for s in samples("sshd", "sshd")]
    e = Engine(_rules(("sshd",)), {})
    for x in lines:
        log(e, 1000.0, x, source="auth")
    one_by_one = _windows(e)
    assert one_by_one
    bare = LogBatch("auth", 1000.0, None, text="\n".join(lines))
    assert _one_batch_windows(lines, bare) == one_by_one
    events = [LogEvent(1000.0, "auth", x, {"_UID": "0"}) for x in lines]
    assert _one_batch_windows(lines, LogBatch.of_events("auth", 1000.0, events)) == one_by_one


def test_journal_entries_pair_by_their_pid_field() -> None:
    """In the journal sshd's message has no `sshd[pid]: ` header: the connection is the
    entry's pid (journald's _PID, the collector's `pid` field)."""
    pam = f"error: PAM: Authentication failure for illegal user admin from {PEER}"
    kbd = f"Failed keyboard-interactive/pam for invalid user admin from {PEER} port 4100 ssh2"

    def entry(line: str, pid: str) -> LogEvent:
        return LogEvent(1000.0, "journal", line, {"_UID": "0", "pid": pid})

    e = Engine(_rules(("sshd",)), {})
    e.process(LogBatch.of_events("journal", 1000.0, [entry(pam, "9"), entry(kbd, "9")]), 1000.0)
    e.process(LogBatch.of_events("journal", 1000.0, [entry(pam, "9"), entry(kbd, "10")]), 1000.0)
    ((key, window),) = [(k, w) for (ident, k), w in _windows(e).items() if "BruteForce" in ident]
    assert key == (PEER,)
    assert sum(window[0][1::2]) == 3  # (bucket, count) pairs


def test_repeated_pam_lines_count_each_attempt() -> None:
    # [rsyslog] a valid user's PAM lines (no Failed line at LogLevel INFO) reduced to one
    pam = f"error: PAM: Authentication failure for root from {PEER}"
    kbd = f"Failed keyboard-interactive/pam for root from {PEER} port 4242 ssh2"
    e = Engine(_rules(("sshd",)), {})
    for line in (pam, f"message repeated 3 times: [ {pam}]", kbd):
        log(e, 1000.0, H.format(s=1, pid=9) + line, source="auth")
    ((key, window),) = [(k, w) for (ident, k), w in _windows(e).items() if "BruteForce" in ident]
    assert key == (PEER,)
    assert sum(window[0][1::2]) == 4  # 1 + 3, the Failed line paired
