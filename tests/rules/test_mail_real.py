"""builtin:dovecot and builtin:postfix against a real dovecot and postfix.

dovecot (IMAP and POP3, a passwd-file user) and postfix (smtpd on a loopback port, SASL
through dovecot's auth socket, relaying refused) run on free loopback ports with their own
configs and log files. Python's imaplib, poplib and smtplib fail to log in as a client does,
one of them resetting the connection after a failure, and try to relay. `alerter replay` then
reads both logs, and the firing alerts are exactly those of 127.0.0.1."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import shutil
import smtplib
import socket
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from alerter.testing import free_port
from tests.conftest import require, wait_for
from tests.rules.realservers import (
    checked_config,
    listening,
    replay_firing,
    send_and_leave,
    send_to_close,
)

pytestmark = pytest.mark.integration


@dataclass
class Mail:
    imap: int
    pop3: int
    smtp: int
    dovecot_log: Path
    postfix_log: Path


def dovecot_conf(run: Path, users: Path, log: Path, imap: int, pop3: int) -> str:
    return textwrap.dedent(f"""
        protocols = imap pop3
        listen = 127.0.0.1
        base_dir = {run}/dovecot
        state_dir = {run}/dovecot-state
        log_path = {log}
        info_log_path = {log}
        auth_verbose = yes
        auth_failure_delay = 0
        auth_mechanisms = plain login
        disable_plaintext_auth = no
        ssl = no
        passdb {{
          driver = passwd-file
          args = {users}
        }}
        userdb {{
          driver = static
          args = uid=65534 gid=65534 home=/nonexistent
        }}
        service imap-login {{
          inet_listener imap {{
            port = {imap}
          }}
        }}
        service pop3-login {{
          inet_listener pop3 {{
            port = {pop3}
          }}
        }}
        # (no growing delay per failing address: dovecot's documented way to turn it off)
        service anvil {{
          unix_listener anvil-auth-penalty {{
            mode = 0
          }}
        }}
        service auth {{
          unix_listener {run}/auth {{
            mode = 0666
          }}
        }}
        """)


def postfix_main(run: Path, log: Path) -> str:
    return textwrap.dedent(f"""
        compatibility_level = 3.6
        queue_directory = {run}/queue
        data_directory = {run}/data
        myhostname = mail.test
        mydestination = mail.test
        inet_interfaces = 127.0.0.1
        inet_protocols = ipv4
        mynetworks = 10.255.255.0/24
        maillog_file = {log}
        maillog_file_prefixes = {log.parent}
        smtpd_error_sleep_time = 0
        smtpd_sasl_auth_enable = yes
        smtpd_sasl_type = dovecot
        smtpd_sasl_path = {run}/auth
        smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
        alias_maps =
        alias_database =
        """)


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[Mail]:
    dovecot = require("/usr/sbin/dovecot")
    require("/usr/lib/dovecot/imap-login")
    require("/usr/lib/dovecot/pop3-login")
    postfix = require("/usr/sbin/postfix")
    doveadm = require("doveadm")
    imap, pop3, smtp = free_port(), free_port(), free_port()
    # the daemons' own users reach their sockets and queue here (pytest's folders are 0700)
    run = Path(tempfile.mkdtemp(prefix="alerter-mail-"))
    try:
        run.chmod(0o755)
        (run / "queue").mkdir()  # postfix's: root's, its subfolders made by `postfix start`
        (run / "data").mkdir()
        shutil.chown(run / "data", "postfix")
        logs = tmp_path / "logs"
        logs.mkdir()
        users = run / "users"
        users.write_text("alice:{PLAIN}right-horse::::::\n")
        users.chmod(0o644)
        dconf = tmp_path / "dovecot.conf"
        dconf.write_text(dovecot_conf(run, users, logs / "dovecot.log", imap, pop3))
        pconf = tmp_path / "postfix"
        pconf.mkdir()
        (pconf / "main.cf").write_text(postfix_main(run, logs / "mail.log"))
        master = Path("/etc/postfix/master.cf").read_text().splitlines()
        smtpd = f"127.0.0.1:{smtp} inet n - n - - smtpd"
        (pconf / "master.cf").write_text(
            "\n".join(smtpd if ln.startswith("smtp      inet") else ln for ln in master) + "\n"
        )
        subprocess.run([dovecot, "-c", str(dconf)], check=True)
        started = subprocess.run(
            [postfix, "-c", str(pconf), "start"], capture_output=True, text=True
        )
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            wait_for(lambda: all(listening(p) for p in (imap, pop3, smtp)), timeout=30)
            yield Mail(imap, pop3, smtp, logs / "dovecot.log", logs / "mail.log")
        finally:
            subprocess.run([postfix, "-c", str(pconf), "stop"], capture_output=True)
            subprocess.run([doveadm, "-c", str(dconf), "stop"], capture_output=True)
    finally:
        shutil.rmtree(run, ignore_errors=True)


def collector(name: str, log: Path) -> str:
    """A file collector entry (YAML, in `collectors:`) for a log the servers write themselves,
    each line starting with its time as `Mmm dd HH:MM:SS`."""
    return textwrap.indent(
        textwrap.dedent(f"""\
            - name: {name}
              type: file
              paths: [{log}]
              parser:
                type: regex
                pattern: '^(?P<time>\\w{{3}} \\d\\d \\d\\d:\\d\\d:\\d\\d)'
                time_field: time
                time_format: "%b %d %H:%M:%S"
            """),
        "  ",
    )


def with_aggressive(tmp_path: Path, pack: str, log: Path) -> set[tuple[str, str | None]]:
    """What `alerter replay` fires over `log` with builtin:PACK and builtin:PACK-aggressive."""
    config, _ = checked_config(
        tmp_path,
        "collectors:\n"
        + collector(pack, log)
        + "rule_files:\n"
        + f'  - {{path: "builtin:{pack}", sources: [{pack}]}}\n'
        + f'  - {{path: "builtin:{pack}-aggressive", sources: [{pack}]}}\n',
    )
    return replay_firing(config, {pack: log})


def imap_login(port: int, user: str, password: str, reset: bool = False) -> None:
    m = imaplib.IMAP4("127.0.0.1", port)
    with contextlib.suppress(imaplib.IMAP4.error):
        m.login(user, password)
    if reset:  # a client giving up: its connection reset, not closed
        m.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        m.sock.close()
        return
    m.logout()


def test_the_mail_packs_fire_for_the_real_client_only(mail: Mail, tmp_path: Path) -> None:
    # five failed login sessions, the threshold: one of them reset after its failure
    imap_login(mail.imap, "alice", "wrong")
    imap_login(mail.imap, "alice", "wrong", reset=True)
    for user in ("bob", "carol"):
        imap_login(mail.imap, user, "x")
    p = poplib.POP3("127.0.0.1", mail.pop3)
    p.user("alice")
    with pytest.raises(poplib.error_proto):
        p.pass_("wrong")
    p.quit()
    for i in range(3):
        with smtplib.SMTP("127.0.0.1", mail.smtp, timeout=60) as s:
            s.ehlo("client.example")
            s.mail("a@example.org")
            assert s.rcpt(f"victim{i}@example.com")[0] == 554  # relay access denied
    for _ in range(3):
        with smtplib.SMTP("127.0.0.1", mail.smtp, timeout=60) as s:
            s.ehlo("client.example")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login("alice", "wrong")  # PLAIN, then LOGIN: two failures a connection
    # seven more rejections, ten with the relay attempts: an HTTP scanner's request (its text
    # names another address), and clients talking before the greeting (or pipelining after
    # EHLO, when the greeting wins the race)
    for _ in range(4):
        send_to_close(mail.smtp, b"GET /?x=unknown[198.51.100.7] HTTP/1.1\r\n", b"220 ")
    for _ in range(3):
        send_to_close(mail.smtp, b"EHLO client.example\r\nQUIT\r\n", None)

    def logged() -> bool:
        d, m = mail.dovecot_log.read_text(), mail.postfix_log.read_text()
        return (
            d.count("pop3-login: ") >= 1
            and m.count("authentication failed") >= 6
            and m.count("warning: non-SMTP command from") >= 4
            and m.count("improper command pipelining after ") >= 3
        )

    wait_for(logged, timeout=30)
    config, _ = checked_config(
        tmp_path,
        "collectors:\n"
        + collector("dovecot", mail.dovecot_log)
        + collector("mail", mail.postfix_log)
        + "rule_files:\n"
        + '  - {path: "builtin:dovecot", sources: [dovecot]}\n'
        + '  - {path: "builtin:postfix", sources: [mail]}\n',
    )
    firing = replay_firing(config, {"dovecot": mail.dovecot_log, "mail": mail.postfix_log})
    assert firing == {
        ("DovecotLoginFailures", "127.0.0.1"),
        ("DovecotAuthFailures", "127.0.0.1"),
        ("PostfixSASLAuthFailures", "127.0.0.1"),
        ("PostfixRelayDenied", "127.0.0.1"),
        ("PostfixRejects", "127.0.0.1"),
    }
    # the session reset after its failure is in dovecot's log as dovecot 2.3 writes it
    assert "Connection reset by peer (auth failed, 1 attempts" in mail.dovecot_log.read_text()


def test_dovecot_aggressive_fires_for_sessions_that_never_try_to_log_in(
    mail: Mail, tmp_path: Path
) -> None:
    """Ten IMAP sessions from 127.0.0.7 that end before any authentication attempt (a
    LOGOUT, HTTP spoken to IMAP, a SASL exchange abandoned); from 127.0.0.1 a login and two
    failed ones. Only 127.0.0.7 fires, and only DovecotSessionsWithoutAuth."""
    for _ in range(4):
        send_to_close(mail.imap, b"a LOGOUT\r\n", b"* OK", source="127.0.0.7")
    for _ in range(3):
        send_and_leave(mail.imap, b"GET / HTTP/1.1\r\n", b"* OK", source="127.0.0.7")
    for _ in range(3):
        reply = send_and_leave(mail.imap, b"a AUTHENTICATE PLAIN\r\n", b"* OK", "127.0.0.7")
        assert reply.startswith(b"+")  # dovecot waits for the credentials: none come
    imap_login(mail.imap, "alice", "right-horse")
    imap_login(mail.imap, "alice", "wrong")
    imap_login(mail.imap, "bob", "wrong")

    def logged() -> bool:
        d = mail.dovecot_log.read_text()
        return d.count("rip=127.0.0.7,") >= 10 and d.count("rip=127.0.0.1,") >= 3

    wait_for(logged, timeout=30)
    firing = with_aggressive(tmp_path, "dovecot", mail.dovecot_log)
    assert firing == {("DovecotSessionsWithoutAuth", "127.0.0.7")}, mail.dovecot_log.read_text()


def test_postfix_aggressive_fires_for_dropped_sessions_and_mechanism_probes(
    mail: Mail, tmp_path: Path
) -> None:
    """From 127.0.0.6: ten SMTP sessions dropped after EHLO and five AUTHs with a mechanism
    the server does not offer; from 127.0.0.1 three ordinary sessions (EHLO, QUIT). Only
    127.0.0.6 fires, with the two rules those make. (builtin:postfix counts none of it: an
    unoffered mechanism is no failed login, `sasl_username=` after the reason or not.)"""
    for _ in range(10):
        send_and_leave(mail.smtp, b"EHLO client.example\r\n", b"220 ", source="127.0.0.6")
    for _ in range(5):
        with smtplib.SMTP("127.0.0.1", mail.smtp, timeout=60, source_address=("127.0.0.6", 0)) as s:
            s.ehlo("client.example")
            assert s.docmd("AUTH", "CRAM-MD5")[0] == 535
    for _ in range(3):
        with smtplib.SMTP("127.0.0.1", mail.smtp, timeout=60) as s:
            s.ehlo("client.example")

    def logged() -> bool:
        m = mail.postfix_log.read_text()
        return (
            m.count("lost connection after EHLO from ") >= 10
            and m.count("Invalid authentication mechanism") >= 5
            and m.count("[127.0.0.1]") >= 3
        )

    wait_for(logged, timeout=30)
    firing = with_aggressive(tmp_path, "postfix", mail.postfix_log)
    assert firing == {
        ("PostfixAbortedSessions", "127.0.0.6"),
        ("PostfixSASLMechanismProbes", "127.0.0.6"),
    }, mail.postfix_log.read_text()
