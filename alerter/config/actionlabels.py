"""Actions reading a label their rule's alerts never have (`alerter check` warns).

An action's templates read the alert's labels (`unit: "{{ labels.unit }}"`, `address: "{{
labels.ip }}"`), and a label the alert does not have fails the action, at every firing (never
an empty string: alerter.actions.templating). A log rule's alerts have a known set of labels: its
`by` keys (and `field`, for new_value), its group's and its own labels, `alertname`, and the
config's global labels with `host`. A ban reading `labels.ip` on builtin:pam's PAMAuthFailures,
keyed by `rhost`, is that mistake. (A metric rule's alerts carry their series' labels, which
the config does not know: not checked.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alerter.actions.config import ActionConfig
from alerter.actions.templating import FieldTemplate
from alerter.core.yamlsource import Mark, Problem
from alerter.rules.model import RuleSet


def unknown_label_warnings(
    rules: RuleSet,
    actions: Sequence[ActionConfig],
    external: Iterable[str],
    attached: Mapping[str, Mark],
) -> list[Problem]:
    """One warning per (rule, action) whose templates read a label the rule's alerts never
    have. `attached`: where in the config actions were added to a rule (else its own mark)."""
    by_name = {a.name: a for a in actions}
    always = {"alertname", *external}
    out = []
    for rule in rules.rules():
        if not rule.actions or rule.logs is None:
            continue
        # (new_value's alerts carry the new value as its `field` label; no other aggregate's)
        new = [rule.field] if rule.field and rule.aggregate == "new_value" else []
        have = {*always, *rule.by, *rule.labels, *new}
        for name in rule.actions:
            action = by_name.get(name)
            if action is None:
                continue
            read = set().union(*(t.labels_read() for t in templates_of(action.spec)))
            missing = sorted(read - have)
            if missing:
                out.append(
                    Problem(
                        attached.get(rule.ident, rule.mark),
                        f"warning: {rule.alert} (action {name}): the action reads "
                        f"labels.{missing[0]}, which {rule.alert}'s alerts never have (they "
                        f"have: {', '.join(sorted(have))}); it would fail at every firing",
                    )
                )
    return out


def templates_of(spec: Any) -> list[FieldTemplate]:
    """The templates of an action's spec (its fields, and the items of its tuple fields)."""
    out: list[FieldTemplate] = []
    for f in dataclasses.fields(spec):
        v = getattr(spec, f.name)
        if isinstance(v, FieldTemplate):
            out.append(v)
        elif isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, FieldTemplate))
    return out
