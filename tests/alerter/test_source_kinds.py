"""What a pack's rules that name no source read: the collectors of their `source_kinds` (as
a log-derived metric does), not another program's file; `alerter check` tells of a file that
looks like a pack's but is skipped, and of a pack with no collector of its kinds."""

from __future__ import annotations

import textwrap
from pathlib import Path

from alerter.config.load import parse_config
from alerter.core.events import LogEvent
from alerter.rules.engine import Engine
from tests.alerter.rule_file_config import COLLECTORS, load
from tests.rules.helpers import logs


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
