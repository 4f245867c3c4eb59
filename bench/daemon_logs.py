"""Logs and configs for bench/daemon.py: what a user's daemon reads and how a user configures it.

The logs are generated with real OpenSSH (auth.log, RFC 3164 lines as rsyslog writes them) and
nginx (combined format with `$request_time` appended) line formats, timed over the few minutes
before they are generated, so that every line falls inside the rules' windows when the daemon
reads it (older lines would count for nothing: DESIGN "Event time").

auth.log is an internet-facing host's: about half of its lines are a password-guessing storm from
`STORM` addresses (198.18.0.0/15, RFC 2544's benchmarking range) taking turns, each attempt logged
as OpenSSH and PAM log it (4-6 lines); the rest are logins, cron, sudo and scanners' probes.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

STORM = 2000  # brute-force addresses
SPAN = 240.0  # seconds of log, ending when it is generated
SSHD_RX = (
    r"Failed (?:password|publickey) for (?:invalid user )?(?P<user>\S*) from "
    r"(?P<ip>[0-9A-Fa-f.:]+) port"
)  # the sshd pack's SSHBruteForce pattern: the bare loop's regex
NGINX_PATTERN = (
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+)[^"]*" '
    r"(?P<status>\d{3}) (?P<bytes>\d+)"
)  # DESIGN.md's nginx collector

INVALID_USERS = ("admin", "test", "user", "ubuntu", "oracle", "postgres", "git", "ftpuser", "pi")
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "curl/8.11.0",
)
PROBES = ("/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/index.php", "/cgi-bin/luci")


def storm_ip(k: int) -> str:
    return f"198.18.{k // 256}.{k % 256}"


def _storm(rnd: random.Random, ip: str) -> list[str]:
    pid, port = rnd.randrange(2000, 60000), rnd.randrange(30000, 65000)
    s = f"sshd[{pid}]: "
    if rnd.random() < 0.4:
        return [
            f"{s}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
            f"ruser= rhost={ip}  user=root",
            f"{s}Failed password for root from {ip} port {port} ssh2",
            f"{s}Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
            f"{s}Disconnected from authenticating user root {ip} port {port} [preauth]",
        ]
    u = rnd.choice(INVALID_USERS)
    return [
        f"{s}Invalid user {u} from {ip} port {port}",
        f"{s}pam_unix(sshd:auth): check pass; user unknown",
        f"{s}pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
        f"rhost={ip}",
        f"{s}Failed password for invalid user {u} from {ip} port {port} ssh2",
        f"{s}Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
        f"{s}Disconnected from invalid user {u} {ip} port {port} [preauth]",
    ]


def _background(rnd: random.Random, session: int) -> list[str]:
    pid, port, r = rnd.randrange(2000, 60000), rnd.randrange(30000, 65000), rnd.random()
    s = f"sshd[{pid}]: "
    if r < 0.3:
        ip = f"10.0.{rnd.randrange(4)}.{rnd.randrange(1, 255)}"
        return [
            f"{s}Accepted publickey for deploy from {ip} port {port} ssh2: ED25519 "
            "SHA256:3q0tB6Xbq8cHfRj1yq5rV2k0mWcQpQhE3x4l9sV7yZk",
            f"{s}pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)",
            f"systemd-logind[612]: New session {session} of user deploy.",
            f"{s}Received disconnect from {ip} port {port}:11: disconnected by user",
            f"{s}Disconnected from user deploy {ip} port {port}",
            f"{s}pam_unix(sshd:session): session closed for user deploy",
            f"systemd-logind[612]: Session {session} logged out. Waiting for processes to exit.",
            f"systemd-logind[612]: Removed session {session}.",
        ]
    if r < 0.65:
        return [
            f"CRON[{pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            f"CRON[{pid}]: pam_unix(cron:session): session closed for user root",
        ]
    if r < 0.8:
        return [
            "sudo:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; "
            "COMMAND=/usr/bin/systemctl reload nginx",
            "sudo: pam_unix(sudo:session): session opened for user root(uid=0) by deploy(uid=1000)",
            "sudo: pam_unix(sudo:session): session closed for user root",
        ]
    ip = f"198.19.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
    if r < 0.9:
        return [f"{s}Connection closed by {ip} port {port} [preauth]"]
    return [
        f"{s}error: kex_exchange_identification: Connection closed by remote host",
        f"{s}Connection closed by {ip} port {port}",
    ]


def auth_messages(seed: int = 1, storm: int = STORM) -> Iterator[str]:
    """auth.log messages (after `host`): storm attempts from `storm` addresses in turn (a
    shuffled order), interleaved with the rest of a host's auth traffic, half of the lines each."""
    rnd = random.Random(seed)
    order = list(range(storm))
    rnd.shuffle(order)
    attempt = session = 0
    while True:
        if storm and rnd.random() < 0.5:
            yield from _storm(rnd, storm_ip(order[attempt % storm]))
            attempt += 1
        else:
            session += 1
            yield from _background(rnd, session)


def nginx_requests(seed: int = 2) -> Iterator[tuple[str, str, int, int, str, str]]:
    """(client, request, status, bytes, user agent, request time) of a busy site's access log:
    mostly pages and assets, 1% 5xx, 4% 404, and three scanners probing for known files."""
    rnd = random.Random(seed)
    while True:
        r = rnd.random()
        ip = f"100.64.{rnd.randrange(20)}.{rnd.randrange(1, 255)}"
        agent, rt = rnd.choice(AGENTS), f"{rnd.expovariate(1 / 0.05):.3f}"
        if r < 0.02:
            ip, agent = f"203.0.113.{rnd.randrange(3) + 7}", "Mozilla/5.0 zgrab/0.x"
            yield ip, f"GET {rnd.choice(PROBES)} HTTP/1.1", 404, 153, agent, "0.001"
        elif r < 0.03:
            yield ip, "POST /api/v1/orders HTTP/1.1", rnd.choice((500, 502, 504)), 0, agent, rt
        elif r < 0.07:
            yield ip, f"GET /p/{rnd.randrange(10**6)} HTTP/1.1", 404, 162, agent, rt
        elif r < 0.13:
            yield ip, "GET /static/css/site.css HTTP/1.1", 304, 0, agent, "0.000"
        elif r < 0.5:
            asset = rnd.choice(("js/app.3f9c1e.js", "img/logo.svg", "css/site.css"))
            yield ip, f"GET /static/{asset} HTTP/1.1", 200, rnd.randrange(2000, 90000), agent, rt
        else:
            path = f"/api/v1/items/{rnd.randrange(50000)}" if r < 0.8 else "/"
            yield ip, f"GET {path} HTTP/1.1", 200, rnd.randrange(500, 40000), agent, rt


def _write(path: Path, n: int, end: float, line: Callable[[float], str]) -> None:
    """n lines, the i-th at end - SPAN + SPAN * i / n, made by `line(t)`."""
    with path.open("w") as f:
        for start in range(0, n, 10_000):
            f.write(
                "".join(
                    line(end - SPAN + SPAN * i / n) for i in range(start, min(n, start + 10_000))
                )
            )


def write_auth(path: Path, n: int, end: float, storm: int = STORM, seed: int = 1) -> None:
    """n auth.log lines timed up to `end` (local time, as rsyslog writes them)."""
    msgs = auth_messages(seed, storm)
    stamps: dict[int, str] = {}

    def line(t: float) -> str:
        s = int(t)
        if s not in stamps:
            stamps[s] = time.strftime("%b %e %H:%M:%S", time.localtime(s))
        return f"{stamps[s]} web1 {next(msgs)}\n"

    _write(path, n, end, line)


def write_access(path: Path, n: int, end: float, seed: int = 2) -> None:
    """n nginx access.log lines timed up to `end` (UTC)."""
    reqs = nginx_requests(seed)
    stamps: dict[int, str] = {}

    def line(t: float) -> str:
        s = int(t)
        if s not in stamps:
            stamps[s] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(s))
        ip, req, status, size, agent, rt = next(reqs)
        return f'{ip} - - [{stamps[s]}] "{req}" {status} {size} "-" "{agent}" {rt}\n'

    _write(path, n, end, line)


def write_keys(path: Path, keys: int, end: float) -> None:
    """`keys` failed logins, each from its own address (a slow distributed scan)."""
    stamps: dict[int, str] = {}
    k = iter(range(1, keys + 1))

    def line(t: float) -> str:
        s = int(t)
        if s not in stamps:
            stamps[s] = time.strftime("%b %e %H:%M:%S", time.localtime(s))
        a = next(k)
        return (
            f"{stamps[s]} web1 sshd[{1000 + a % 50000}]: Failed password for root from "
            f"10.{a >> 16}.{(a >> 8) & 255}.{a & 255} port {30000 + a % 30000} ssh2\n"
        )

    _write(path, keys, end, line)


# --- configs ---------------------------------------------------------------------------------


def one_rule(source: str | None) -> str:
    """The one SSHBruteForce rule a user writes, reading collector `source` (None: any)."""
    return (
        ONE_RULE
        if source == "auth"
        else ONE_RULE.replace(
            "          source: auth\n", "" if source is None else f"          source: {source}\n"
        )
    )


ONE_RULE = r"""
groups:
  - name: ssh
    rules:
      - alert: SSHBruteForce
        logs:
          source: auth
          match: 'Failed (?:password|publickey) for (?:invalid user )?(?P<user>\S*) from (?P<ip>[0-9A-Fa-f.:]+) port'
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
        labels: {severity: warning}
        annotations:
          summary: "{{ labels.ip }} failed {{ value }} SSH logins in 10m"
"""


def many_rules(n: int) -> str:
    """n rules, one for each of the storm's first n addresses (a watch list generated from an
    inventory): 5 password attempts from that address in 10m. (Each rule's literal is its
    address: rules whose rarest literal is the same, `Failed password for ` here before the
    address, are not helped by the one-pass search for many literals.)"""
    rules = "".join(
        f"      - alert: Watched{k}\n"
        f"        logs: {{source: auth, match: 'from {re.escape(storm_ip(k))} port \\d+ ssh2'}}\n"
        '        aggregate: count\n        over: 10m\n        threshold: ">= 5"\n'
        for k in range(n)
    )
    return f"groups:\n  - name: watched\n    rules:\n{rules}"


KEYS_RULE = r"""
groups:
  - name: ssh
    rules:
      - alert: SSHFailuresByAddress
        logs:
          source: auth
          match: 'Failed password for (?:invalid user )?\S* from (?P<addr>[0-9A-Fa-f.:]+) port'
        aggregate: count
        over: 10m
        by: [addr]
        threshold: ">= 5"
        max_keys: 1000000
        labels: {severity: warning}
"""


def all_packs() -> list[str]:
    """`builtin:NAME` for every shipped pack (rules/packs/*.yaml in this checkout)."""
    packs = Path(__file__).resolve().parent.parent / "rules" / "packs"
    return sorted(f"builtin:{p.stem}" for p in packs.glob("*.yaml"))


def collector(name: str, path: Path, parser: str) -> str:
    """A file collector entry: `parser` is syslog, none, or nginx (the regex with its time)."""
    if parser == "nginx":
        return (
            f'  - name: {name}\n    type: file\n    paths: ["{path}"]\n    start_at: beginning\n'
            f"    parser:\n      type: regex\n      pattern: '{NGINX_PATTERN}'\n"
            f'      time_field: time\n      time_format: "%d/%b/%Y:%H:%M:%S %z"\n'
        )
    return (
        f'  - {{name: {name}, type: file, paths: ["{path}"], start_at: beginning, '
        f"parser: {{type: {parser}}}}}\n"
    )


def write_config(
    d: Path,
    collectors: list[str],
    rule_files: list[str],
    rules: str | None,
    hook_url: str,
    api_port: int,
    evaluation_interval: str = "15s",
) -> Path:
    """config.yaml in `d` as a user writes one: the collectors, the rule files (plus `rules`
    as rules.yaml), a webhook, Alertmanager-style grouping."""
    files = list(rule_files)
    if rules is not None:
        (d / "rules.yaml").write_text(rules)
        files.append("rules.yaml")
    cfg = d / "config.yaml"
    cfg.write_text(
        f"global:\n  state_dir: {d / 'state'}\n  evaluation_interval: {evaluation_interval}\n"
        f"server:\n  listen: 127.0.0.1:{api_port}\n"
        f"collectors:\n{''.join(collectors)}"
        f"rule_files: [{', '.join(repr(f) for f in files)}]\n"
        f'notifiers:\n  - {{name: hook, type: webhook, url: "{hook_url}"}}\n'
        "route:\n  receiver: hook\n  group_by: [alertname, host]\n  group_wait: 10s\n"
        "  group_interval: 1m\n  repeat_interval: 4h\n"
    )
    return cfg


HOST = "  - {name: host, type: host, interval: 15s}\n"
