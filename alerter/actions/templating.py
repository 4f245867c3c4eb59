"""Templated action fields (`unit: "{{ labels.unit }}"`, argv elements), compiled at load.

Label values come from logs, so templates run in Jinja2's sandbox with StrictUndefined: a missing
label is an error, never an empty string silently passed to systemctl or a command.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from rules.alert import Alert

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@dataclass(frozen=True, slots=True)
class FieldTemplate:
    """One string field: plain text, or a Jinja2 template compiled once."""

    source: str
    compiled: jinja2.Template | None = field(default=None, compare=False)

    @staticmethod
    def compile(source: str) -> FieldTemplate:
        """Raises ValueError with the template's own message when it does not parse."""
        if "{{" not in source and "{%" not in source:
            return FieldTemplate(source)
        try:
            return FieldTemplate(source, _ENV.from_string(source))
        except jinja2.TemplateSyntaxError as e:
            raise ValueError(f"invalid template {source!r}: {e.message}") from None

    @property
    def is_static(self) -> bool:
        return self.compiled is None

    def render(self, context: Mapping[str, Any]) -> str:
        """Raises ValueError when the template fails (e.g. a label the alert does not have)."""
        if self.compiled is None:
            return self.source
        try:
            return self.compiled.render(context)
        except jinja2.TemplateError as e:
            raise ValueError(f"template {self.source!r}: {e}") from None


def alert_context(alert: Alert) -> dict[str, Any]:
    """The variables action templates see."""
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "alertname": alert.alertname,
        "value": alert.value,
        "state": alert.state,
        "fingerprint": alert.fingerprint,
        "starts_at": alert.active_at,
    }


def alert_json(alert: Alert) -> str:
    """The alert as one JSON document (a command action's stdin)."""
    return json.dumps(
        {
            "alertname": alert.alertname,
            "state": alert.state,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "value": alert.value,
            "fingerprint": alert.fingerprint,
            "activeAt": alert.active_at,
            "firedAt": alert.fired_at,
            "resolvedAt": alert.resolved_at,
            "examples": list(alert.examples),
        },
        separators=(",", ":"),
    )
