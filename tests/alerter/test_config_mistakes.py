"""Mistakes that loaded and then misbehaved at run time are told at load, where they are:
label names Alertmanager refuses, a regex naming a group twice, a log rule reading a collector
that gives samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.config.load import load_config
from alerter.errors import ConfigError

RULES = r"""
groups:
  - name: g
    labels: {team-a: x}
    rules:
      - alert: A
        logs: {source: app, match: 'ERR (?P<ip>\S+) (?P<ip>\S+)'}
        aggregate: count
        over: 1m
        threshold: ">= 1"
      - alert: B
        logs: {source: app, match: 'ERR (?P<ip>\S+)'}
        by: [ip, 1st]
        aggregate: count
        over: 1m
        threshold: ">= 1"
        labels: {'': y, __name__: z, ok_name: fine}
        annotations: {run book: x}
      - alert: C
        logs: {source: host, match: x}
        aggregate: count
        over: 1m
        threshold: ">= 1"
"""


def problems(tmp_path: Path) -> list[str]:
    (tmp_path / "r.yaml").write_text(RULES)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s, labels: {dc-1: x}}\n"
        "collectors:\n"
        "  - {name: app, type: file, paths: [app.log], parser: {type: none}}\n"
        "  - {name: host, type: host}\n"
        "rule_files: [r.yaml]\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg))
    return [str(p).removeprefix(f"{tmp_path}/") for p in e.value.problems]


def test_each_mistake_is_told_at_its_place(tmp_path: Path) -> None:
    bad = "is not a valid label name (letters, digits and _, not starting with a digit"
    assert problems(tmp_path) == [
        f"c.yaml:1:33: labels: 'dc-1' {bad}: Alertmanager and Prometheus refuse it)",
        f"r.yaml:4:14: labels: 'team-a' {bad}: Alertmanager and Prometheus refuse it)",
        "r.yaml:7:36: match: invalid regex 'ERR (?P<ip>\\\\S+) (?P<ip>\\\\S+)': redefinition of"
        " group name 'ip' as group 2; was group 1 at position 20",
        f"r.yaml:13:18: by: '1st' {bad}: Alertmanager and Prometheus refuse it)",
        f"r.yaml:17:18: labels: '' {bad}: Alertmanager and Prometheus refuse it)",
        "r.yaml:17:25: labels: '__name__': names starting with __ are reserved",
        f"r.yaml:18:23: annotations: 'run book' {bad}: Alertmanager and Prometheus refuse it)",
        "r.yaml:20:24: 'host' is a host collector: it gives samples, not log lines; read its"
        " series with `metric:` (e.g. metric: host_load1)",
    ]


def test_a_state_dir_that_is_a_file_is_told_at_load(tmp_path: Path) -> None:
    (tmp_path / "statefile").write_text("")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global: {state_dir: statefile}\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(cfg))
    assert [str(p) for p in e.value.problems] == [
        f"{cfg}:1:21: state_dir: {tmp_path / 'statefile'} is a file; name a directory"
    ]


@pytest.mark.parametrize(
    ("config", "rules", "told"),
    [
        ("global:\n\tstate_dir: s\n", None, "c.yaml:2:1: invalid YAML: a tab; YAML indents with"
         " spaces only"),
        ('global: !!python/object/apply:os.system ["id"]\n', None,
         "c.yaml:1:9: YAML tag !!python/object/apply:os.system is not supported here; remove it"),
        ("global: {state_dir: s, evaluation_interval: 0s}\nrule_files: [r.yaml]\n",
         "groups: [{name: g, rules: []}]\n", "c.yaml:1:45: evaluation_interval must be > 0"),
        ("notifiers: [{name: am, type: alertmanager, urls: 'http://am1:9093'}]\n", None,
         "c.yaml:1:50: urls: expected a list, got a string ('http://am1:9093')"),
        ("rule_files: [r.yaml]\n", "groups: [{name: g, rules: [{alert: A, logs: {match: x},"
         " aggregate: count, over: 1m, threshold: '> 1', fro: 1m}]}]\n",
         "r.yaml:1:103: rules[0]: unknown key 'fro' (did you mean 'for'?)"),
        # a port alone (it was told as "9753 is not a loopback address")
        ("server: {listen: '9753'}\n", None, "c.yaml:1:18: listen: expected HOST:PORT, got '9753'"),
        # a misspelt required key: told once, as unknown with the name it misses (it was also
        # told missing, and a collector's not at all)
        ("collectors: [{nme: h, type: host}]\n", None,
         "c.yaml:1:15: collectors[0]: unknown key 'nme' (did you mean 'name'?)"),
        ("rule_files: [r.yaml]\n", "groups: [{nme: g, rules: []}]\n",
         "r.yaml:1:11: groups[0]: unknown key 'nme' (did you mean 'name'?)"),
        # numbers too large to run with: they passed the check and crashed the daemon at run time
        ("global: {state_dir: s, evaluation_interval: 293y}\n", None,
         "c.yaml:1:45: evaluation_interval: invalid duration '293y': out of range (at most 292y)"),
        ("rule_files: [r.yaml]\n", "groups: [{name: g, rules: [{alert: A, logs: {match: x},"
         " aggregate: count, over: 99999999999999999999999d, threshold: '> 1'}]}]\n",
         "r.yaml:1:81: over: invalid duration '99999999999999999999999d': out of range (at most"
         " 292y)"),
        ("collectors: [{name: c, type: command, argv: [x], interval: 60d, timeout: 25d}]\n", None,
         "c.yaml:1:74: timeout: must be <= 1d, got 25d"),
        ("actions: [{name: a, type: command, argv: [x], timeout: 30d}]\n", None,
         "c.yaml:1:56: timeout: must be <= 1d, got 30d"),
        ("collectors: [{name: f, type: file, paths: [x], max_line_bytes: 99999999999999999999}]\n",
         None, "c.yaml:1:64: max_line_bytes: must be <= 16777216, got 99999999999999999999"),
    ],
)  # fmt: skip
def test_a_mistake_is_told_once_where_it_is_with_what_to_do(
    tmp_path: Path, config: str, rules: str | None, told: str
) -> None:
    if rules is not None:
        (tmp_path / "r.yaml").write_text(rules)
    (tmp_path / "c.yaml").write_text(config)
    with pytest.raises(ConfigError) as e:
        load_config(str(tmp_path / "c.yaml"))
    assert [str(p).removeprefix(f"{tmp_path}/") for p in e.value.problems] == [told]


def test_a_label_or_value_no_line_can_have_is_warned_of(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        """
groups:
  - name: g
    rules:
      - {alert: B, logs: {source: app, match: 'ERR (?P<ip>\\S+)'}, by: [ipaddr],
         aggregate: count, over: 1m, threshold: "> 1"}
      - {alert: S, logs: {source: app, match: 'ERR'}, field: bytes, aggregate: sum, over: 1m,
         threshold: "> 1"}
      - {alert: P, logs: {source: auth, match: x}, by: [program, host, source], aggregate: count,
         over: 1m, threshold: "> 1"}
      - {alert: J, logs: {source: journal, match: x}, by: [_SYSTEMD_UNIT], aggregate: count,
         over: 1m, threshold: "> 1"}
"""
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\n"
        "collectors:\n"
        "  - {name: app, type: file, paths: [app.log], parser: {type: none}}\n"
        "  - {name: auth, type: file, paths: [auth.log], parser: {type: syslog}}\n"
        "  - {name: journal, type: journald}\n"
        "rule_files: [r.yaml, builtin:sshd, builtin:nginx]\n"
    )
    warned = [str(w).removeprefix(f"{tmp_path}/") for w in load_config(str(cfg)).warnings]
    assert warned == [
        "r.yaml:5:9: warning: B: by: 'ipaddr' is in no line it reads (its match has no group 'ipaddr',"
        " nor its sources (app) a field of that name), so every line counts under one key",
        "r.yaml:7:9: warning: S: field: 'bytes' is in no line it reads (its match has no group 'bytes',"
        " nor its sources (app) a field of that name), so the aggregate has no value to read",
    ]  # (syslog's fields, `source`, the journal's and the packs' names: no warning)


def test_an_empty_rule_file_is_warned_of_and_groups_none_is_not(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("# rules go here\n\n")
    (tmp_path / "none.yaml").write_text("groups: []\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "global: {state_dir: s}\nrule_files: [empty.yaml, none.yaml]\n"
        "collectors: [{name: host, type: host}]\n"
    )
    assert [str(w) for w in load_config(str(cfg)).warnings] == [
        f"{cfg}:2:14: warning: rule_files: {tmp_path / 'empty.yaml'} is empty; no rules read"
    ]


def test_a_config_without_collectors_is_warned_of(tmp_path: Path) -> None:
    """A config that reads nothing passes (an operator may be starting from nothing), with a
    warning at the `collectors` key, or at the top of the file when there is none."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("global: {state_dir: s}\n")
    assert [str(w) for w in load_config(str(cfg)).warnings] == [
        f"{cfg}:1:1: warning: no collectors: alerter reads no logs and no metrics "
        "(add one, e.g. a file)"
    ]
    cfg.write_text("global: {state_dir: s}\ncollectors: []\n")
    (warning,) = load_config(str(cfg)).warnings
    assert str(warning).startswith(f"{cfg}:2:13: warning: no collectors")
    cfg.write_text("global: {state_dir: s}\ncollectors: [{name: host, type: host}]\n")
    assert load_config(str(cfg)).warnings == ()
