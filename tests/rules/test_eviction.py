"""Keys past `max_keys`: the least recently updated key is evicted in O(1), counted with a
reason, an evicted key's alert resolves at the next evaluation, and a snapshot keeps the order.
Both ways a `by` rule takes a batch are covered: line by line (an `exclude`) and gathered per
key (`keyed`)."""

from __future__ import annotations

import json
import time

import pytest

from alerter.core.events import LogEvent
from alerter.rules.alert import Transition
from alerter.rules.engine import Engine
from alerter.rules.plans import KeyedFindall
from alerter.testing import RecordingHooks
from tests.rules.helpers import engine, log, logs, states

RULE = """
groups:
  - name: ssh
    rules:
      - alert: SSHBruteForce
        logs:
          source: auth
          match: 'Failed password for (?P<user>\\S+) from (?P<ip>[\\d.]+)'
{exclude}
        aggregate: count
        over: 10m
        by: [ip]
        threshold: ">= 3"
        keep_firing_for: {keep}s
        max_keys: {max_keys}
"""
PATHS = ("per-line", "keyed")


def rules(path: str, max_keys: int, keep: int = 0) -> str:
    # a `where` on a regex group: each line judged on its own (the keyed plans take an
    # `exclude` too)
    exclude = """          where: ['user=~".*"']""" if path == "per-line" else ""
    return RULE.format(exclude=exclude, max_keys=max_keys, keep=keep)


def make(path: str, max_keys: int, keep: int = 0, hooks: RecordingHooks | None = None) -> Engine:
    e = engine(rules(path, max_keys, keep), hooks=hooks)
    plan = e._log_rules[0].plan  # the path under test is the one taken
    assert isinstance(plan, KeyedFindall) == (path == "keyed")
    return e


def fail(ip: str) -> str:
    return f"sshd[1]: Failed password for root from {ip} port 22 ssh2"


def batch(e: Engine, t: float, *ips: str) -> list[Transition]:
    return logs(e, t, [LogEvent(t, "auth", fail(ip)) for ip in ips])


def keys(e: Engine) -> list[str]:
    """The rule's keys, oldest first (the snapshot's order)."""
    return [k[0] for k, _ in e.snapshot()["rules"]["ssh/0/SSHBruteForce"]["window"]["keys"]]


@pytest.mark.parametrize("path", PATHS)
def test_the_least_recently_updated_key_is_evicted_and_counted(path: str) -> None:
    hooks = RecordingHooks()
    e = make(path, 3, hooks=hooks)
    for t, ip in enumerate(("1.0.0.1", "1.0.0.2", "1.0.0.3")):
        batch(e, t, ip)
    batch(e, 3, "1.0.0.1")  # updated: now the newest
    assert hooks.evicted == []
    batch(e, 4, "1.0.0.4")
    assert keys(e) == ["1.0.0.3", "1.0.0.1", "1.0.0.4"]  # 1.0.0.2 went, not 1.0.0.1
    assert hooks.evicted == [("SSHBruteForce", 1, "max_keys")]


@pytest.mark.parametrize("path", PATHS)
def test_evictions_are_reported_once_per_batch_with_their_count(path: str) -> None:
    hooks = RecordingHooks()
    e = make(path, 3, hooks=hooks)
    ips = [f"2.0.0.{i}" for i in range(10)]
    batch(e, 0, *ips)
    assert hooks.evicted == [("SSHBruteForce", 7, "max_keys")]
    assert keys(e) == ips[-3:]
    e.tick(1)
    assert hooks.evicted == [("SSHBruteForce", 7, "max_keys")]  # reported, not again


@pytest.mark.parametrize("path", PATHS)
def test_a_firing_key_evicted_resolves_at_the_next_evaluation(path: str) -> None:
    e = make(path, 2)
    for t in range(3):
        out = batch(e, t, "6.6.6.6")
    assert states(out) == [("SSHBruteForce", "firing")]
    batch(e, 3, "1.0.0.1", "1.0.0.2")  # two new keys: 6.6.6.6 is evicted
    assert "6.6.6.6" not in keys(e)
    assert [a.labels["ip"] for a in e.alerts()] == ["6.6.6.6"]  # until the evaluation
    out = e.tick(4)
    assert states(out) == [("SSHBruteForce", "resolved")]
    assert out[0].alert.labels["ip"] == "6.6.6.6" and out[0].alert.resolved_at == 4
    assert e.alerts() == [] and e.tick(30) == []


@pytest.mark.parametrize("path", PATHS)
def test_an_evicted_firing_key_is_kept_firing_for_keep_firing_for(path: str) -> None:
    e = make(path, 2, keep=20)
    for t in range(3):
        batch(e, t, "6.6.6.6")
    batch(e, 3, "1.0.0.1", "1.0.0.2")
    assert e.evaluate(4) == [] and e.evaluate(20) == []  # kept since 4
    assert [a.state for a in e.alerts()] == ["firing"]
    assert states(e.evaluate(24)) == [("SSHBruteForce", "resolved")]


@pytest.mark.parametrize("path", PATHS)
def test_a_key_that_keeps_being_updated_survives_churn_and_keeps_firing(path: str) -> None:
    hooks = RecordingHooks()
    e = make(path, 3, hooks=hooks)
    for t in range(3):
        batch(e, t, "6.6.6.6")
    for i in range(50):  # churn: two new addresses between each of the attacker's lines
        batch(e, 3 + i, f"3.0.0.{2 * i}", f"3.0.1.{2 * i}", "6.6.6.6")
        assert e.tick(3.5 + i) == []
    assert [a.labels["ip"] for a in e.alerts()] == ["6.6.6.6"]
    assert sum(n for _, n, _ in hooks.evicted) == 1 + 2 * 50 - 3  # all but the last three


@pytest.mark.parametrize("path", PATHS)
def test_restore_keeps_the_order_so_the_same_key_is_evicted_next(path: str) -> None:
    e = make(path, 3)
    for t, ip in enumerate(("1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.1")):
        batch(e, t, ip)
    saved = json.loads(json.dumps(e.snapshot()))  # as the checkpoint stores it
    hooks = RecordingHooks()
    again = make(path, 3, hooks=hooks)
    again.restore(saved, 10)
    assert keys(again) == ["1.0.0.2", "1.0.0.3", "1.0.0.1"]
    batch(again, 11, "1.0.0.4")
    batch(e, 11, "1.0.0.4")
    assert keys(again) == keys(e) == ["1.0.0.3", "1.0.0.1", "1.0.0.4"]
    assert hooks.evicted == [("SSHBruteForce", 1, "max_keys")]


def test_restore_under_a_lowered_max_keys_keeps_the_newest_keys_and_counts_the_rest() -> None:
    e = make("keyed", 5)
    for t in range(5):
        batch(e, t, f"1.0.0.{t}")
    hooks = RecordingHooks()
    smaller = make("keyed", 2, hooks=hooks)
    smaller.restore(e.snapshot(), 10)
    assert keys(smaller) == ["1.0.0.3", "1.0.0.4"]
    assert hooks.evicted == [("SSHBruteForce", 3, "max_keys")]


NEW_VALUE = """
groups:
  - name: g
    rules:
      - alert: NewIP
        logs: {match: 'login (?P<user>\\w+) from (?P<ip>\\S+)'}
        aggregate: new_value
        field: ip
        by: [user]
        over: 10s
        lookback: 100s
        max_keys: 2
"""


def seen(e: Engine) -> list[str]:
    return [k[1] for k, _ in e.snapshot()["rules"]["g/0/NewIP"]["window"]["seen"]]


def test_new_value_forgets_the_least_recently_seen_value_past_max_keys() -> None:
    hooks = RecordingHooks()
    e = engine(NEW_VALUE, hooks=hooks)
    assert states(log(e, 0, "login bob from v1")) == [("NewIP", "firing")]
    assert states(log(e, 1, "login bob from v2")) == [("NewIP", "firing")]
    assert log(e, 2, "login bob from v1") == []  # seen: now the most recent
    assert states(log(e, 3, "login bob from v3")) == [("NewIP", "firing")]
    assert seen(e) == ["v1", "v3"]  # v2 forgotten, not v1
    # seen: one eviction (v2); fresh (the values alerting): one (v1)
    assert hooks.evicted == [("NewIP", 2, "max_keys")]  # one report for the line
    assert len(e.evaluate(15)) == 3  # all three alerts end
    assert log(e, 16, "login bob from v1") == []
    assert states(log(e, 17, "login bob from v2")) == [("NewIP", "firing")]  # new again


def test_new_value_alerts_past_max_keys_resolve_at_the_next_evaluation() -> None:
    e = engine(NEW_VALUE)
    for t, v in enumerate(("v1", "v2", "v3")):
        log(e, t, f"login bob from {v}")
    assert len(e.alerts()) == 3  # v1's alert is no longer held in the fresh table...
    out = e.evaluate(10)
    assert [(t.state, t.alert.labels["ip"]) for t in out] == [("resolved", "v1")]  # ...so it ends
    assert sorted(a.labels["ip"] for a in e.alerts()) == ["v2", "v3"]
    assert sorted(t.alert.labels["ip"] for t in e.evaluate(400)) == ["v2", "v3"]


def test_new_value_seen_values_leave_after_lookback_in_order_of_last_sight() -> None:
    e = engine(NEW_VALUE.replace("max_keys: 2", "max_keys: 10"))
    log(e, 0, "login bob from a")
    log(e, 50, "login bob from b")
    assert log(e, 60, "login bob from a") == []  # seen again: a is now newer than b
    e.evaluate(155)  # lookback 100s: b (last seen 50) leaves, a (60) stays
    assert states(log(e, 156, "login bob from b")) == [("NewIP", "firing")]
    assert log(e, 157, "login bob from a") == []


def _seconds_per_line(max_keys: int, keyspace: int, lines: int) -> float:
    """CPU seconds per line after max_keys keys are held, the lines cycling over `keyspace`
    addresses from the first one not yet seen (keyspace > max_keys: every line is a new key
    and an eviction)."""
    e = make("keyed", max_keys)
    ips = [f"{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}.9" for i in range(keyspace)]

    def run(start: int, n: int, t: float) -> None:
        for j in range(start, start + n, 1000):
            batch(e, t, *(ips[k % keyspace] for k in range(j, min(j + 1000, start + n))))

    run(0, max_keys, 0.0)
    best = float("inf")
    for r in range(3):
        t0 = time.process_time()
        run(max_keys + r * lines, lines, 1.0 + r)
        best = min(best, time.process_time() - t0)
    return best / lines


def test_eviction_cost_does_not_grow_with_the_number_of_keys() -> None:
    # before the fix, each eviction walked past every key evicted since the dict last resized:
    # at 100,000 keys churning cost ~8x a line on a held key; now about what a new key costs
    held = _seconds_per_line(100_000, 100_000, 50_000)
    churn = _seconds_per_line(100_000, 1_000_000, 50_000)
    assert churn < 3 * held, (churn, held)
