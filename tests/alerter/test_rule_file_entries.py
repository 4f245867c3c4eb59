"""`rule_files` entries that adjust a rule file without copying it (issue 13, point 4): `actions`
attached to its rules by alert name, `disable`, `sources` for its rules that name none, and
`where` matchers added to every log rule; unknown names and malformed entries are errors at
their position."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from alerter.config.load import Config, parse_config
from alerter.core.events import LogEvent
from alerter.errors import ConfigError
from alerter.rules.engine import Engine
from tests.alerter.rule_file_config import load
from tests.rules.helpers import logs


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


def test_where_on_the_entry_adds_a_trusted_condition_to_every_log_rule_of_the_pack() -> None:
    cfg = load("""
        rule_files:
          - path: builtin:postfix
            sources: [journal]
            where: ['_SYSTEMD_UNIT=~"postfix@.*"']
            actions: {PostfixSASLAuthFailures: [ban]}
        """)
    rules = {r.alert: r for r in cfg.rules.rules()}
    logs = rules["PostfixRejects"].logs
    assert logs is not None
    assert [str(m) for m in logs.where] == [
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
