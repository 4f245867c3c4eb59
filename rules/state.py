"""The alert state machine of one rule, as Prometheus alerting rules (rules/alerting.go).

A key whose condition first holds becomes pending (active_at = now) and fires once it has held
for `for`; `for: 0` fires in the same evaluation. When the condition stops, a pending alert is
dropped silently and a firing one is resolved, unless `keep_firing_for` keeps it firing (counted
from the first evaluation without the condition; reset when the condition comes back).
Annotations are rendered only when a transition is emitted or alerts are listed, never per line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerter.rules import templates
from alerter.rules.alert import Alert, State, Transition
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
    # annotations as last rendered, with the value and examples they were rendered for
    rendered: tuple[float, tuple[str, ...], dict[str, str]] | None = None
    # of the labels, which never change: hashed once, not on every transition
    fingerprint: str = field(default="", repr=False)

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

    def is_active(self, key: Key) -> bool:
        return key in self.active

    def alert(self, inst: Instance, resolved_at: float | None = None) -> Alert:
        r = inst.rendered
        if r is not None and r[0] == inst.value and r[1] is inst.examples:
            annotations = r[2]
        else:
            ctx = templates.context(
                inst.labels, inst.value, self.rule.alert, inst.examples, inst.active_at
            )
            annotations = {k: self._render(t, ctx) for k, t in self._annotations.items()}
            inst.rendered = (inst.value, inst.examples, annotations)
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
        return [self.alert(i) for i in self.active.values()]

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
        for k, d in data:
            self.active[tuple(k)] = Instance.load(d)
