"""The `alerter check` warning for an action on a rule a local user can forge (issue 13, point
4): lines from a syslog-written file, or from the journal without a field journald sets (or
a journald collector's system `units:`) proving the writer; check prints it and passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alerter.config.load import parse_config
from tests.alerter.rule_file_config import COLLECTORS, load


def test_actions_on_rules_a_local_user_can_forge_are_warned_about() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:systemd-syslog
            actions: {SystemdUnitFailedSyslog: [restart-unit]}
          - path: builtin:nginx
            actions: {NginxHTTPAuthFailures: [ban]}
          - path: builtin:systemd
            actions: {SystemdUnitFailed: [restart-unit]}
        """)
    warned = {str(w.mark): w.message for w in cfg.warnings if "reads labels." not in w.message}
    assert sorted(warned) == ["alerter.yaml:12:15", "alerter.yaml:14:15"]
    syslog_rule = warned["alerter.yaml:12:15"]
    assert syslog_rule.startswith("warning: SystemdUnitFailedSyslog (actions: restart-unit)")
    assert "source syslog is a syslog file (/var/log/syslog)" in syslog_rule
    assert "source journal" not in syslog_rule  # (its source_kinds: syslog files only)
    # nginx's rules name no source: they read the files of their kinds (`web`, which nginx
    # alone writes) and the journal (nginx may log there), which anyone can write to
    nginx = warned["alerter.yaml:14:15"]
    assert nginx.startswith("warning: NginxHTTPAuthFailures (actions: ban)")
    assert "source journal is the journal" in nginx and "source web" not in nginx


def test_no_warning_when_the_rule_reads_only_what_its_program_writes() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:nginx
            sources: [web]
            actions: {NginxHTTPAuthFailures: [ban]}
        """)
    assert cfg.warnings == ()


@pytest.mark.parametrize(
    ("where", "warned"),
    [
        ("['_SYSTEMD_UNIT=\"ssh.service\"']", False),
        ("['_UID=~\"0|107\"']", False),
        ("{_TRANSPORT: kernel}", False),
        # fields the sender writes prove nothing
        ("{SYSLOG_IDENTIFIER: sshd}", True),
        ("{unit: ssh.service}", True),
        ("['_UID!=\"1000\"']", True),
        # a trusted field asked for any value (or none) proves nothing either
        ("['_SYSTEMD_UNIT=~\".*\"']", True),
        ("['_UID=~\".+\"']", True),
        # ... or a pattern every user's or process's value matches: no restriction of who wrote
        ("['_UID=~\"[0-9]+\"']", True),
        ("['_PID=~\"[0-9]{1,7}\"']", True),
        ("['_UID=~\"[1-9][0-9]*\"']", True),
        ("['_SYSTEMD_UNIT=~\".*[.]service\"']", True),  # user@1000.service is one
        # users' cron and at jobs log under cron.service / atd.service
        ("['_SYSTEMD_UNIT=~\"[a-z]+[.]service\"']", True),
        ("['_SYSTEMD_UNIT=~\"(cron|atd|web)[.]service\"']", True),
        ("['_SYSTEMD_CGROUP=~\"/system[.]slice/[a-z]+[.]service\"']", True),
        # a specific value restricts (whichever it is: the check cannot judge `_UID="4711"`)
        ("['_UID=\"4711\"']", False),
        # ... but not one of the units users' processes run in (as `units:` entries)
        ("['_SYSTEMD_UNIT=\"cron.service\"']", True),
        ("['_SYSTEMD_UNIT=\"crond.service\"']", True),
        ("['_SYSTEMD_UNIT=\"atd.service\"']", True),
        ("['_SYSTEMD_UNIT=\"user@1000.service\"']", True),
        ("['_SYSTEMD_UNIT=\"session-3.scope\"']", True),
        ("['_SYSTEMD_CGROUP=\"/system.slice/cron.service\"']", True),
        # ... nor the slices they run in (system.slice holds cron's and atd's jobs)
        ("['_SYSTEMD_SLICE=\"system.slice\"']", True),
        ("['_SYSTEMD_SLICE=\"user-1000.slice\"']", True),
        # ... nor such a unit or slice named by a pattern that spells it out
        ("['_SYSTEMD_UNIT=~\"user@1000\\\\.service\"']", True),
        ("['_SYSTEMD_UNIT=~\"(ssh|user@1000)[.]service\"']", True),
        ("['_SYSTEMD_UNIT=~\"(?:session-3[.]scope)\"']", True),
        ("['_SYSTEMD_SLICE=~\"user-1000[.]slice\"']", True),
        ("['_SYSTEMD_UNIT=~\"ssh\\\\.service\"']", False),
        ("['_SYSTEMD_SLICE=\"postgres.slice\"']", False),
        ("['_SYSTEMD_UNIT=\"cron.service\"', '_UID=\"0\"']", False),  # root's alone
        ("['_SYSTEMD_UNIT=~\"postfix@.*\"']", False),
        # a short-lived sender's entries lack the fields journald reads from /proc
        ("['_SYSTEMD_UNIT=~\"|ssh.service\"']", True),
        # ... but not _TRANSPORT: `|kernel` is the kernel's entries (and syslog files' lines)
        ("['_TRANSPORT=~\"|kernel\"']", False),
    ],
)
def test_journald_rules_are_trusted_only_with_a_field_journald_sets(
    tmp_path: Path, where: str, warned: bool
) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        f"groups: [{{name: g, rules: [{{alert: A, logs: {{source: journal, match: 'from "
        f"(?P<ip>\\S+)', where: {where}}}, by: [ip], aggregate: count, over: 1m, "
        "threshold: '> 1', actions: [ban]}]}]\n"
    )
    cfg = load(f"rule_files: [{rules}]\n")
    assert bool(cfg.warnings) is warned


def test_a_where_naming_a_unit_users_log_under_is_told_as_a_collectors_units_are(
    tmp_path: Path,
) -> None:
    """`where: _SYSTEMD_UNIT="cron.service"` proves the writer no more than `units:
    [cron.service]`: users' cron jobs log under it; the warning says which matcher."""
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "groups: [{name: g, rules: [{alert: A, logs: {source: journal, match: 'from "
        "(?P<ip>\\S+)', where: ['_SYSTEMD_UNIT=\"cron.service\"']}, by: [ip], "
        "aggregate: count, over: 1m, threshold: '> 1', actions: [ban]}]}]\n"
    )
    (w,) = [str(w) for w in load(f"rule_files: [{rules}]\n").warnings]
    assert 'where: _SYSTEMD_UNIT="cron.service"` names a unit users\' processes log' in w, w


@pytest.mark.parametrize(
    ("paths", "warned"),
    [
        ("[/var/log/auth.log]", True),
        ("[/var/log/auth.log.1, /var/log/messages-20240101]", True),
        ("['/var/log/*.log']", True),  # takes auth.log in
        ("['/var/log/*']", True),
        ("['/var/log/nginx/*.log']", False),
        ("[/srv/app/app.log]", False),
    ],
)
def test_files_the_syslog_daemon_writes_are_forgeable(paths: str, warned: bool) -> None:
    text = f"""
collectors:
  - {{name: f, type: file, paths: {paths}}}
actions:
  - {{name: ban, type: ban, address: "{{{{ labels.ip }}}}", duration: 10m}}
rule_files:
  - {{path: builtin:nginx, actions: {{NginxHTTPAuthFailures: [ban]}}}}
"""
    assert bool(parse_config(text, "alerter.yaml", {}).warnings) is warned


def test_a_file_read_by_a_rule_that_knows_its_program_by_the_syslog_header_is_forgeable() -> None:
    # the auditor's cr.yaml: rsyslog's per-host files read with a regex parser; whoever can
    # `logger` (or send syslog to the host that wrote them) wrote those lines, as sshd or not
    text = """
collectors:
  - {name: remote, type: file, paths: ["./hosts/*/sshd.log"], parser: {type: regex,
     pattern: '^(?P<time>\\w{3} +\\d+ \\S+) (?P<host>\\S+)', time_field: time,
     time_format: "%b %d %H:%M:%S"}}
  - {name: apache_error, type: file, paths: [/var/log/apache2/error.log],
     parser: {type: regex, pattern: '^\\[(?P<level>\\w+)'}}
actions:
  - {name: ban, type: ban, address: "{{ labels.ip }}", duration: 10m}
rule_files:
  - {path: builtin:sshd, sources: [remote], actions: {SSHBruteForce: [ban]}}
  - {path: builtin:apache, sources: [apache_error], actions: {ApacheAuthFailures: [ban]}}
"""
    told = [w.message for w in parse_config(text, "alerter.yaml", {}).warnings]
    assert len(told) == 1, told
    assert told[0].startswith("warning: SSHBruteForce (actions: ban) counts lines a local user")
    assert "source remote (hosts/*/sshd.log) is a file" in told[0], told[0]

    # (apache's own error log, of its own kind, is written by apache alone: no warning)


JOURNAL_RULE = (
    "groups: [{name: g, rules: [{alert: WebPanic, logs: {source: webj, match: panic}, "
    "aggregate: count, over: 1m, threshold: '>= 1', actions: [restart-web]}]}]\n"
)


@pytest.mark.parametrize(
    ("selection", "warned"),
    [
        # journald sets _SYSTEMD_UNIT, and UNIT= is admitted from PID 1 only: proof of the writer
        ("units: [web.service]", False),
        ("units: [web.service, db.service]", False),
        # anyone can pick a SYSLOG_IDENTIFIER, or the name of a user unit of their own
        ("units: [web.service], identifiers: [web]", True),
        ("user_units: [web.service]", True),
        ("units: [web.service], user_units: [web.service]", True),
        # users' sessions, managers and cron/at jobs log under these system units
        ("units: [cron.service]", True),
        ("units: [atd.service]", True),
        ("units: [user@1000.service]", True),
        ("units: [session-3.scope]", True),
    ],
)
def test_a_journald_collector_restricted_to_system_units_proves_the_writer(
    tmp_path: Path, selection: str, warned: bool
) -> None:
    rules = tmp_path / "web.yaml"
    rules.write_text(JOURNAL_RULE)
    cfg = parse_config(
        f"collectors:\n  - {{name: webj, type: journald, {selection}}}\n"
        f"rule_files: [{rules}]\n"
        "actions:\n  - {name: restart-web, type: systemd, unit: web.service}\n",
        "alerter.yaml",
        {},
    )
    told = [w.message for w in cfg.warnings]
    assert bool(told) is warned, told
    if warned:
        assert "source webj is the journal" in told[0]


def test_alerter_check_prints_the_warning_and_passes(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"global: {{state_dir: {tmp_path}/state}}\n"
        + COLLECTORS
        + "rule_files:\n  - {path: builtin:kernel, actions: {KernelOOMKill: [ban]}}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "alerter", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"{config}:11:38: warning: KernelOOMKill (actions: ban)")
    assert "source syslog is a syslog file" in lines[0]
    # and a ban reading labels.ip on a rule whose alerts have none (keyed by process)
    assert lines[1].startswith(
        f"{config}:11:38: warning: KernelOOMKill (action ban): the action reads labels.ip, "
        "which KernelOOMKill's alerts never have (they have: alertname, host, process, severity)"
    )
    assert lines[-1].endswith("2 warnings")
