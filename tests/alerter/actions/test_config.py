"""Parsing `actions:`: defaults, templates compiled at load, protected units refused with position."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from alerter.actions.config import CommandSpec, SignalSpec, SystemdSpec, ThrottleSpec
from alerter.core.yamlsource import SourceError

from .conftest import parse_actions


def problems(text: str) -> list[str]:
    with pytest.raises(SourceError) as e:
        parse_actions(text)
    return [str(p) for p in e.value.problems]


def test_design_example_parses_with_documented_defaults() -> None:
    actions = parse_actions("""
actions:
  - name: restart-web
    type: systemd
    unit: web.service
    operation: restart
    cooldown: 5m
    limit: {count: 3, within: 1h}
    verify: 2m
  - {name: throttle-web, type: systemd, unit: web.service, operation: set-property,
     properties: {CPUQuota: 20%}, revert: true}
  - {name: hup-app, type: signal, pidfile: /run/app.pid, signal: HUP}
  - name: ban
    type: command
    argv: [/usr/sbin/nft, add, element, inet, filter, blocklist, "{ {{ labels.ip }} }"]
    undo_argv: [/usr/sbin/nft, delete, element, inet, filter, blocklist, "{ {{ labels.ip }} }"]
    timeout: 30s
  - {name: shed-debug, type: throttle, collector: app, rate: 100/s, revert: true}
""")
    restart, prop, hup, ban, shed = actions
    assert restart.cooldown == 300 and restart.limit.count == 3 and restart.limit.within == 3600
    assert restart.verify == 120 and restart.repeat and not restart.revert
    assert isinstance(restart.spec, SystemdSpec) and restart.spec.unit.source == "web.service"
    # a state that is reverted on resolve is set once, not re-applied every cooldown
    assert prop.reverts and not prop.repeat
    assert isinstance(prop.spec, SystemdSpec) and prop.spec.properties == (("CPUQuota", "20%"),)
    assert isinstance(hup.spec, SignalSpec) and hup.spec.signal == signal.SIGHUP
    assert isinstance(ban.spec, CommandSpec) and ban.reverts and ban.repeat
    assert ban.spec.argv[-1].render({"labels": {"ip": "1.2.3.4"}}) == "{ 1.2.3.4 }"
    assert (
        isinstance(shed.spec, ThrottleSpec) and shed.spec.mode == "rate" and shed.spec.value == 100
    )
    assert shed.reverts and not shed.repeat


def test_protected_unit_is_refused_at_load_with_its_position() -> None:
    out = problems("""
actions:
  - name: restart-ssh
    type: systemd
    unit: ssh
""")
    assert out == [
        "alerter.yaml:5:11: unit: ssh.service is protected (built in); alerter will not act on it"
    ]


def test_glob_unit_names_are_refused_at_load() -> None:
    out = problems("actions:\n  - {name: all, type: systemd, unit: 'web*'}\n")
    assert (
        len(out) == 1 and "not a valid unit name" in out[0] and out[0].startswith("alerter.yaml:2:")
    )


def test_template_syntax_errors_are_reported_at_load() -> None:
    out = problems("""
actions:
  - {name: r, type: systemd, unit: "{{ labels.unit "}
  - {name: c, type: command, argv: [/bin/echo, "{% if %}"]}
""")
    assert len(out) == 2
    assert out[0].startswith("alerter.yaml:3:") and "unit: invalid template" in out[0]
    assert out[1].startswith("alerter.yaml:4:") and "argv: invalid template" in out[1]


def test_a_template_in_the_code_an_interpreter_runs_is_refused_where_it_stays_data_it_is_not() -> (
    None
):
    out = problems("""
actions:
  - {name: a, type: command, argv: [/bin/sh, -c, "echo {{ labels.user }} >> out"]}
  - {name: b, type: command, argv: [/usr/bin/env, A=1, bash, -ec, "fix {{ labels.ip }}"]}
  - {name: c, type: command, argv: [/bin/true], undo_argv: [python3, -c, "{{ labels.x }}"]}
  - {name: d, type: command, argv: [busybox, sh, -c, "{{ labels.x }}"]}
  - {name: e, type: command, argv: [awk, -v, n=1, "/{{ labels.x }}/"]}
  - {name: f, type: command, argv: [perl, -e, "print '{{ labels.x }}'"]}
""")
    assert [p.split(":")[1] for p in out] == ["3", "4", "5", "6", "7", "8"]  # each at its line
    assert "argv: this template is in the code that /bin/sh -c runs" in out[0]
    assert "undo_argv: this template is in the code that python3 -c runs" in out[2]
    assert """e.g. [sh, -c, 'fix "$1"', sh, "{{ labels.user }}"]""" in out[0]
    # the value as an argument of its own, a script file's arguments, a static -c: data
    actions = parse_actions("""
actions:
  - {name: a, type: command, argv: [/bin/sh, -c, 'echo "$1" >> out', sh, "{{ labels.user }}"]}
  - {name: b, type: command, argv: [/bin/bash, /usr/local/bin/fix.sh, "{{ labels.ip }}"]}
  - {name: c, type: command, argv: [python3, /opt/fix.py, -c, "{{ labels.x }}"]}
  - {name: d, type: command, argv: [awk, -f, prog.awk, "{{ labels.x }}"]}
  - {name: e, type: command, argv: [/usr/local/bin/fix, -c, "{{ labels.x }}"]}
""")
    assert len(actions) == 5


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{name: x, type: reboot}", "type: unknown value 'reboot'"),
        ("{name: x, type: systemd, unit: a.service, operation: kill}", "operation: unknown value"),
        (
            "{name: x, type: systemd, unit: a.service, operation: set-property}",
            "set-property needs properties",
        ),
        (
            "{name: x, type: systemd, unit: a.service, properties: {CPUQuota: 1%}}",
            "only used with operation: set-property",
        ),
        ("{name: x, type: systemd, unit: a.service, revert: true}", "revert: only set-property"),
        ("{name: x, type: throttle, collector: app}", "exactly one of rate"),
        (
            "{name: x, type: throttle, collector: app, rate: 100/s, pause: true}",
            "exactly one of rate",
        ),
        ("{name: x, type: throttle, collector: app, rate: fast}", "rate: expected N/s"),
        ("{name: x, type: throttle, collector: app, sample: 1.5}", "sample: the kept fraction"),
        ("{name: x, type: signal, signal: HUP}", "exactly one of pidfile or process"),
        ("{name: x, type: signal, pidfile: /run/a.pid, signal: NOPE}", "unknown signal 'NOPE'"),
        ("{name: x, type: signal, pidfile: /run/a.pid}", "missing required key 'signal'"),
        ("{name: x, type: signal, process: '(unclosed'}", "process:"),
        ("{name: x, type: signal, signal: HUP, process: '(?<=x)y'}", "process: look"),
        ("{name: x, type: command, argv: []}", "must name a program"),
        ("{name: x, type: command, argv: ['{{ labels.prog }}']}", "cannot be templated"),
        ("{name: x, type: command, argv: [/bin/true], revert: true}", "reverts by undo_argv"),
        (
            "{name: x, type: command, argv: [/bin/true], on: resolved, undo_argv: [/bin/true], revert: true}",
            "nothing to revert",
        ),
        (
            "{name: x, type: systemd, unit: a.service, limit: {count: 0, within: 1h}}",
            "count: must be >= 1",
        ),
        (
            "{name: x, type: systemd, unit: a.service, limit: {count: 2}}",
            "missing required key 'within'",
        ),
        (
            "{name: x, type: systemd, unit: a.service, cooldwn: 5m}",
            "unknown key 'cooldwn' (did you mean 'cooldown'?)",
        ),
    ],
)
def test_invalid_actions_are_explained(entry: str, message: str) -> None:
    out = problems(f"actions:\n  - {entry}\n")
    assert any(message in line for line in out), out
    assert all(line.startswith("alerter.yaml:2:") for line in out), out


def test_rates_are_per_second() -> None:
    (a,) = parse_actions("actions:\n  - {name: x, type: throttle, collector: app, rate: 600/m}\n")
    assert isinstance(a.spec, ThrottleSpec) and a.spec.value == 10


def test_templated_unit_is_checked_at_run_time_not_load() -> None:
    (a,) = parse_actions("actions:\n  - {name: x, type: systemd, unit: '{{ labels.unit }}'}\n")
    assert isinstance(a.spec, SystemdSpec) and not a.spec.unit.is_static


def test_on_resolved_works_unquoted_although_yaml_reads_on_as_true() -> None:
    (a,) = parse_actions(
        "actions:\n  - {name: x, type: command, argv: [/bin/true], on: resolved}\n"
    )
    assert a.on == "resolved" and not a.reverts
    out = problems("actions:\n  - {name: x, type: command, argv: [/bin/true], on: later}\n")
    assert out == ["alerter.yaml:2:53: on: expected firing or resolved, got 'later'"]


def test_throttle_of_an_unknown_collector_is_a_config_error() -> None:
    from alerter.config.load import parse_config
    from alerter.errors import ConfigError

    text = """
collectors:
  - {name: app, type: file, paths: [/tmp/a6-nothing.log]}
actions:
  - {name: shed, type: throttle, collector: nope, pause: true}
  - {name: ok, type: throttle, collector: app, pause: true}
"""
    with pytest.raises(ConfigError) as e:
        parse_config(text, "alerter.yaml", {})
    assert [str(p) for p in e.value.problems] == [
        "alerter.yaml:5:5: action 'shed': unknown collector 'nope'"
    ]


def test_build_action_runner_wires_the_config(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from alerter.actions import build_action_runner
    from alerter.config.load import parse_config
    from alerter.runtime.metrics import Metrics
    from alerter.store.db import StateStore
    from alerter.testing import FakeUnitController, FixedClock

    from .conftest import T0, alert, fire

    config = parse_config(
        """
global: {protected_units: [web-db.service]}
actions:
  - {name: restart, type: systemd, unit: "{{ labels.unit }}"}
""",
        "alerter.yaml",
        {},
    )
    units = FakeUnitController()
    store = StateStore(tmp_path)
    runner = build_action_runner(
        config,
        store,
        Metrics(CollectorRegistry()),
        FixedClock(T0),
        {},
        lambda ts: None,
        units=units,
    )
    try:
        runner.handle(
            [fire(alert(["restart"], unit="web-db"), T0), fire(alert(["restart"], unit="web"), T0)],
            T0,
        )
        assert runner.wait_idle(10)
        assert units.operations() == [("restart", "web.service")]
        assert sorted(r["outcome"] for r in runner.history()) == ["ok", "refused_protected"]
    finally:
        runner.stop()
        store.close()


def test_the_readme_example_parses() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("## Actions and privileges") :]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None
    names = [a.name for a in parse_actions(match.group(1))]
    assert names == ["restart-web", "cap-web", "hup-app", "tell-oncall", "shed-debug"]


@pytest.mark.parametrize("pattern", [".", "", ".*", "^", "x?", "\\\\S", "(?s).", "[^\\\\x00]"])
def test_a_process_pattern_that_matches_every_process_is_refused(pattern: str) -> None:
    (line,) = problems(
        f'actions:\n  - {{name: x, type: signal, signal: TERM, process: "{pattern}"}}\n'
    )
    assert line.startswith("alerter.yaml:2:52: process: ")
    assert "matches every command line" in line and "name the program" in line


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [("sshd", "/usr/sbin/sshd -D"), ("^/", "/sbin/init splash"), ("bash", "-bash")],
)
def test_a_process_pattern_that_matches_common_processes_is_kept_with_a_warning(
    pattern: str, matched: str
) -> None:
    (a,) = parse_actions(
        f"actions:\n  - {{name: x, type: signal, signal: TERM, process: '{pattern}'}}\n"
    )
    assert isinstance(a.spec, SignalSpec) and a.spec.process is not None
    (w,) = a.warnings
    assert str(w).startswith(f"alerter.yaml:2:52: warning: process: {pattern!r} also matches ")
    assert repr(matched) in str(w)


def test_a_process_pattern_naming_one_program_passes_without_a_warning() -> None:
    (a,) = parse_actions(
        "actions:\n  - {name: x, type: signal, signal: HUP, process: '^/usr/sbin/nginx( |$)'}\n"
    )
    assert a.warnings == ()
