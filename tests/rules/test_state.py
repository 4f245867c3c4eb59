"""An alert instance's fingerprint is the one of its full labels, carried by every Alert its
transitions emit and by the alerts listed; a reloaded instance hashes its labels again. A
listing follows every change of the instances (it is kept while none changes)."""

from __future__ import annotations

import random

from alerter.rules.alert import Transition, fingerprint
from alerter.rules.model import Rule
from alerter.rules.state import AlertTable, Instance
from tests.rules.helpers import engine, log

RULE = Rule(
    alert="Hot",
    group="g",
    index=0,
    logs=None,
    metric=None,
    aggregate="max",
    over=60.0,
    for_=10.0,
    labels={"severity": "page"},
    annotations={"s": "{{ value }} on {{ labels.host }}"},
)


def test_every_transition_carries_the_instance_fingerprint() -> None:
    table = AlertTable(RULE, {"dc": "x"}, lambda g, m: None)
    out: list[Transition] = []
    host = {"host": "web-1"}
    table.step(("web-1",), True, 1.0, 0.0, out, lambda: host)  # pending
    table.step(("web-1",), True, 2.0, 10.0, out, lambda: host)  # firing
    listed = table.alerts()
    table.step(("web-1",), False, None, 20.0, out, lambda: host)  # resolved
    assert [t.state for t in out] == ["pending", "firing", "resolved"]
    expected = fingerprint({"host": "web-1", "severity": "page", "alertname": "Hot", "dc": "x"})
    assert {t.alert.fingerprint for t in out} == {listed[0].fingerprint} == {expected}
    assert out[1].alert.annotations == {"s": "2 on web-1"}


def test_a_loaded_instance_hashes_its_labels() -> None:
    labels = {"alertname": "Hot", "host": "web-1"}
    inst = Instance(dict(labels), "firing", 0.0, 1.0, fired_at=0.0)
    assert inst.fingerprint == fingerprint(labels)
    assert "fingerprint" not in inst.dump()
    assert Instance.load(inst.dump()).fingerprint == inst.fingerprint


def test_a_listing_follows_every_change_of_its_instances() -> None:
    """Listed again with nothing changed, the alerts are the same; after any change (a step,
    a firing count's update, a load) they are what listing afresh gives."""
    rng = random.Random(7)
    table = AlertTable(RULE, {}, lambda g, m: None)
    out: list[Transition] = []
    keys = [(f"web-{i}",) for i in range(5)]
    for step in range(400):
        now = float(step)
        key = rng.choice(keys)
        r = rng.random()
        inst = table.active.get(key)
        if r < 0.2 and inst is not None and inst.state == "firing":
            table.still_firing(inst, rng.choice((1.0, 2.0, 3.0)), (f"line {step}",))
        elif r < 0.25:
            saved = table.dump()
            table = AlertTable(RULE, {}, lambda g, m: None)
            assert table.alerts() == []
            table.load(saved)
        elif r < 0.6:
            ex = [f"line {step}"] if rng.random() < 0.5 else []
            table.step(key, rng.random() < 0.7, rng.choice((1.0, 2.0)), now, out, dict, ex)
        listed = table.alerts()
        assert listed == [table.alert(i, lazy=True) for i in table.active.values()], step
        assert table.alerts() == listed
    assert {t.state for t in out} == {"pending", "firing", "resolved"}


def test_the_engine_lists_its_alerts_in_a_list_of_the_callers_own() -> None:
    e = engine(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        logs: {match: x}\n"
        '        aggregate: count\n        over: 1m\n        threshold: ">= 1"\n'
    )
    log(e, 1000, "x")
    first = e.alerts()
    first.clear()
    assert [a.alertname for a in e.alerts()] == ["A"]
