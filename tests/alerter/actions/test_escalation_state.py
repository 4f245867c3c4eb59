"""The escalation state stores alerts in their one stored form (Alert.to_dict), and still reads
the entries 0.1.0 wrote (labels, annotations and active_at only)."""

from __future__ import annotations

from alerter.actions.escalation import SYNTHETIC_NS
from alerter.actions.notes import EXHAUSTED, SYNTHETIC_GROUP
from alerter.rules.alert import Alert

from .conftest import T0, Harness, alert, fire, resolve, run_ticks

RESTART = """
actions:
  - name: restart-web
    type: systemd
    unit: "{{ labels.unit }}"
    cooldown: 5m
    limit: {count: 1, within: 1h}
"""


def test_a_raised_alert_is_stored_whole_and_lowered_as_it_was_raised(harness: Harness) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 400, step=50)  # limit 1: the second run is refused
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    raised = harness.emitted[0].alert
    assert harness.store is not None
    (entry,) = harness.store.kv_items(SYNTHETIC_NS).values()
    assert entry["alert"] == raised.to_dict()
    assert Alert.from_dict(entry["alert"]) == raised

    r.stop()
    r2 = harness.build(RESTART)  # a restart: the state store is all that is left
    r2.handle([resolve(a, harness.clock.now())], harness.clock.now())
    assert len(harness.emitted) == 1  # the limit is still spent
    r2.tick([], T0 + 3600 + 1)  # the run leaves the window
    lowered = harness.emitted[-1]
    assert (lowered.alert.alertname, lowered.state) == (EXHAUSTED, "resolved")
    assert lowered.alert.labels == raised.labels
    assert lowered.alert.fingerprint == raised.fingerprint
    assert lowered.alert.annotations == raised.annotations
    assert lowered.alert.group == SYNTHETIC_GROUP


def test_an_entry_written_by_0_1_0_is_still_lowered(harness: Harness) -> None:
    a = alert(["restart-web"], unit="web.service")
    labels = {"alertname": EXHAUSTED, "severity": "critical", "unit": "web.service"}
    old = Alert(labels, {"summary": "exhausted"}, "firing", 0.0, T0 - 60)
    harness.build(RESTART).stop()  # creates the state store
    assert harness.store is not None
    harness.store.kv_put(
        SYNTHETIC_NS,
        old.fingerprint,
        {
            "kind": EXHAUSTED,
            "action": "restart-web",
            "target": "web.service",
            "source": a.fingerprint,
            "alert": {
                "labels": labels,
                "annotations": {"summary": "exhausted"},
                "active_at": T0 - 60,
            },
        },
    )
    r = harness.build(RESTART)
    assert r.raised() == {old.fingerprint}
    r.handle([resolve(a, T0)], T0)
    r.tick([], T0)  # no run in the window
    lowered = harness.emitted[-1]
    assert lowered.state == "resolved" and lowered.previous == "firing"
    assert lowered.alert.labels == labels and lowered.alert.fingerprint == old.fingerprint
    assert lowered.alert.active_at == T0 - 60 and lowered.alert.resolved_at == T0
    assert r.raised() == set()


def test_exhausted_stays_firing_while_its_source_flaps_until_the_window_has_room(
    harness: Harness,
) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 400, step=50)  # limit 1: the second run is refused
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    for _ in range(3):  # the source resolves and fires again: the limit is still spent
        now = harness.clock.now()
        r.handle([resolve(a, now)], now)
        run_ticks(r, harness.clock, [], 60, step=10)
        now = harness.clock.now()
        r.handle([fire(a, now)], now)
        run_ticks(r, harness.clock, [a], 60, step=10)
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    assert len(harness.units.operations()) == 1
    # the first run leaves the window at T0 + 1h: acting resumes and the alert is lowered
    run_ticks(r, harness.clock, [a], T0 + 3600 + 10 - harness.clock.now(), step=10)
    assert harness.emitted_names() == [(EXHAUSTED, "firing"), (EXHAUSTED, "resolved")]
    assert len(harness.units.operations()) == 2


def test_exhausted_is_lowered_when_the_window_frees_though_its_source_resolved_long_before(
    harness: Harness,
) -> None:
    r = harness.build(RESTART)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 400, step=50)
    now = harness.clock.now()
    r.handle([resolve(a, now)], now)
    run_ticks(r, harness.clock, [], T0 + 3600 - 10 - now, step=10)
    assert harness.emitted_names() == [(EXHAUSTED, "firing")]
    run_ticks(r, harness.clock, [], 60, step=10)
    assert harness.emitted_names() == [(EXHAUSTED, "firing"), (EXHAUSTED, "resolved")]
    assert r.raised() == set()
