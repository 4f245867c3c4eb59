"""An alert's annotations are rendered again only when their inputs changed, and listing alerts
renders none until they are read: what is read is what rendering every time would give, across
value, examples and state changes, resolution and a reload of changed rules."""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Mapping

from alerter.rules import templates
from alerter.rules.alert import Alert, Transition
from alerter.rules.model import Rule
from alerter.rules.state import AlertTable, LazyAnnotations

ANNOTATIONS = {
    "summary": "{{ labels.ip }} failed {{ value }} times ({{ value | humanize }}, "
    "{{ value | round(1) }}) since {{ starts_at }}",
    "description": "Last: {{ examples | join(' | ') }} / {{ examples | last }}",
    "ratio": "{{ 1 / value }}",  # fails at 0: a marker, counted
    "static": "see the runbook",
}
RULE = Rule(
    alert="Brute",
    group="g",
    index=0,
    logs=None,
    metric=None,
    aggregate="count",
    over=600.0,
    for_=2.0,
    labels={"severity": "page", "team": "{{ labels.ip.split('.')[0] }}"},
    annotations=ANNOTATIONS,
)
VALUES = (0.0, -0.0, 1.0, 2.0, 2.5, 1e-3, 1234567.0, float("nan"), float("inf"), -1.0)


@functools.cache
def compiled(annotations: tuple[tuple[str, str], ...]) -> dict[str, templates.Template]:
    return {k: templates.Template(t) for k, t in annotations}


def uncached(alert: Alert, annotations: Mapping[str, str] = ANNOTATIONS) -> dict[str, str]:
    """What rendering afresh gives for the alert's inputs (templates of the test's own)."""
    ctx = templates.context(
        alert.labels, alert.value, alert.alertname, alert.examples, alert.active_at
    )
    return {k: t.render(ctx)[0] for k, t in compiled(tuple(annotations.items())).items()}


def same_text(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return dict(a) == dict(b) and list(a) == list(b)


def test_cached_and_lazy_renderings_equal_fresh_ones_over_random_steps() -> None:
    for seed in range(12):
        random_steps(seed)


def random_steps(seed: int) -> None:
    rng = random.Random(seed)
    errors: list[str] = []
    table = AlertTable(RULE, {"dc": "x"}, lambda g, m: errors.append(m))
    keys = [(f"10.0.0.{i}",) for i in range(6)]
    out: list[Transition] = []
    held: list[tuple[Alert, dict[str, str]]] = []  # listed, not yet read
    for step in range(120):
        now = float(step)
        key = rng.choice(keys)
        cond = rng.random() < 0.8
        ex: tuple[str, ...] | list[str] = ()
        if rng.random() < 0.6:  # new examples, or the same ones in a new tuple/list
            ex = [f"line {rng.randrange(4)} from {key[0]}" for _ in range(rng.randrange(1, 3))]
        table.step(key, cond, rng.choice(VALUES), now, out, functools.partial(dict, ip=key[0]), ex)
        for t in out:  # transitions: rendered as they are emitted
            assert not isinstance(t.alert.annotations, LazyAnnotations)
            assert same_text(t.alert.annotations, uncached(t.alert)), (seed, step)
        out.clear()
        if rng.random() < 0.3:
            held += [(a, uncached(a)) for a in table.alerts()]
        if held and rng.random() < 0.3:  # read later: as of the listing, not of now
            for a, want in held:
                assert same_text(a.annotations, want), (seed, step)
            held.clear()
    assert errors  # the failing template was rendered, and counted


def test_a_listing_renders_nothing_until_read_and_unchanged_inputs_are_not_rendered_again() -> None:
    renders: list[str] = []
    rule = dataclasses.replace(RULE, annotations={"s": "{{ value }}", "r": "{{ 1 / (value - 3) }}"})
    table = AlertTable(rule, {}, lambda g, m: renders.append(m))  # counts failing renders
    out: list[Transition] = []
    ip = {"ip": "10.0.0.1"}
    table.step(("a",), True, 3.0, 0.0, out, lambda: ip, ["x"])  # pending: rendered, fails
    assert len(renders) == 1
    for t in range(1, 5):  # value and examples equal (a new list each time): nothing rendered
        table.step(("a",), True, 3.0, float(t), out, lambda: ip, ["x"])
        (a,) = table.alerts()
        assert a.annotations["s"] == "3" and a.annotations["r"].startswith("<error expanding")
    assert [t.state for t in out] == ["pending", "firing"] and len(renders) == 1
    table.step(("a",), True, 4.0, 5.0, out, lambda: ip, ["x"])
    (listed,) = table.alerts()  # value changed: rendered only when read
    table.step(("a",), True, 3.0, 6.0, out, lambda: ip, ["y"])
    assert len(renders) == 1
    assert dict(listed.annotations) == {"s": "4", "r": "1.0"}  # its value when listed
    assert table.alerts()[0].annotations["r"].startswith("<error expanding")
    assert len(renders) == 2


def test_a_resolved_alert_takes_its_rendering_with_it() -> None:
    table = AlertTable(dataclasses.replace(RULE, for_=0.0), {}, lambda g, m: None)
    out: list[Transition] = []
    ip = {"ip": "10.0.0.1"}
    table.step(("a",), True, 5.0, 0.0, out, lambda: ip, ["x"])
    table.step(("a",), False, None, 1.0, out, lambda: ip)  # resolved: the instance is gone
    assert table.active == {}
    table.step(("a",), True, 5.0, 100.0, out, lambda: ip, ["x"])  # same inputs but active_at
    first, _, again = (t.alert for t in out)
    assert "1970-01-01T00:00:00.000Z" in first.annotations["summary"]
    assert "1970-01-01T00:01:40.000Z" in again.annotations["summary"]
    assert same_text(table.alerts()[0].annotations, uncached(again))


def test_a_reload_renders_with_the_new_templates() -> None:
    old = AlertTable(RULE, {}, lambda g, m: None)
    out: list[Transition] = []
    old.step(("a",), True, 5.0, 0.0, out, lambda: {"ip": "10.0.0.1"}, ["x"])
    old.step(("a",), True, 5.0, 3.0, out, lambda: {"ip": "10.0.0.1"}, ["x"])
    assert old.alerts()[0].state == "firing"
    changed = {"summary": "now {{ value }} from {{ labels.ip }}"}
    new = AlertTable(dataclasses.replace(RULE, annotations=changed), {}, lambda g, m: None)
    new.load(old.dump())  # what a reload or restart does with the alert states
    (a,) = new.alerts()
    assert dict(a.annotations) == {"summary": "now 5 from 10.0.0.1"} == uncached(a, changed)
