"""The rule loader: valid files load; every problem is reported at once as FILE:LINE:COL."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from alerter.config.load import parse_config
from alerter.core.yamlsource import SourceError
from alerter.errors import ConfigError
from alerter.rules.loader import load_rule_files
from alerter.rules.model import Threshold
from alerter.rules.plans.anyliteral import any_literals

GOOD = """\
groups:
  - name: ssh
    interval: 30s
    labels: {team: infra}
    rules:
      - alert: SSHBruteForce
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
          exclude: 'from 10\\.'
          where: ['program="sshd"']
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 5"
        resolve_threshold: "< 1"
        labels: {severity: warning}
        annotations:
          summary: "{{ labels.ip }} failed {{ value }} SSH logins"
        actions: [ban, notify-team]
      - alert: HighCPU
        metric: 'host_cpu_usage_ratio{cpu="total"}'
        aggregate: avg
        over: 5m
        threshold: "> 0.9"
        for: 5m
"""


def load(text: str, name: str = "r.yaml") -> list[str]:
    try:
        load_rule_files([(name, text)], default_interval=15)
    except SourceError as e:
        return [str(p) for p in e.problems]
    return []


def test_valid_file_loads_with_its_settings() -> None:
    rs = load_rule_files([("r.yaml", GOOD)], default_interval=15)
    (g,) = rs.groups
    assert g.name == "ssh" and g.interval == 30
    ssh, cpu = g.rules
    assert ssh.logs is not None and ssh.logs.sources == ("auth",)
    assert ssh.logs.literal == "Failed password for "
    assert ssh.labels == {"team": "infra", "severity": "warning"}
    assert ssh.threshold is not None and ssh.threshold.holds(5) and not ssh.threshold.holds(4)
    assert ssh.over == 600 and ssh.by == ("ip",)
    assert cpu.metric is not None and cpu.metric.name == "host_cpu_usage_ratio"
    assert cpu.for_ == 300


def test_references_list_every_action_and_source_with_position() -> None:
    rs = load_rule_files([("r.yaml", GOOD)], default_interval=15)
    refs = [(r.kind, r.name, str(r.mark)) for r in rs.references()]
    assert ("source", "auth", "r.yaml:8:19") in refs
    assert ("action", "ban", "r.yaml:20:19") in refs
    assert ("action", "notify-team", "r.yaml:20:24") in refs


BAD = """\
groups:
  - name: g
    rules:
      - alert: BadRegex
        logs: {match: 'Failed (password'}
        aggregate: count
        over: 5m
        threshold: "> 1"
      - alert: UnknownAggregate
        logs: {match: x}
        aggregate: median
        over: 5m
        threshold: "> 1"
      - alert: MissingField
        logs: {match: x}
        aggregate: avg
        over: 5m
        threshold: "> 1"
      - alert: BadMatcher
        logs: {match: x, where: ['program~"sshd"']}
        aggregate: count
        over: 5m
        threshold: "> 1"
      - alert: BadThreshold
        logs: {match: x}
        aggregate: count
        over: 5m
        threshold: "more than 5"
      - alert: JinjaSyntax
        logs: {match: x}
        aggregate: count
        over: 5m
        threshold: "> 1"
        annotations: {summary: "{{ value "}
      - alert: JinjaSample
        logs: {match: x}
        aggregate: count
        over: 5m
        by: [ip]
        threshold: "> 1"
        annotations: {summary: "{{ labels.ipp }}"}
      - alert: Dup
        logs: {match: a}
        aggregate: count
        over: 5m
        threshold: "> 1"
      - alert: Dup
        logs: {match: b}
        aggregate: count
        over: 5m
        threshold: "> 2"
"""


def test_every_problem_is_reported_at_once_with_its_position() -> None:
    problems = load(BAD)
    text = "\n".join(problems)
    assert "r.yaml:5:23: match: invalid regex 'Failed (password'" in text
    assert "r.yaml:11:20: aggregate: unknown value 'median'" in text
    assert "r.yaml:14:9: rules[2]: missing required key 'field'" in text
    assert "r.yaml:20:34: where: invalid matcher 'program~\"sshd\"'" in text
    assert "r.yaml:28:20: threshold: invalid threshold 'more than 5'" in text
    assert "r.yaml:34:32: annotations.summary: template syntax error" in text
    assert "r.yaml:41:32: annotations.summary: template fails with sample data" in text
    assert "ipp" in text
    assert (
        "r.yaml:47:9: rule 'Dup' produces the same alert labels as the rule at r.yaml:42:9" in text
    )
    assert len(problems) == 8


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "logs: {match: x}\n        aggregate: increase\n        over: 5m\n        threshold: '> 1'",
            "increase applies to metric rules",
        ),
        (
            "logs: {match: x}\n        aggregate: quantile\n        field: f\n        q: 1.5\n"
            "        over: 5m\n        threshold: '> 1'",
            "q: must be between 0 and 1",
        ),
        (
            "logs: {match: x}\n        aggregate: count\n        q: 0.5\n        over: 5m\n"
            "        threshold: '> 1'",
            "q: only used by aggregate quantile, not count",
        ),
        (
            "logs: {match: x}\n        aggregate: absent\n        over: 5m\n        threshold: '> 1'",
            "threshold: not used by aggregate absent",
        ),
        (
            "logs: {match: x}\n        aggregate: count\n        over: 5m",
            "aggregate count needs a threshold",
        ),
        (
            "logs: {match: x}\n        aggregate: count\n        threshold: '> 1'",
            "missing required key 'over'",
        ),
        ("metric: 'up{job=~\"(\"}'\n        threshold: '> 1'", "invalid regex"),
        (
            "logs: {match: x}\n        metric: up\n        aggregate: count\n        over: 5m\n"
            "        threshold: '> 1'",
            "exactly one of 'logs'",
        ),
        (
            "logs: {match: x}\n        aggregate: count\n        over: 5m\n        threshold: '> 1'\n"
            "        tresholds: 1",
            "unknown key 'tresholds'",
        ),
        (
            "logs: {match: x}\n        aggregate: spike\n        factor: 0.5\n        over: 5m",
            "factor: must be > 1",
        ),
        (
            "metric: up\n        aggregate: ratio\n        over: 5m\n        threshold: '> 1'",
            "missing required key 'of'",
        ),
        (
            "logs: {match: x}\n        aggregate: count\n        combine: avg\n        over: 5m\n"
            "        threshold: '> 1'",
            "combine: only used by metric rules with by",
        ),
    ],
)
def test_rule_mistakes_are_explained(snippet: str, message: str) -> None:
    text = f"groups:\n  - name: g\n    rules:\n      - alert: A\n        {snippet}\n"
    problems = load(text)
    assert any(message in p for p in problems), problems


def test_problems_from_several_files_are_all_reported() -> None:
    with pytest.raises(SourceError) as e:
        load_rule_files(
            [
                ("a.yaml", "groups: [{name: g, rules: [{alert: A}]}]"),
                ("b.yaml", "groups:\n  - name: g\n    rules: []\n  bad"),
            ],
            15,
        )
    files = {p.mark.file for p in e.value.problems}
    assert files == {"a.yaml", "b.yaml"}


def test_duplicate_group_names_are_rejected() -> None:
    g = "groups: [{name: g, rules: []}]"
    with pytest.raises(SourceError, match="duplicate group name 'g'"):
        load_rule_files([("a.yaml", g), ("b.yaml", g)], 15)


def test_builtin_packs_load_and_name_no_source() -> None:
    packs = resources.files("alerter.rules").joinpath("packs")
    files = [
        (f"builtin:{f.name}", f.read_text()) for f in packs.iterdir() if f.name.endswith(".yaml")
    ]
    assert {n for n, _ in files} >= {
        f"builtin:{p}.yaml" for p in ("sshd", "nginx", "host", "systemd", "kernel", "deadman")
    }
    rs = load_rule_files(files, 15)
    assert len(rs.rules()) >= 15
    assert [r for r in rs.references() if r.kind == "source"] == []
    for rule in rs.rules():
        # a rule whose lines share no literal (sshd's lines with and without the peer's
        # address) has one of a few in every match (rules/plans/anyliteral.py)
        if rule.logs is not None and rule.logs.match is not None:
            assert rule.logs.literal or any_literals(rule.logs.match), (
                f"{rule.alert}: no pre-filter literal"
            )


def test_alerter_check_reports_rule_problems_with_unknown_references(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("""\
groups:
  - name: g
    rules:
      - alert: A
        logs: {source: nope, match: 'x('}
        aggregate: count
        over: 5m
        threshold: ">= 1"
        actions: [ban]
        annotations: {s: "{{ labels.zz }}"}
""")
    config = f"""
global: {{state_dir: {tmp_path}/state}}
collectors:
  - {{name: auth, type: file, paths: [{tmp_path}/a.log], parser: {{type: syslog}}}}
rule_files: [rules.yaml]
"""
    with pytest.raises(ConfigError) as e:
        parse_config(config, str(tmp_path / "config.yaml"), {})
    got = [p.message.split(":")[0] for p in e.value.problems]
    assert got == [
        "unknown log source 'nope' (no collector has that name)",
        "match",
        "unknown action 'ban' (define it under actions",
        "annotations.s",
    ]


@pytest.mark.parametrize(
    ("threshold", "resolve", "at"),
    [(">= 3", "> 2", "3"), ("> 1", "> 5", "6"), ("> 1", "< 2", "1.5"), ("!= 0", "!= 1", "0.5")],
)
def test_a_resolve_threshold_that_overlaps_the_threshold_is_refused(
    threshold: str, resolve: str, at: str
) -> None:
    text = f"""
groups:
  - name: g
    rules:
      - alert: A
        logs: {{match: x}}
        aggregate: count
        over: 1m
        threshold: "{threshold}"
        resolve_threshold: "{resolve}"
"""
    with pytest.raises(SourceError) as e:
        load_rule_files([("r.yaml", text)], default_interval=60)
    (problem,) = [str(p) for p in e.value.problems]
    assert problem.startswith(f'r.yaml:10:28: resolve_threshold: "{resolve}" holds where')
    assert f"(at {at})" in problem
    for ok in (">= 3", "> 1", "!= 0"):  # hysteresis on the other side loads
        apart = Threshold.parse(ok).negated()
        edited = text.replace(f'"{threshold}"', f'"{ok}"').replace(f'"{resolve}"', f'"{apart}"')
        assert load_rule_files([("r.yaml", edited)], default_interval=60).rules()
