"""The alert state machine of one rule, as Prometheus alerting rules (rules/alerting.go).

A key whose condition first holds becomes pending (active_at = now) and fires once it has held
for `for`; `for: 0` fires in the same evaluation. When the condition stops, a pending alert is
dropped silently and a firing one is resolved, unless `keep_firing_for` keeps it firing (counted
from the first evaluation without the condition; reset when the condition comes back).
Annotations are rendered only when a transition is emitted or a listed alert's annotations are
read, never per line, and again only when their inputs (value, examples) changed: the daemon
lists every alert each second for states and fingerprints, and renders none of them for that.
Nor does it make them again: an instance keeps the Alert it was last listed as until it changes,
and a table its list of them until one of its instances changes (`version`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerter.rules import templates
from alerter.rules.alert import Alert, Listing, State, Transition
from alerter.rules.alert import fingerprint as labels_fingerprint
from alerter.rules.model import Rule

Key = tuple[str, ...]
TemplateErrorHook = Callable[[str, str], None]


@dataclass(slots=True)
class Instance:
    """One alert instance's changing state (not a value that flows: Alert is)."""

    labels: dict[str, str]
    state: State
    active_at: float
    value: float
    fired_at: float | None = None
    keep_since: float | None = None
    examples: tuple[str, ...] = ()
    # annotations as last rendered, with the value and examples they were rendered for (the
    # other inputs, labels, alert name and active_at, never change for an instance); dropped
    # with the instance
    rendered: tuple[float, tuple[str, ...], dict[str, str]] | None = None
    # of the labels, which never change: hashed once, not on every transition
    fingerprint: str = field(default="", repr=False)
    # the instance as last listed (AlertTable.listing), until it changes
    listed: Alert | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = labels_fingerprint(self.labels)

    def dump(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "state": self.state,
            "active_at": self.active_at,
            "value": self.value,
            "fired_at": self.fired_at,
            "keep_since": self.keep_since,
            "examples": list(self.examples),
        }

    @staticmethod
    def load(d: Mapping[str, Any]) -> Instance:
        return Instance(
            dict(d["labels"]),
            d["state"],
            float(d["active_at"]),
            float(d["value"]),
            d.get("fired_at"),
            d.get("keep_since"),
            tuple(d.get("examples", ())),
        )


class AlertTable:
    """The instances of one rule, by key, and the transitions between their states."""

    def __init__(
        self, rule: Rule, external_labels: Mapping[str, str], on_template_error: TemplateErrorHook
    ) -> None:
        self.rule = rule
        self.active: dict[Key, Instance] = {}
        self._external = dict(external_labels)
        self._on_error = on_template_error
        self._static_labels = {k: v for k, v in rule.labels.items() if "{" not in v}
        self._label_templates = {
            k: templates.Template(v) for k, v in rule.labels.items() if "{" in v
        }
        self._annotations = {k: templates.Template(v) for k, v in rule.annotations.items()}
        self.last_error = ""
        self.version = 0  # changes with any instance (one made, stepped, gone)
        self._listing = (-1, Listing(rule.alert, rule.actions, (), ()))

    def labels_for(self, instance_labels: Mapping[str, str], value: float) -> dict[str, str]:
        """by/series labels, then group and rule labels, alertname, then external labels.
        An empty label value means no label, as in Prometheus."""
        labels = {k: v for k, v in instance_labels.items() if v != ""}
        labels.update(self._static_labels)
        if self._label_templates:
            ctx = templates.context(labels, value, self.rule.alert, (), 0.0)
            for k, t in self._label_templates.items():
                labels[k] = self._render(t, ctx)
        labels["alertname"] = self.rule.alert
        for k, v in self._external.items():
            labels.setdefault(k, v)
        return labels

    def step(
        self,
        key: Key,
        cond: bool,
        value: float | None,
        now: float,
        out: list[Transition],
        instance_labels: Callable[[], Mapping[str, str]],
        examples: list[str] | tuple[str, ...] = (),
    ) -> None:
        """Advance key's alert by one evaluation at `now`."""
        inst = self.active.get(key)
        self.version += 1
        if inst is not None:
            inst.listed = None
        if cond:
            v = 0.0 if value is None else value
            if inst is None:
                inst = Instance(self.labels_for(instance_labels(), v), "pending", now, v)
                self.active[key] = inst
                inst.examples = tuple(examples)
                if self.rule.for_ <= 0:
                    inst.state, inst.fired_at = "firing", now
                out.append(self._transition(inst, "inactive", now))
                return
            inst.value = v
            inst.keep_since = None
            if examples:
                inst.examples = tuple(examples)
            if inst.state == "pending" and now - inst.active_at >= self.rule.for_:
                inst.state, inst.fired_at = "firing", now
                out.append(self._transition(inst, "pending", now))
            return
        if inst is None:
            return
        if inst.state == "pending":
            del self.active[key]
            return
        keep = self.rule.keep_firing_for
        if keep > 0:
            if inst.keep_since is None:
                inst.keep_since = now
            if now - inst.keep_since < keep:
                return
        del self.active[key]
        inst.state = "resolved"
        out.append(self._transition(inst, "firing", now, resolved_at=now))

    def still_firing(self, inst: Instance, value: float, examples: tuple[str, ...]) -> None:
        """`step` of a firing instance whose condition holds (the common case of a count
        rule's key counted again while it fires): its value and examples follow."""
        self.version += 1
        inst.listed = None
        inst.value = value
        inst.keep_since = None
        if examples:
            inst.examples = examples

    def is_active(self, key: Key) -> bool:
        return key in self.active

    def alert(self, inst: Instance, resolved_at: float | None = None, lazy: bool = False) -> Alert:
        """The instance as an Alert; `lazy`: its annotations rendered when first read, from
        the value and examples it has now (a listing: most are read for their state only)."""
        annotations: Mapping[str, str]
        r = inst.rendered
        if r is not None and _same(r[0], inst.value) and r[1] == inst.examples:
            annotations = r[2]
        elif lazy:
            annotations = LazyAnnotations(self, inst)
        else:
            annotations = self.annotations(inst, inst.value, inst.examples)
        return Alert(
            labels=inst.labels,
            annotations=annotations,
            state=inst.state,
            value=inst.value,
            active_at=inst.active_at,
            fired_at=inst.fired_at,
            resolved_at=resolved_at,
            examples=inst.examples,
            actions=self.rule.actions,
            group=self.rule.group,
            fingerprint=inst.fingerprint,
        )

    def alerts(self) -> list[Alert]:
        return list(self.listing().alerts)

    def listing(self) -> Listing:
        """The instances as Alerts (annotations lazy): the same Listing while no instance
        changed."""
        version, listing = self._listing
        if version != self.version:
            alerts = tuple([i.listed or self._list(i) for i in self.active.values()])
            firing = tuple([a for a in alerts if a.state == "firing"])
            listing = Listing(self.rule.alert, self.rule.actions, alerts, firing)
            self._listing = (self.version, listing)
        return listing

    def _list(self, inst: Instance) -> Alert:
        a = inst.listed = self.alert(inst, lazy=True)
        return a

    def annotations(
        self, inst: Instance, value: float, examples: tuple[str, ...]
    ) -> dict[str, str]:
        """inst's annotations for this value and examples: rendered, or as last rendered."""
        r = inst.rendered
        if r is not None and _same(r[0], value) and r[1] == examples:
            return r[2]
        ctx = templates.context(inst.labels, value, self.rule.alert, examples, inst.active_at)
        text = {k: self._render(t, ctx) for k, t in self._annotations.items()}
        inst.rendered = (value, examples, text)
        if inst.listed is not None and _same(value, inst.value) and examples == inst.examples:
            # listed with annotations to render, read now: listed again with the text (a
            # plain dict, which the readers of every tick copy faster than the lazy mapping)
            inst.listed = None
            self.version += 1
        return text

    def _transition(
        self, inst: Instance, previous: State, now: float, resolved_at: float | None = None
    ) -> Transition:
        return Transition(now, previous, self.alert(inst, resolved_at))

    def _render(self, t: templates.Template, ctx: Mapping[str, Any]) -> str:
        text, err = t.render(ctx)
        if err is not None:
            self.last_error = f"template {t.text!r}: {err}"
            self._on_error(self.rule.group, self.last_error)
        return text

    def dump(self) -> list[list[Any]]:
        return [[list(k), i.dump()] for k, i in self.active.items()]

    def load(self, data: list[list[Any]]) -> None:
        self.version += 1
        for k, d in data:
            self.active[tuple(k)] = Instance.load(d)


def _same(a: float, b: float) -> bool:
    """The same float for a template: equal, and 0.0 is not -0.0 (`humanize` prints "-0")."""
    return a == b and (a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b))


class LazyAnnotations(Mapping[str, str]):
    """A listed alert's annotations, rendered on first read from the value and examples its
    instance had when listed (the instance's later steps do not change them)."""

    __slots__ = ("_examples", "_inst", "_table", "_text", "_value")

    def __init__(self, table: AlertTable, inst: Instance) -> None:
        self._table, self._inst = table, inst
        self._value, self._examples = inst.value, inst.examples
        self._text: dict[str, str] | None = None

    def _rendered(self) -> dict[str, str]:
        if self._text is None:
            self._text = self._table.annotations(self._inst, self._value, self._examples)
        return self._text

    def __getitem__(self, key: str) -> str:
        return self._rendered()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rendered())

    def __len__(self) -> int:
        return len(self._rendered())

    def __repr__(self) -> str:
        return repr(self._rendered())
