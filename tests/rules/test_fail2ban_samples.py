"""The packs against fail2ban's own annotated sample logs (issue 13, point 5).

Debian's fail2ban package installs the sample logs its filters are tested with
(/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/NAME): each `# failJSON: {...}`
comment says whether the next line is a failure (`"match": true`) and for which `"host"`.
`# filterOptions:` lines say which of the filter's modes a block is for; only the blocks for
the normal (default) mode are read here, and lines whose `constraint` excludes that mode.

For each filter: of the failure lines whose host is an address literal, at least 95% must be
counted by the pack for that address (fed in order to one engine, as sshd's lines of a
connection follow each other: a line "counts for" an address when a rule's window then
changed for a key with that address), and no line fail2ban calls no failure may count for
anything. The few lines a pack deliberately misses are in `KNOWN`, each with why; the few "no
failure" lines of one filter that another of fail2ban's filters counts, and the pack counts, are
in `ELSEWHERE`. builtin:postfix is also compared with the postfix filter's rbl and auth modes
(fail2ban's postfix-rbl and postfix-sasl jails), and builtin:sshd with builtin:sshd-aggressive
with the sshd filter's aggressive mode.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from alerter.rules.engine import Engine
from alerter.rules.loader import load_rule_files
from alerter.rules.model import RuleSet
from tests.rules.helpers import log

SAMPLES = Path("/usr/lib/python3/dist-packages/fail2ban/tests/files/logs")
FLOOR = 0.95


@dataclass(frozen=True)
class Sample:
    where: str  # file:line
    line: str
    match: bool
    host: str | None  # the address literal fail2ban expects (IPv4-mapped as IPv4), else None
    desc: str


def _address(host: object) -> str | None:
    if not isinstance(host, str):
        return None
    try:
        a = ipaddress.ip_address(host)
    except ValueError:
        return None  # a host name, or fail2ban's "192.030.0.6" (not an address literal)
    if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped is not None:
        return str(a.ipv4_mapped)
    return str(a)


_MODE = re.compile(r"""opts\.get\('mode'\) (==|!=) '(\w+)'""")
_NAME = re.compile(r"""name ?== ?'([\w-]+)'""")


def _applies(constraint: str | None, name: str, mode: str = "normal") -> bool:
    """A failJSON constraint, read for `mode` of filter `name`. The sample files use two
    shapes (`opts.get('mode') OP 'x'`, `name == 'x'`); anything else is not guessed at."""
    if not constraint:
        return True
    ok = True
    for part in constraint.split(" and "):
        if m := _MODE.fullmatch(part.strip()):
            ok &= (m[2] == mode) == (m[1] == "==")
        elif m := _NAME.fullmatch(part.strip()):
            ok &= m[1] == name
        else:
            raise AssertionError(f"constraint not understood: {constraint!r}")
    return ok


def _in_mode(options: str, name: str, mode: str) -> bool:
    """Does a `# filterOptions:` block include the filter's `mode`?"""
    opts = json.loads(options)
    for o in opts if isinstance(opts, list) else [opts]:
        cond = o.get("test.condition")
        if cond and not _applies(cond, name, mode):
            continue
        if o.get("mode", "normal") == mode and "logtype" not in o:
            return True
    return False


def samples(file: str, name: str, mode: str = "normal") -> Iterator[Sample]:
    """The sample lines of the file's blocks for `mode` (the lines before the first
    `# filterOptions:` are the normal mode's)."""
    path = SAMPLES / file
    in_mode = mode == "normal"
    pending: dict[str, Any] | None = None  # a failJSON line's (JSON)
    for no, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if raw.startswith("# filterOptions:"):
            in_mode = _in_mode(raw.removeprefix("# filterOptions:"), name, mode)
        elif raw.startswith("# failJSON:"):
            pending = json.loads(raw.removeprefix("# failJSON:"))
        elif raw.startswith("#") or not raw.strip():
            continue
        elif pending is not None:
            spec, pending = pending, None
            if in_mode and _applies(spec.get("constraint"), name, mode):
                yield Sample(
                    f"{file}:{no}",
                    raw,
                    bool(spec.get("match")),
                    _address(spec.get("host")),
                    str(spec.get("desc", "")),
                )


@cache
def _rules(packs: tuple[str, ...]) -> RuleSet:
    files = [
        (
            f"builtin:{p}",
            resources.files("alerter.rules").joinpath("packs", f"{p}.yaml").read_text(),
        )
        for p in packs
    ]
    return load_rule_files(files, 15.0)


def _windows(e: Engine) -> dict[tuple[str, tuple[str, ...]], Any]:  # (the snapshot's)
    return {
        (ident, tuple(key)): window
        for ident, rule in e.snapshot()["rules"].items()
        for key, window in rule["window"]["keys"]
    }


def counted(packs: tuple[str, ...], lines: list[str]) -> list[set[str]]:
    """For each line, fed in order to one engine (as sshd's lines of a connection follow each
    other), the values of the keys whose windows it changed, in any rule of the packs."""
    e = Engine(_rules(packs), {})
    out: list[set[str]] = []
    before = _windows(e)
    for line in lines:
        log(e, 1000.0, line, source="auth")
        after = _windows(e)
        out.append({v for k, w in after.items() if before.get(k) != w for v in k[1]})
        before = after
    return out


def counted_for(packs: tuple[str, ...], line: str) -> set[str]:
    """The values of the keys one line counts for, alone."""
    return counted(packs, [line])[0]


# (fail2ban's sample file, its filter's name, the packs that read such lines)
FILTERS = [
    ("sshd", "sshd", ("sshd",)),
    # the same filter's samples as journald gives them (`HOST sshd[PID]: MESSAGE`)
    ("sshd-journal", "sshd", ("sshd",)),
    ("nginx-http-auth", "nginx-http-auth", ("nginx",)),
    ("nginx-limit-req", "nginx-limit-req", ("nginx",)),
    ("nginx-botsearch", "nginx-botsearch", ("nginx",)),
    ("nginx-bad-request", "nginx-bad-request", ("nginx",)),
    ("apache-auth", "apache-auth", ("apache",)),
    ("apache-noscript", "apache-noscript", ("apache",)),
    ("apache-botsearch", "apache-botsearch", ("apache",)),
    ("apache-overflows", "apache-overflows", ("apache",)),
    ("postfix", "postfix", ("postfix",)),
    # (builtin:pam too: it leaves dovecot's pam_unix lines to builtin:dovecot, KNOWN below)
    ("dovecot", "dovecot", ("dovecot", "pam")),
    ("pam-generic", "pam-generic", ("pam",)),
]

# each filter in its normal mode, and the modes of fail2ban's stock postfix jails besides it:
# [postfix] mode=more (normal + rbl), [postfix-sasl] mode=auth (jail.conf)
DEFAULT_MODES = [(f, n, p, "normal") for f, n, p in FILTERS] + [
    ("postfix", "postfix", ("postfix",), "rbl"),
    ("postfix", "postfix", ("postfix",), "auth"),
]
# modes that are off by default there, and the packs that are off by default here for them
# (sshd's aggressive mode has its own test below: its blocks mix normal and aggressive lines)
OTHER_MODES = [
    ("dovecot", "dovecot", ("dovecot", "pam", "dovecot-aggressive"), "aggressive"),
    # (its aggressive mode is normal + fallback, with two samples)
    ("nginx-http-auth", "nginx-http-auth", ("nginx", "nginx-aggressive"), "fallback"),
    ("postfix", "postfix", ("postfix", "postfix-aggressive"), "ddos"),
    # (normal, rbl, auth with "Invalid authentication mechanism", and ddos)
    ("postfix", "postfix", ("postfix", "postfix-aggressive"), "aggressive"),
]

# Failure lines of the samples the packs deliberately do not count for fail2ban's address,
# each with why (rules/packs/sshd.yaml says the same). The test fails if this list is not
# exactly what is missed: a new miss, or a line here that starts counting, is looked at.
_AUTH_INFO = (
    "two of sshd's `from ADDR port N ssh2`, one followed by text: as OpenSSH with SSH1's "
    "ruser writes it the peer is the first, as 7-9 writes it (user name `test from 127.0.0.1 "
    "port 58946 ssh2:`) the second; such a line counts for nobody"
)
_NGINX_USER = (
    "nginx's user name is the text before the first ':' of the credentials "
    '(ngx_http_auth_basic_user): as nginx writes it this line is user "test" from '
    "127.0.0.1, which is counted"
)
_RHOST_TWICE = (
    "` rhost=` twice (a name the client typed holds one): ambiguous, counted for nobody "
    "(rules/packs/pam.yaml); fail2ban counts its last or first"
)
_KERNEL_PREFIX = (
    "a kernel timestamp (`kernel:[  970.699396]: `) between sshd's tag and its message, which "
    "fail2ban's common prefix accepts (syslog-ng's kernel timestamps); sshd does not write it, "
    "and the pack's rules read the message right after sshd's tag"
)
_DOVECOT_PAM = (
    "pam_unix's line inside dovecot's auth process: the attempt counts in builtin:dovecot, from "
    "the login process's `(auth failed, N attempts)` summary of the same session (not in the "
    "sample file), so builtin:pam leaves it out (one attempt, one pack: rules/packs/pam.yaml)"
)
KNOWN = {
    "dovecot": {
        "dovecot:5": _DOVECOT_PAM,
        "dovecot:8": _DOVECOT_PAM,
        "dovecot:10": _DOVECOT_PAM,
        "dovecot:72": _DOVECOT_PAM,
    },
    "nginx-http-auth": {"nginx-http-auth:14": _NGINX_USER},
    "sshd": {"sshd:144": _AUTH_INFO},
    "sshd-journal": {"sshd-journal:64": _KERNEL_PREFIX, "sshd-journal:145": _AUTH_INFO},
    "pam-generic": {"pam-generic:21": _RHOST_TWICE, "pam-generic:23": _RHOST_TWICE},
}

# Lines a filter calls no failure that the pack counts because another of fail2ban's filters
# counts them, each with which. The test fails if this list is not exactly what is counted.
_NOSCRIPT = "apache-noscript counts it (a missing script is a probe; builtin:apache counts both)"
_APACHE_AUTH = "apache-auth counts it (`client denied by server configuration`, AH01630)"
ELSEWHERE = {
    "apache-botsearch": {"apache-botsearch:40": _NOSCRIPT, "apache-botsearch:43": _APACHE_AUTH},
}


@pytest.mark.integration  # (a system package: in CI, the skip below fails the run)
@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs the fail2ban package (tests/system-deps.sh)"
)
@pytest.mark.parametrize(("file", "name", "packs", "mode"), DEFAULT_MODES + OTHER_MODES)
def test_pack_counts_what_fail2ban_counts_in_its_modes(
    file: str, name: str, packs: tuple[str, ...], mode: str
) -> None:
    cases = list(samples(file, name, mode))
    got = dict(zip((s.where for s in cases), counted(packs, [s.line for s in cases]), strict=True))
    failures = [s for s in cases if s.match and s.host is not None]
    clean = [s for s in cases if not s.match]
    assert len(failures) >= 3, "the sample file changed shape"
    missed = [s for s in failures if s.host not in got[s.where]]
    wrongly = [(s, got[s.where]) for s in clean if got[s.where]]
    report = "\n".join(
        [f"missed {s.where}: {s.line!r} ({s.desc})" for s in missed]
        + [f"counted {s.where} for {c}: {s.line!r} ({s.desc})" for s, c in wrongly]
    )
    elsewhere = ELSEWHERE.get(file, {})
    assert {s.where for s, _ in wrongly} == elsewhere.keys(), report
    for s, c in wrongly:  # counted for the line's one client, as the other filter counts it
        assert len(c) == 1 and f"[client {next(iter(c))}]" in s.line, report
    known = {where: why for where, why in KNOWN.get(file, {}).items() if where in got}
    assert {s.where for s in missed} - known.keys() == set(), report
    assert known.keys() - {s.where for s in missed} == set(), "now counted: update KNOWN"
    rest = [s for s in failures if s.where not in known]
    assert len([s for s in rest if s not in missed]) >= FLOOR * len(rest), report


@pytest.mark.integration  # (a system package: in CI, the skip below fails the run)
@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs the fail2ban package (tests/system-deps.sh)"
)
@pytest.mark.parametrize("pack", ["sshd", "nginx"])
def test_floor_over_every_failure_line_of_the_pack(pack: str) -> None:
    """The floor over all the failure lines with an address of the pack's filters, the
    deliberate misses (KNOWN) included: sshd 111 of 114 (its syslog and journal samples), nginx
    29 of 30."""
    n = hit = 0
    for file, name, packs in FILTERS:
        if packs != (pack,):
            continue
        cases = list(samples(file, name))
        got = counted(packs, [s.line for s in cases])
        for s, c in zip(cases, got, strict=True):
            if s.match and s.host is not None:
                n += 1
                hit += s.host in c
    assert n >= 20, "the sample files changed shape"
    assert hit >= FLOOR * n, f"{hit} of {n}"
    assert n - hit == sum(1 for f, _, p in FILTERS if p == (pack,) for _ in KNOWN.get(f, {}))


# sshd's lines fail2ban's aggressive mode alone counts (its ddos and extra shapes) that
# builtin:sshd-aggressive misses, each with why
_SSH_AUDIT = (
    "the address is on a distribution's audit line (`SSH: Server;Ltype: Version;Remote: "
    "ADDR-PORT;...`, not upstream OpenSSH's), an earlier line of the same pid"
)
KNOWN_AGGRESSIVE = {"sshd:281": _SSH_AUDIT, "sshd:287": _SSH_AUDIT, "sshd:293": _SSH_AUDIT}


@pytest.mark.integration  # (a system package: in CI, the skip below fails the run)
@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs the fail2ban package (tests/system-deps.sh)"
)
def test_sshd_aggressive_counts_what_fail2ban_counts_in_aggressive_mode() -> None:
    """fail2ban's sshd filter in aggressive mode (normal, ddos and extra) against builtin:sshd
    with builtin:sshd-aggressive: the failure lines of the normal and aggressive blocks, and
    the aggressive blocks' lines that are no failure even then."""
    packs = ("sshd", "sshd-aggressive")
    aggressive = list(samples("sshd", "sshd", "aggressive"))
    assert len(aggressive) >= 30, "the sample file changed shape"
    ours = {s.where for s in aggressive}
    normal = [s for s in samples("sshd", "sshd") if s.where not in ours]  # normal's blocks only
    got = {
        s.where: c
        for cases in (normal, aggressive)
        for s, c in zip(cases, counted(packs, [s.line for s in cases]), strict=True)
    }
    failures = [s for s in normal + aggressive if s.match and s.host is not None]
    missed = {s.where for s in failures if s.host not in got[s.where]}
    assert missed == KNOWN["sshd"].keys() | KNOWN_AGGRESSIVE.keys()
    assert len(failures) - len(missed) >= FLOOR * len(failures)
    wrongly = [(s.where, s.line, got[s.where]) for s in aggressive if not s.match and got[s.where]]
    assert wrongly == []


@pytest.mark.integration  # (a system package: in CI, the skip below fails the run)
@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs the fail2ban package (tests/system-deps.sh)"
)
def test_a_failure_line_counts_for_its_own_address_only() -> None:
    """The lines fail2ban writes to test address injection count for the real peer alone."""
    lines = {
        s.line: s.host
        for s in samples("sshd", "sshd")
        if s.match
        and s.host is not None
        and "inject" in s.desc.lower()
        and KNOWN["sshd"].get(s.where) != _AUTH_INFO
    }
    assert len(lines) >= 2
    for line, host in lines.items():
        assert counted_for(("sshd",), line) == {host}, line


@pytest.mark.integration  # (a system package: in CI, the skip below fails the run)
@pytest.mark.skipif(
    not SAMPLES.is_dir(), reason="needs the fail2ban package (tests/system-deps.sh)"
)
def test_an_auth_info_line_with_two_peers_counts_for_nobody() -> None:
    (line,) = [s.line for s in samples("sshd", "sshd") if KNOWN["sshd"].get(s.where) == _AUTH_INFO]
    assert counted_for(("sshd",), line) == set()


H = "Nov 28 07:00:00 web sshd[7]: "
REAL = "203.0.113.9"


@pytest.mark.parametrize(
    ("line", "counts"),
    [
        # [f2b:126] hostbased: client user and host are the client's text after the address
        (
            f'Failed hostbased for dan from {REAL} port 45785 ssh2: RSA 8c:e3:aa:0f, client user "dan",'
            ' client host "localhost.localdomain"',
            {REAL},
        ),
        # [forged] the same, a second "from ADDR port N ssh2" in the client host
        (
            f'Failed hostbased for dan from {REAL} port 45785 ssh2: RSA 8c:e3:aa:0f, client user "dan",'
            ' client host "x from 198.51.100.7 port 22 ssh2"',
            set(),
        ),
        # [forged] ... ending the line as sshd would (SSH1's ruser is the line's last text)
        (
            f"Failed password for user from {REAL} port 20000 ssh1: ruser x from 198.51.100.7 "
            "port 22 ssh2",
            set(),
        ),
        # [forged] in the user name, followed by text: counts for nobody
        (
            f"Failed password for invalid user x from 198.51.100.7 port 22 ssh2: y from {REAL} "
            "port 4242 ssh2",
            set(),
        ),
        (
            f"Failed publickey for invalid user x from 198.51.100.7 port 22 ssh2: RSA y from {REAL} "
            "port 4242 ssh2: RSA SHA256:abc",
            set(),
        ),
        # [forged] in the user name, no text after it: the line's end is sshd's (counted)
        (
            f"Failed password for invalid user x from 198.51.100.7 port 22 ssh2 from {REAL} "
            "port 4242 ssh2",
            {REAL},
        ),
        (
            f"Failed publickey for invalid user x from 198.51.100.7 port 22 ssh2 from {REAL} "
            "port 4242 ssh2: RSA SHA256:abc",
            {REAL},
        ),
        # [forged] PAM's line has no port: text after a port in it is the user name's
        (
            f"error: PAM: Authentication failure for illegal user x from 198.51.100.7 port 22 "
            f"ssh2: y from {REAL}",
            set(),
        ),
        (f"error: PAM: Authentication failure for illegal user x from {REAL}", {REAL}),
    ],
)
def test_client_text_after_the_address_never_chooses_it(line: str, counts: set[str]) -> None:
    """Text after sshd's `port N ssh2: ` counts where sshd's `from ADDR port N ssh` is in
    the line once; a forged second one makes the line count for nobody (a client can dodge
    its own count, never make another address count)."""
    assert counted_for(("sshd",), H + line) == counts
