"""`rule_files` entries with actions and sources for a pack's rules (no copy), the `alerter check`
warning for actions on rules a local user can forge, and protected units that a configured list
cannot shrink (issue 13, point 4)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alerter.config.load import Config, parse_config
from alerter.errors import ConfigError
from alerter.rules.engine import Engine
from alerter.rules.events import LogEvent
from tests.rules.helpers import logs

COLLECTORS = """
collectors:
  - {name: syslog, type: file, paths: [/var/log/syslog], parser: {type: syslog}}
  - {name: web, type: file, paths: [/var/log/nginx/access.log, /var/log/nginx/error.log]}
  - {name: journal, type: journald}
actions:
  - {name: restart-unit, type: systemd, unit: "{{ labels.unit }}"}
  - {name: ban, type: ban, address: "{{ labels.ip }}", duration: 10m}
"""


def load(rule_files: str) -> Config:
    return parse_config(COLLECTORS + textwrap.dedent(rule_files), "alerter.yaml", {})


def problems(rule_files: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load(rule_files)
    return [str(p) for p in exc.value.problems]


def actions_of(cfg: Config) -> dict[str, tuple[str, ...]]:
    return {r.alert: r.actions for r in cfg.rules.rules()}


def test_actions_attach_to_a_packs_rule_by_alert_name_without_copying_it() -> None:
    cfg = load("""
        rule_files:
          - builtin:kernel
          - path: builtin:systemd
            actions: {SystemdUnitFailed: [restart-unit]}
        """)
    assert actions_of(cfg) == {
        "KernelOOMKill": (),
        "KernelIOError": (),
        "KernelSegfault": (),
        "SystemdUnitFailed": ("restart-unit",),
        "SystemdUnitRestarting": (),
    }
    assert cfg.rule_files == ("builtin:kernel", "builtin:systemd")
    assert cfg.warnings == ()  # PID 1's journal entries: nobody else can write them


def test_a_single_action_name_and_a_rule_files_own_actions_are_kept_together(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "groups: [{name: g, rules: [{alert: A, logs: {source: web, match: x}, aggregate: count,"
        " over: 1m, threshold: '> 1', actions: [ban]}]}]\n"
    )
    cfg = load(f"""
        rule_files:
          - path: {rules}
            actions: {{A: restart-unit}}
        """)
    assert actions_of(cfg) == {"A": ("ban", "restart-unit")}


def test_unknown_alert_and_unknown_action_are_errors_at_their_position() -> None:
    assert problems("""
        rule_files:
          - path: builtin:kernel
            actions:
              KernelOOM: [ban]
              KernelIOError: [nosuch]
        """) == [
        "alerter.yaml:13:7: rule_files: builtin:kernel has no rule 'KernelOOM' "
        "(has: KernelIOError, KernelOOMKill, KernelSegfault)",
        "alerter.yaml:14:23: unknown action 'nosuch' (define it under actions:)",
    ]


def test_an_action_whose_entry_is_wrong_is_told_once_not_as_unknown_too() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(
            textwrap.dedent("""
            actions:
              - {name: restart, type: restrat, unit: web}
            rule_files:
              - path: builtin:kernel
                actions: {KernelOOMKill: [restart]}
            """),
            "alerter.yaml",
            {},
        )
    (problem,) = exc.value.problems
    assert "restrat" in str(problem) and "unknown action" not in str(problem)


def test_disable_leaves_a_packs_rules_out_by_alert_name() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:nginx
            disable: [NginxPathTraversal, NginxRequestSpike]
            actions: {NginxProbes: [ban]}
          - {path: builtin:kernel, disable: [KernelOOMKill, KernelIOError, KernelSegfault]}
        """)
    got = actions_of(cfg)
    assert "NginxPathTraversal" not in got and "NginxRequestSpike" not in got
    assert got["NginxProbes"] == ("ban",) and "NginxHigh5xxRatio" in got
    assert not any(a.startswith("Kernel") for a in got)
    # the engine runs what is left (a group whose rules are all off included); the same
    # lines fire the disabled rule where it is loaded
    line = '198.51.100.9 - - [06/Dec/2026:00:11:32 +0000] "GET /../../etc/passwd HTTP/1.1" 400 1'
    fired = []
    for c in (cfg, load("rule_files: [builtin:nginx]\n")):
        engine = Engine(c.rules, {})
        for i in range(3):
            logs(engine, 1000.0 + i, [LogEvent(1000.0 + i, "web", line, {})])
        fired.append({a.alertname for a in engine.alerts()})
    assert fired == [set(), {"NginxPathTraversal"}]


def test_disable_names_are_checked_and_cannot_carry_actions() -> None:
    assert problems("""
        rule_files:
          - path: builtin:kernel
            disable: [KernelOOM, KernelSegfault]
            actions: {KernelSegfault: [ban]}
        """) == [
        "alerter.yaml:12:15: rule_files: builtin:kernel has no rule 'KernelOOM' "
        "(has: KernelIOError, KernelOOMKill, KernelSegfault)",
        "alerter.yaml:13:15: rule_files: KernelSegfault is in this entry's disable list",
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{actions: {A: [ban]}}", "rule_files[0]: missing required key 'path'"),
        ("{path: builtin:kernel, action: {}}", "rule_files[0]: unknown key 'action'"),
        ("{path: builtin:kernel, actions: [ban]}", "rule_files[0].actions must be a mapping"),
        ("{path: builtin:kernel, actions: {KernelOOMKill: []}}", "expected a list of action"),
        ("{path: builtin:nosuch}", "no builtin rule pack 'nosuch'"),
        ("{path: builtin:kernel, sources: [nosuch]}", "unknown log source 'nosuch'"),
        ("{path: builtin:kernel, disable: KernelOOMKill}", "disable"),
    ],
)
def test_malformed_entries_are_errors(entry: str, message: str) -> None:
    found = problems(f"rule_files: [{entry}]\n")
    assert any(message in p for p in found), found


def test_sources_go_to_the_files_rules_that_name_none(tmp_path: Path) -> None:
    rules = tmp_path / "mine.yaml"
    rules.write_text(
        "groups: [{name: g, rules: [{alert: Own, logs: {source: syslog, match: x}, "
        "aggregate: count, over: 1m, threshold: '> 1'}, {alert: Any, logs: {match: x}, "
        "aggregate: count, over: 1m, threshold: '> 1'}]}]\n"
    )
    cfg = load(f"""
        rule_files:
          - {{path: builtin:nginx, sources: [web]}}
          - {{path: {rules}, sources: [journal]}}
        """)
    got = {r.alert: r.logs.sources for r in cfg.rules.rules() if r.logs is not None}
    assert got["NginxHTTPAuthFailures"] == ("web",) and got["NginxHigh5xxRatio"] == ("web",)
    assert got["Own"] == ("syslog",) and got["Any"] == ("journal",)


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


def test_a_packs_rules_that_name_no_source_read_the_collectors_of_their_kinds() -> None:
    # another program's file is not sshd's: nginx writes a Basic-auth user name raw, newlines
    # included, so a client can put a "Failed password ... from ADDR" line of its own there
    cfg = load("""
        rule_files:
          - builtin:sshd
          - builtin:nginx
          - {path: builtin:kernel, sources: [web]}
        """)
    got = {r.alert: r.logs.sources for r in cfg.rules.rules() if r.logs is not None}
    assert got["SSHBruteForce"] == ("syslog", "journal")
    assert got["NginxHTTPAuthFailures"] == ("web", "journal")
    assert got["KernelOOMKill"] == ("web",)  # named on the entry: the user's word
    assert cfg.warnings == ()


def test_a_log_derived_metrics_source_kinds_are_resolved_as_a_rules(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "groups:\n  - name: g\n    metrics:\n      - name: ssh_failures_total\n"
        "        type: counter\n        logs: {source_kinds: [syslog], match: 'Failed password'}\n"
    )
    cfg = parse_config(COLLECTORS + f"rule_files: [{tmp_path}/m.yaml]\n", "alerter.yaml", {})
    (metric,) = cfg.rules.log_metrics()
    assert metric.logs.sources == ("syslog",)


def test_a_file_named_after_a_pack_that_skips_it_is_warned_about() -> None:
    # dovecot's own log file read with parser none: builtin:dovecot reads it only when named
    cfg = parse_config(
        textwrap.dedent("""
        collectors:
          - {name: journal, type: journald}
          - {name: dovelog, type: file, paths: [/var/log/dovecot.log]}
          - {name: app, type: file, paths: [/var/log/app.log]}
        rule_files: [builtin:dovecot, builtin:nginx]
        """),
        "alerter.yaml",
        {},
    )
    told = [str(w) for w in cfg.warnings]
    assert told == [
        "alerter.yaml:4:5: warning: collector 'dovelog' (/var/log/dovecot.log, parser none) "
        "looks like builtin:dovecot's, which skip it: they read only the kinds their "
        "`source_kinds` names; set parser: {type: syslog} if it is a syslog file, or give the "
        "entry `sources:` naming it"
    ]


def test_a_pack_with_no_collector_of_its_kinds_reads_nothing_and_check_says_so() -> None:
    cfg = parse_config(
        textwrap.dedent("""
        collectors:
          - {name: auth, type: file, paths: [/var/log/auth.log]}
          - {name: web, type: file, paths: [/var/log/nginx/error.log], parser: {type: none}}
        rule_files: [builtin:sshd]
        """),
        "alerter.yaml",
        {},
    )
    assert {r.logs.sources for r in cfg.rules.rules() if r.logs is not None} == {("",)}
    engine = Engine(cfg.rules, {})
    line = "Failed password for root from 203.0.113.9 port 22 ssh2"
    for t in range(10):
        for source in ("auth", "web"):
            logs(engine, float(t), [LogEvent(float(t), source, line)])
    assert engine.alerts() == []
    told = sorted(str(w) for w in cfg.warnings)
    assert told == [
        "alerter.yaml:3:5: warning: collector 'auth' (/var/log/auth.log, parser none) looks "
        "like builtin:sshd's, which skip it: they read only the kinds their `source_kinds` "
        "names; set parser: {type: syslog} if it is a syslog file, or give the entry `sources:` "
        "naming it",
        "alerter.yaml:5:14: warning: builtin:sshd: SSHBruteForce, SSHInvalidUsers, "
        "SSHAuthRefused read no collector: they read syslog files (parser: {type: syslog}) and "
        "the journal (their `source_kinds`), and this config has none; give the entry "
        "`sources:` to name the collectors that carry them",
    ]


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
    assert lines[-1].endswith("2 warning(s)")


def test_an_action_reading_a_label_its_rules_alerts_never_have_is_warned_about() -> None:
    # builtin:pam's PAMAuthFailures is keyed by rhost: a ban reading labels.ip would fail at
    # every firing; SSHBruteForce is keyed by ip
    cfg = load("""
        rule_files:
          - {path: builtin:pam, sources: [journal], actions: {PAMAuthFailures: [ban]}}
          - {path: builtin:sshd, sources: [journal], actions: {SSHBruteForce: [ban]}}
        """)
    told = [w.message for w in cfg.warnings if "reads labels." in w.message]
    assert told == [
        "warning: PAMAuthFailures (action ban): the action reads labels.ip, which "
        "PAMAuthFailures's alerts never have (they have: alertname, host, rhost, severity); it "
        "would fail at every firing"
    ]


def test_a_configured_protected_list_does_not_unprotect_the_built_in_units() -> None:
    """The issue's case: with protected_units: [web.service], acting on alerter itself, ssh,
    journald or dbus is still refused by `alerter check`; so are systemd-* units and units that
    belong to a protected one (its socket, a getty instance)."""
    units = [
        ("alerter.service", "stop"),
        ("ssh.service", "restart"),
        ("sshd", "restart"),
        ("systemd-journald.service", "restart"),
        ("dbus.service", "restart"),
        ("web.service", "stop"),
        # built in by prefix or by belonging to a protected unit
        ("systemd-logind.service", "stop"),
        ("ssh.socket", "stop"),
        ("getty@tty1.service", "stop"),
    ]
    actions = "".join(
        f"  - {{name: a{i}, type: systemd, unit: {u}, operation: {op}}}\n"
        for i, (u, op) in enumerate(units)
    )
    text = "global: {protected_units: [web.service]}\nactions:\n" + actions
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "c.yaml", {})
    refused = [p.message for p in exc.value.problems]
    assert len(refused) == len(units)
    for (unit, _), message in zip(units, refused, strict=True):
        full = unit if "." in unit else f"{unit}.service"
        assert message.startswith(f"unit: {full} "), message
        why = "global.protected_units" if full == "web.service" else "built in"
        assert f"is protected ({why})" in message, message


def test_where_on_the_entry_adds_a_trusted_condition_to_every_log_rule_of_the_pack() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:postfix
            sources: [journal]
            where: ['_SYSTEMD_UNIT=~"postfix@.*"']
            actions: {PostfixSASLAuthFailures: [ban]}
        """)
    rules = {r.alert: r for r in cfg.rules.rules()}
    assert [str(m) for m in rules["PostfixRejects"].logs.where] == [
        '_TRANSPORT=~"|syslog"',  # the pack's own
        '_COMM=~"|smtpd|postscreen"',  # the pack's own
        '_SYSTEMD_UNIT=~"postfix@.*"',
    ]
    assert rules["PostfixSASLAuthFailures"].actions == ("ban",)
    assert cfg.warnings == ()  # journald proves the writer: no warning
    # the same without the condition is warned about
    cfg = load("""
        rule_files:
          - path: builtin:postfix
            sources: [journal]
            actions: {PostfixSASLAuthFailures: [ban]}
        """)
    assert [w.message.split(" (")[0] for w in cfg.warnings] == ["warning: PostfixSASLAuthFailures"]
    # (the pack's own `_TRANSPORT=~"|syslog"` proves nothing: any process sends by syslog; the
    # kernel pack's `_TRANSPORT=~"|kernel"` does)
    cfg = load("""
        rule_files:
          - {path: builtin:kernel, sources: [journal], actions: {KernelOOMKill: [restart-unit]}}
        """)
    assert not [w for w in cfg.warnings if "the journal" in w.message]


def test_a_pack_rule_with_the_entrys_where_counts_only_matching_entries() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:postfix
            where: ['_SYSTEMD_UNIT=~"postfix@.*"']
        """)
    engine = Engine(cfg.rules, {})
    line = "warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"
    forged = [LogEvent(1.0, "journal", line, {"_SYSTEMD_UNIT": "session-3.scope"})] * 5
    real = [LogEvent(2.0, "journal", line, {"_SYSTEMD_UNIT": "postfix@-.service"})] * 5
    logs(engine, 1.0, forged)
    engine.evaluate(10.0)
    assert not [a for a in engine.alerts() if a.state == "firing"]
    logs(engine, 2.0, real)
    engine.evaluate(20.0)
    assert [a.labels["ip"] for a in engine.alerts() if a.state == "firing"] == ["192.0.2.1"]


def test_a_bad_matcher_in_where_is_an_error_at_its_position() -> None:
    found = problems("rule_files: [{path: builtin:postfix, where: ['_UID'], sources: [web]}]\n")
    assert len(found) == 1 and found[0].startswith("alerter.yaml:9:46: where: invalid matcher"), (
        found
    )


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


def test_a_journald_units_entry_without_a_type_is_the_service_as_systemctl_reads_it() -> None:
    cfg = parse_config(
        "collectors:\n  - {name: webj, type: journald, units: [web, db.socket],"
        " user_units: [app]}\n",
        "alerter.yaml",
        {},
    )
    (c,) = cfg.collectors
    assert c.spec.units == ("web.service", "db.socket")  # type: ignore[union-attr]
    assert c.spec.user_units == ("app.service",)  # type: ignore[union-attr]


def test_a_journald_units_entry_no_unit_is_named_by_is_refused_at_its_position() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(
            "collectors:\n  - {name: webj, type: journald, units: [web.service, 'web*']}\n",
            "alerter.yaml",
            {},
        )
    (found,) = [str(p) for p in exc.value.problems]
    assert found.startswith("alerter.yaml:2:55: units: 'web*' is not a valid unit name"), found
