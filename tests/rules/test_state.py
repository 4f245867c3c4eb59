"""An alert instance's fingerprint is the one of its full labels, carried by every Alert its
transitions emit and by the alerts listed; a reloaded instance hashes its labels again."""

from __future__ import annotations

from alerter.rules.alert import Transition, fingerprint
from alerter.rules.model import Rule
from alerter.rules.state import AlertTable, Instance

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
