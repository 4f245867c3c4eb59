"""builtin:sshd against a real OpenSSH server: sshd runs as a unit of the systemd sandbox
(tests/sandbox.py) and logs through its journald; the whole daemon, also a unit there, reads
that journal. Clients on loopback (ssh through sshpass, each from its own 127.0.0.N) fail to
log in in the ways a password-guessing client does, and the test reads the firing alerts:

- a valid user's wrong passwords (5 connections from .2) fire SSHBruteForce with 5;
- unknown users (3 from .3) fire SSHInvalidUsers with 3;
- a user name holding sshd's own `from 198.51.100.7 port 22 ssh2` (5 from .4) counts for the
  real peer, never for the address in the name;
- a valid user offering four keys sshd does not know, then one it does (5 logins from .5),
  counts nothing: a client trying its keys in turn is not failing, and neither sshd's
  `Postponed publickey` nor its `Accepted publickey` line is a failure;
- the same failure text written to the journal by user nobody (`logger -t sshd[4242]`) counts
  nothing (the pack reads root's entries only);
- last, 5 more failures from .6: once they fire, every entry before them was judged.

Each address that must count nothing has 5 lines, so that counting them would fire.

With builtin:sshd-aggressive also loaded, clients that speak HTTP to sshd or offer only a cipher
it refuses fire SSHProtocolProbes, and the same probe text written by nobody counts nothing."""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerter.testing import free_port
from tests.alerter.actions.test_end_to_end import Daemon, running_daemon
from tests.conftest import Sandbox, require, wait_for
from tests.rules.realservers import listening, send_to_close

pytestmark = pytest.mark.integration

RUN = secrets.token_hex(3)
DAEMON, SSHD = (f"ps-{RUN}-{n}.service" for n in ("alerter", "sshd"))
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
USER = "nobody"  # a valid user without a password (no account is made on the host)
# the one login: root with a key made for the test (root passes PAM's account checks, nobody
# does not), allowed only to run /bin/true, on a loopback port, while the test runs
ADMIN = "root"
# keys it offers first, which sshd refuses (OpenSSH 9.2 logs none of them at INFO, and then
# `Postponed publickey` before the `Accepted` one)
UNKNOWN = ("unknown1", "unknown2", "unknown3", "unknown4")


def sshd_config(tmp: Path, port: int, keys: Path, penalties_off: bool) -> str:
    # OpenSSH 9.8+ refuses a source after failed logins (PerSourcePenalties): off, where known
    return textwrap.dedent(f"""
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {tmp}/hostkey
        PidFile {tmp}/sshd.pid
        UsePAM yes
        PasswordAuthentication yes
        KbdInteractiveAuthentication no
        PubkeyAuthentication yes
        AuthorizedKeysFile {keys}/%u
        StrictModes no
        PermitRootLogin prohibit-password
        MaxStartups 100
        LogLevel INFO
        {"PerSourcePenalties no" if penalties_off else ""}
        Match User root
            ForceCommand /bin/true
        """)


@pytest.fixture
def sshd(systemd_sandbox: Sandbox, tmp_path: Path) -> Iterator[int]:
    """sshd as a unit of the sandbox, listening on a free loopback port (returned)."""
    sb = systemd_sandbox
    binary = require("/usr/sbin/sshd")
    keygen = require("ssh-keygen")
    port = free_port()
    for k in ("hostkey", *UNKNOWN, "known"):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-f", f"{tmp_path}/{k}"], check=True
        )
    # sshd reads the keys as the user: a folder the user can reach (pytest's are 0700)
    keys = Path(tempfile.mkdtemp(prefix="alerter-sshd-keys-"))
    try:
        keys.chmod(0o755)
        (keys / ADMIN).write_text((tmp_path / "known.pub").read_text())
        config = tmp_path / "sshd_config"
        # `sshd -t` runs here, outside the sandbox, and wants the privilege separation folder
        # that the ssh service's start makes (none where apt's policy-rc.d kept it from starting)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for penalties_off in (True, False):
            config.write_text(sshd_config(tmp_path, port, keys, penalties_off))
            test = subprocess.run([binary, "-t", "-f", str(config)], capture_output=True, text=True)
            if test.returncode == 0:
                break
        assert test.returncode == 0, test.stderr
        sb.write_unit(
            SSHD, f"[Service]\nExecStart={binary} -D -f {config}\nRuntimeDirectory=sshd\n"
        )
        sb.systemctl("start", SSHD)
        wait_for(lambda: listening(port), timeout=20)
        yield port
    finally:
        print(f"--- journal of {SSHD} (shown when the test fails) ---")
        print(sb.run("journalctl", "--no-pager", "-u", SSHD, check=False).stdout[-20000:])
        sb.systemctl("stop", SSHD, check=False)
        shutil.rmtree(keys)


def daemon_with(sb: Sandbox, tmp_path: Path, packs: list[str]) -> Iterator[Daemon]:
    port = free_port()
    config: dict[str, Any] = {
        "global": {"state_dir": f"{tmp_path}/state", "evaluation_interval": "1s"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "collectors": [{"name": "journal", "type": "journald"}],
        "rule_files": packs,
        "notifiers": [{"name": "console", "type": "console"}],
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with running_daemon(sb, DAEMON, tmp_path / "config.yaml", port) as d:
        yield d


@pytest.fixture
def daemon(systemd_sandbox: Sandbox, tmp_path: Path) -> Iterator[Daemon]:
    yield from daemon_with(systemd_sandbox, tmp_path, ["builtin:sshd"])


@pytest.fixture
def aggressive(systemd_sandbox: Sandbox, tmp_path: Path) -> Iterator[Daemon]:
    yield from daemon_with(systemd_sandbox, tmp_path, ["builtin:sshd", "builtin:sshd-aggressive"])


def ssh(port: int, source: str, user: str, *opts: str, password: str = "wrong") -> int:
    """One connection from `source` as `user`, answering a password prompt once."""
    argv = [
        require("sshpass"),
        "-p",
        password,
        require("ssh"),
        "-p",
        str(port),
        "-b",
        source,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
        "-o",
        "NumberOfPasswordPrompts=1",
        *opts,
        f"{user}@127.0.0.1",
        "true",
    ]
    return subprocess.run(argv, capture_output=True, timeout=60).returncode


def firing(d: Daemon) -> dict[tuple[str, str], float]:
    return {
        (a["labels"]["alertname"], a["labels"].get("ip", "")): float(a["value"])
        for a in d.get("/api/v1/alerts")["data"]["alerts"]
        if a["state"] == "firing"
    }


def test_a_real_sshd_s_failures_count_for_their_peer_and_nothing_else_counts(
    systemd_sandbox: Sandbox, sshd: int, daemon: Daemon, tmp_path: Path
) -> None:
    sb, d, port = systemd_sandbox, daemon, sshd
    password = ("-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no")
    keys: tuple[str, ...] = ("-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey")
    keys += tuple(x for k in (*UNKNOWN, "known") for x in ("-i", f"{tmp_path}/{k}"))
    injected = "x from 198.51.100.7 port 22 ssh2"
    with ThreadPoolExecutor(max_workers=16) as pool:
        jobs = [pool.submit(ssh, port, "127.0.0.2", USER, *password) for _ in range(5)]
        jobs += [pool.submit(ssh, port, "127.0.0.3", f"inv{i}-{RUN}", *password) for i in range(3)]
        jobs += [pool.submit(ssh, port, "127.0.0.4", injected, *password) for _ in range(5)]
        jobs += [pool.submit(ssh, port, "127.0.0.5", ADMIN, *keys) for _ in range(5)]
        codes = [j.result() for j in jobs]
    assert codes[:13] == [255] * 13  # permission denied
    assert codes[13:] == [0] * 5  # logged in
    for _ in range(5):
        sb.run(
            *NOBODY,
            "logger",
            "-t",
            "sshd[4242]",
            "Failed password for root from 198.51.100.9 port 22 ssh2",
        )
    with ThreadPoolExecutor(max_workers=5) as pool:
        assert (
            list(pool.map(lambda _: ssh(port, "127.0.0.6", USER, *password), range(5))) == [255] * 5
        )

    wait_for(lambda: ("SSHBruteForce", "127.0.0.6") in firing(d), timeout=30, interval=0.2)
    assert firing(d) == {
        ("SSHBruteForce", "127.0.0.2"): 5.0,
        ("SSHInvalidUsers", "127.0.0.3"): 3.0,
        ("SSHBruteForce", "127.0.0.4"): 5.0,
        ("SSHBruteForce", "127.0.0.6"): 5.0,
    }
    # what sshd wrote: the lines the alerts came from, as OpenSSH and PAM write them
    text = sb.run("journalctl", "--no-pager", "-o", "cat", "_COMM=sshd").stdout
    assert text.count(f"Failed password for {USER} from 127.0.0.2 port ") == 5
    assert text.count(f"Failed password for invalid user {injected} from 127.0.0.4 port ") == 5
    assert text.count(f"Accepted publickey for {ADMIN} from 127.0.0.5 port ") == 5
    assert text.count(f"Postponed publickey for {ADMIN} from 127.0.0.5 port ") == 5


def test_a_real_sshd_s_probes_count_with_the_aggressive_pack(
    systemd_sandbox: Sandbox, sshd: int, aggressive: Daemon
) -> None:
    """builtin:sshd-aggressive: the same text as sshd's probes written by nobody counts
    nothing; then clients speaking HTTP to sshd (.7) and a client offering only a cipher sshd
    refuses (.8) fire SSHProtocolProbes (the journal is read in order: once they fire, nobody's
    lines were judged). Seven of each: now and then one connection leaves no line in the
    journal here (sshd's syslog datagram is lost), and five fire."""
    sb, d, port = systemd_sandbox, aggressive, sshd
    forged = "Did not receive identification string from 198.51.100.9"
    for _ in range(7):
        sb.run(*NOBODY, "logger", "-t", "sshd[4242]", forged)
    for _ in range(7):
        # what goes where its SSH identification goes
        send_to_close(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"SSH-2.0-", "127.0.0.7")
    old_cipher = ("-o", "Ciphers=3des-cbc", "-o", "PubkeyAuthentication=no")
    assert [ssh(port, "127.0.0.8", USER, *old_cipher) for _ in range(7)] == [255] * 7
    wanted = {("SSHProtocolProbes", "127.0.0.7"), ("SSHProtocolProbes", "127.0.0.8")}
    wait_for(lambda: wanted <= set(firing(d)), timeout=30, interval=0.2)
    assert set(firing(d)) == wanted
    # what was written: sshd's lines, and nobody's under sshd's name
    text = sb.run("journalctl", "--no-pager", "-o", "cat", "_COMM=sshd").stdout
    assert text.count("banner exchange: Connection from 127.0.0.7 port ") >= 5
    assert text.count("Unable to negotiate with 127.0.0.8 port ") >= 5
    nobody = sb.run("journalctl", "--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=sshd", "_UID=65534")
    assert nobody.stdout.count(forged) == 7
