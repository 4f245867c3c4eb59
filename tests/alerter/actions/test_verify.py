"""`verify:`: an alert still firing that long after its action ran is escalated once ("remediation
ineffective"), with the history, also across a reload; one that resolves in time is not."""

from __future__ import annotations

from alerter.actions.notes import INEFFECTIVE

from .conftest import RESTART, T0, Harness, alert, fire, resolve, run_ticks


def test_verify_escalates_once_with_the_history_when_the_alert_does_not_resolve(
    harness: Harness,
) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 5m\n    verify: 2m"))
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 119, step=1)
    assert harness.emitted == []
    run_ticks(r, harness.clock, [a], 600, step=1)
    assert harness.emitted_names() == [(INEFFECTIVE, "firing")]
    esc = harness.emitted[0].alert
    assert esc.annotations["summary"] == "WebErrors still firing 2m after restarted web.service"
    assert "- restarted web.service at 22:13 UTC" in esc.annotations["description"]
    r.handle([resolve(a, harness.clock.now())], harness.clock.now())
    assert harness.emitted_names() == [(INEFFECTIVE, "firing"), (INEFFECTIVE, "resolved")]
    assert harness.emitted[1].alert.fingerprint == esc.fingerprint


def test_verify_passes_when_the_alert_resolves_in_time(harness: Harness) -> None:
    r = harness.build(RESTART.replace("cooldown: 5m", "cooldown: 5m\n    verify: 2m"))
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 60, step=10)
    r.handle([resolve(a, harness.clock.now())], harness.clock.now())
    run_ticks(r, harness.clock, [], 600, step=10)
    assert harness.emitted == []


def test_verify_deadline_survives_a_reload(harness: Harness) -> None:
    text = RESTART.replace("cooldown: 5m", "cooldown: 5m\n    verify: 2m")
    r = harness.build(text)
    a = alert(["restart-web"], unit="web.service")
    r.handle([fire(a, T0)], T0)
    run_ticks(r, harness.clock, [a], 60, step=10)
    r.stop()
    r2 = harness.build(text)  # SIGHUP: a new runner on the same store
    run_ticks(r2, harness.clock, [a], 120, step=10)
    assert harness.emitted_names() == [(INEFFECTIVE, "firing")]
    assert harness.emitted[0].alert.labels["source_alertname"] == "WebErrors"
    r2.stop()
    r3 = harness.build(text)  # escalated once per firing, also across reloads
    run_ticks(r3, harness.clock, [a], 300, step=10)
    assert harness.emitted_names() == [(INEFFECTIVE, "firing")]
