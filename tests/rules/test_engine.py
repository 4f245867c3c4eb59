"""The engine: log rules fire on the crossing line, Prometheus state machine timing, labels,
templates, cardinality caps and restart safety."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from alerter.core.events import LogEvent
from alerter.rules.loader import load_rule_files
from alerter.rules.model import Rule
from alerter.testing import RecordingHooks
from tests.rules.helpers import engine, log, logs, states

BRUTE = """
groups:
  - name: ssh
    labels: {team: infra}
    rules:
      - alert: SSHBruteForce
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
          exclude: 'from 10\\.'
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 3"
        labels: {severity: warning}
        annotations: {summary: "{{ labels.ip }} failed {{ value }} logins"}
        actions: [ban]
"""


def fail(ip: str, user: str = "root") -> str:
    return f"sshd[1]: Failed password for {user} from {ip} port 22 ssh2"


def test_the_crossing_line_fires_in_its_own_processing() -> None:
    e = engine(BRUTE, {"host": "h1", "team": "ignored"})
    assert log(e, 0, fail("1.2.3.4"), "auth") == []
    assert log(e, 1, fail("1.2.3.4"), "auth") == []
    out = log(e, 2, fail("1.2.3.4"), "auth")
    assert states(out) == [("SSHBruteForce", "firing")]
    a = out[0].alert
    assert out[0].previous == "inactive" and out[0].time == 2
    assert dict(a.labels) == {
        "alertname": "SSHBruteForce",
        "ip": "1.2.3.4",
        "team": "infra",
        "severity": "warning",
        "host": "h1",
    }
    assert a.annotations == {"summary": "1.2.3.4 failed 3 logins"}
    assert a.value == 3 and a.active_at == 2 and a.fired_at == 2
    assert a.actions == ("ban",) and a.group == "ssh"
    assert len(a.examples) == 3 and a.examples[-1] == fail("1.2.3.4")
    assert log(e, 3, fail("1.2.3.4"), "auth") == []  # already firing: no new transition


def test_example_lines_are_kept_cut_so_a_key_costs_no_more_for_long_lines() -> None:
    """A writer chooses its lines' length (up to max_line_bytes, 64 KiB): kept whole as the 3
    examples of each of 100k keys they could hold 19 GB. Each is kept to 512 characters, on
    the per-line path and on the batch path alike."""
    e = engine(BRUTE)
    long_user = "x" * 60_000
    for t in range(3):
        log(e, t, fail("1.2.3.4", long_user), "auth")
    batch = [LogEvent(3.0, "auth", fail("5.6.7.8", long_user), {}) for _ in range(3)]
    logs(e, 3.0, batch)
    alerts = {a.labels["ip"]: a for a in e.alerts()}
    for ip in ("1.2.3.4", "5.6.7.8"):
        ex = alerts[ip].examples
        assert len(ex) == 3 and all(len(x) == 512 for x in ex), [len(x) for x in ex]
        assert ex[-1] == fail(ip, long_user)[:512]


def test_source_exclude_and_keys_are_respected() -> None:
    e = engine(BRUTE)
    for t in range(5):
        assert log(e, t, fail("1.2.3.4"), "nginx") == []  # another source
        assert log(e, t, fail("10.0.0.1"), "auth") == []  # excluded
        assert log(e, t, fail(f"5.5.5.{t}"), "auth") == []  # a different key each time
    assert e.alerts() == []


def test_window_expiry_resolves_at_the_periodic_evaluation() -> None:
    e = engine(BRUTE)
    for t in range(3):
        log(e, t, fail("1.2.3.4"), "auth")
    assert states(e.tick(60)) == []
    out = e.tick(60 + 600)
    assert states(out) == [("SSHBruteForce", "resolved")]
    assert out[0].alert.resolved_at == 660 and out[0].alert.value == 3
    assert e.alerts() == []


FOR_RULE = """
groups:
  - name: g
    interval: 10s
    rules:
      - alert: Errors
        logs: {match: 'ERROR'}
        aggregate: count
        over: 1m
        threshold: ">= 1"
        for: 30s
        keep_firing_for: 20s
"""


def test_for_makes_alerts_pending_then_firing_at_an_evaluation() -> None:
    e = engine(FOR_RULE)
    out = log(e, 0, "ERROR x")
    assert [(t.previous, t.state) for t in out] == [("inactive", "pending")]
    assert [a.state for a in e.alerts()] == ["pending"]
    assert e.tick(20) == []
    out = e.tick(30)
    assert [(t.previous, t.state) for t in out] == [("pending", "firing")]
    assert out[0].alert.active_at == 0 and out[0].alert.fired_at == 30


def test_a_pending_alert_that_loses_its_condition_is_dropped_silently() -> None:
    e = engine(FOR_RULE)
    log(e, 0, "ERROR x")
    assert e.tick(5) == []
    assert e.tick(70) == []  # window expired while pending: no resolved notification
    assert e.alerts() == []


def test_keep_firing_for_holds_the_alert_and_resets_when_the_condition_returns() -> None:
    e = engine(FOR_RULE)
    log(e, 0, "ERROR x")
    e.tick(0)
    assert states(e.tick(30)) == [("Errors", "firing")]
    assert e.tick(70) == []  # condition gone at 70: keep firing since 70
    assert e.tick(80) == []
    log(e, 85, "ERROR y")  # condition back: keep_firing resets
    assert e.tick(150) == []  # gone again at 150
    assert e.tick(160) == []
    out = e.tick(170)
    assert states(out) == [("Errors", "resolved")]


HYST = """
groups:
  - name: g
    rules:
      - alert: Busy
        logs: {match: 'req'}
        aggregate: count
        over: 1m
        threshold: ">= 3"
        resolve_threshold: "< 1"
"""


def test_resolve_threshold_adds_hysteresis() -> None:
    e = engine(HYST)
    for t in (0, 1, 2):
        log(e, t, "req")
    assert [a.state for a in e.alerts()] == ["firing"]
    log(e, 40, "req")
    assert e.tick(62) == []  # 1 event left (< 3 but not < 1): still firing
    assert states(e.tick(101)) == [("Busy", "resolved")]


def test_max_keys_evicts_the_oldest_key_and_reports_it() -> None:
    hooks = RecordingHooks()
    e = engine(
        BRUTE.replace('threshold: ">= 3"', 'threshold: ">= 3"\n        max_keys: 2'), hooks=hooks
    )
    for i in range(4):
        log(e, i, fail(f"9.9.9.{i}"), "auth")
    assert hooks.evicted == [("SSHBruteForce", 1, "max_keys"), ("SSHBruteForce", 1, "max_keys")]
    snap = e.snapshot()
    keys = snap["rules"]["ssh/0/SSHBruteForce"]["window"]["keys"]
    assert [k for k, _ in keys] == [["9.9.9.2"], ["9.9.9.3"]]


def test_a_failing_template_renders_a_marker_and_is_counted() -> None:
    hooks = RecordingHooks()
    rules = HYST.replace(
        'resolve_threshold: "< 1"', 'annotations: {summary: "{{ 1 / (value - 3) }}"}'
    )
    e = engine(rules, hooks=hooks)
    for t in (0, 1):
        log(e, t, "req")
    out = log(e, 2, "req")
    assert out[0].alert.annotations["summary"].startswith("<error expanding template:")
    assert hooks.template_errors and hooks.template_errors[0][0] == "g"
    assert e.rule_health()[0]["rules"][0]["lastError"]


def test_value_renders_whole_numbers_without_a_decimal_point() -> None:
    e = engine(
        HYST.replace('resolve_threshold: "< 1"', 'annotations: {s: "{{ value }} {{ value / 4 }}"}')
    )
    for t in (0, 1, 2):
        out = log(e, t, "req")
    assert out[0].alert.annotations == {"s": "3 0.75"}


def test_snapshot_and_restore_keep_firing_alerts_and_windows() -> None:
    e = engine(BRUTE)
    for t in range(3):
        log(e, t, fail("1.2.3.4"), "auth")
    log(e, 3, fail("7.7.7.7"), "auth")
    snap = json.loads(json.dumps(e.snapshot()))

    e2 = engine(BRUTE)
    e2.restore(snap, now=100)
    assert [a.labels["ip"] for a in e2.alerts()] == ["1.2.3.4"]
    assert e2.tick(100) == []  # still firing: not re-notified
    log(e2, 101, fail("7.7.7.7"), "auth")
    out = log(e2, 102, fail("7.7.7.7"), "auth")  # 3rd for this key, counting the saved one
    assert states(out) == [("SSHBruteForce", "firing")]


def test_a_reload_keeps_the_windows_of_rules_it_does_not_change_in_effect() -> None:
    """Engine.take_over: an unchanged rule keeps its key tables as they are, one whose
    threshold changed keeps its windows through the snapshot (same as a restart), one whose
    window changed starts empty; firing alerts are kept."""
    e = engine(BRUTE)
    for t in range(3):
        log(e, t, fail("1.2.3.4"), "auth")
    log(e, 3, fail("7.7.7.7"), "auth")
    same = engine(BRUTE)
    same.take_over(e, 100)
    assert [a.labels["ip"] for a in same.alerts()] == ["1.2.3.4"]
    assert same.tick(100) == []  # still firing: not re-notified
    log(same, 101, fail("7.7.7.7"), "auth")
    assert states(log(same, 102, fail("7.7.7.7"), "auth")) == [("SSHBruteForce", "firing")]

    lower = engine(BRUTE.replace('">= 3"', '">= 2"'))
    lower.take_over(same, 103)
    assert states(log(lower, 103, fail("8.8.8.8"), "auth")) == []
    assert states(log(lower, 104, fail("8.8.8.8"), "auth")) == [("SSHBruteForce", "firing")]
    assert sorted(a.labels["ip"] for a in lower.alerts()) == ["1.2.3.4", "7.7.7.7", "8.8.8.8"]

    shorter = engine(BRUTE.replace("over: 10m", "over: 5m"))
    shorter.take_over(lower, 105)
    assert shorter.snapshot()["rules"]["ssh/0/SSHBruteForce"]["window"]["keys"] == []
    assert len(shorter.alerts()) == 3


def brute_rule(text: str) -> Rule:
    (rule,) = load_rule_files([("t.yaml", text)], default_interval=15).rules()
    return rule


@pytest.mark.parametrize(
    ("edit", "keeps"),
    [
        (lambda t: "# a comment\n" + t, True),  # every line one lower
        (lambda t: t.replace('">= 3"', '"> 7"'), True),
        (lambda t: t.replace("severity: warning", "severity: critical"), True),
        (lambda t: t.replace("failed {{ value }}", "made {{ value }} attempts"), True),
        (lambda t: t.replace("actions: [ban]", "actions: []"), True),
        (lambda t: t.replace("over: 10m", "over: 5m"), False),
        (lambda t: t.replace("by: [ip]", "by: [ip, user]"), False),
        (lambda t: t.replace("from 10", "from 192"), False),  # the exclude
        (lambda t: t.replace("aggregate: count", "aggregate: count\n        max_keys: 9"), False),
    ],
)
def test_a_reload_keeps_the_key_tables_of_a_rule_whose_windows_hold_the_same(
    edit: Callable[[str], str], keeps: bool
) -> None:
    assert brute_rule(edit(BRUTE)).keeps_windows_of(brute_rule(BRUTE)) is keeps


def test_restore_keeps_for_progress() -> None:
    e = engine(FOR_RULE)
    log(e, 0, "ERROR x")
    e.tick(10)
    snap = json.loads(json.dumps(e.snapshot()))
    e2 = engine(FOR_RULE)
    e2.restore(snap, now=25)
    log(e2, 25, "ERROR again")
    assert states(e2.tick(30)) == [("Errors", "firing")]


def test_batch_of_events_and_where_matchers_on_fields() -> None:
    e = engine("""
groups:
  - name: g
    rules:
      - alert: Crit
        logs: {where: {priority: "2"}}
        aggregate: count
        over: 1m
        by: [unit]
        threshold: ">= 2"
      - alert: Any
        logs: {where: ['unit=~"web.*"', 'priority!="7"']}
        aggregate: count
        over: 1m
        threshold: ">= 3"
""")
    evs = [
        LogEvent(0, "journal", "boom", {"priority": "2", "unit": "web.service"}),
        LogEvent(0, "journal", "boom", {"priority": "2", "unit": "db.service"}),
        LogEvent(0, "journal", "meh", {"priority": "7", "unit": "web.service"}),
        LogEvent(0, "journal", "boom", {"priority": "2", "unit": "web.service"}),
        LogEvent(0, "journal", "x", {"priority": "3", "unit": "webapp.service"}),
    ]
    out = logs(e, 0, evs)
    assert sorted((t.alert.alertname, t.alert.labels.get("unit", "")) for t in out) == [
        ("Any", ""),
        ("Crit", "web.service"),
    ]


def test_rule_health_reports_groups_and_states() -> None:
    e = engine(BRUTE)
    e.tick(0)
    (g,) = e.rule_health()
    assert g["name"] == "ssh" and g["lastEvaluation"] == "1970-01-01T00:00:00.000Z"
    assert g["rules"][0]["health"] == "ok" and g["rules"][0]["state"] == "inactive"


def test_empty_label_values_are_dropped_and_unchanged_annotations_not_rerendered() -> None:
    hooks = RecordingHooks()
    e = engine(
        """
groups:
  - name: g
    rules:
      - alert: Odd
        logs: {match: 'odd(?: user=(?P<user>\\w+))?'}
        aggregate: count
        over: 1m
        by: [user, host]
        threshold: ">= 1"
        annotations: {s: "{{ labels.user.upper() }}", t: "user={{ labels.user }}"}
""",
        hooks=hooks,
    )
    out = log(e, 0, "odd")
    assert dict(out[0].alert.labels) == {"alertname": "Odd"}
    assert out[0].alert.annotations["t"] == "user="  # a missing label renders empty
    assert len(hooks.template_errors) == 1
    for _ in range(3):
        assert e.alerts()[0].annotations["s"].startswith("<error expanding template")
    assert len(hooks.template_errors) == 1


def test_expired_keys_are_forgotten_at_the_periodic_evaluation() -> None:
    e = engine(BRUTE)
    for t in range(3):
        log(e, t, fail("1.2.3.4"), "auth")  # fires
    log(e, 5, fail("5.5.5.5"), "auth")  # stays below the threshold
    e.tick(300)

    def keys() -> list[list[str]]:
        return [k for k, _ in e.snapshot()["rules"]["ssh/0/SSHBruteForce"]["window"]["keys"]]

    assert keys() == [["1.2.3.4"], ["5.5.5.5"]]
    assert states(e.tick(620)) == [("SSHBruteForce", "resolved")]
    assert keys() == []


def test_tick_times_each_group_with_the_timer_it_is_given() -> None:
    hooks = RecordingHooks()
    e = engine(BRUTE, hooks=hooks)
    ticks = iter([10.0, 10.25])
    e.tick(0, timer=lambda: next(ticks))
    assert hooks.durations == [("ssh", 0.25)]
    e.tick(20)  # due again, but no timer: nothing reported
    assert hooks.durations == [("ssh", 0.25)]
