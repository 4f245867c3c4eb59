"""Templated action fields (`unit: "{{ labels.unit }}"`, argv elements), compiled at load.

Label values come from logs, so templates run in Jinja2's sandbox with StrictUndefined: a missing
label is an error, never an empty string silently passed to systemctl or a command.

A templated path (a signal action's `pidfile`) is confined to a directory. The rule:
- its literal prefix (the text before the first `{{`/`{%`/`{#`) must be absolute and name a
  directory other than `/`: the directory is that prefix up to its last `/`
  (`/run/app/{{ labels.name }}.pid` and `/run/app/web-{{ labels.n }}.pid` -> /run/app);
- the rendered path must start with that directory and `/`, hold only printable characters (no
  NUL, newline, tab), and the part after the directory must have no empty, `.` or `..`
  component (so no `../`, and no absolute path from a label, which would make `//`);
- the path with every symlink resolved (`os.path.realpath`) must lie below the directory's own
  realpath; a symlink inside the directory pointing outside is refused. The executor resolves
  the path again just before use and opens what it resolved to without following symlinks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from alerter.rules.alert import Alert
from alerter.rules.templates import BoundedEnvironment

_ENV = BoundedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


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

    def labels_read(self) -> frozenset[str]:
        """The labels the template cannot render without: `labels.NAME` and `labels["NAME"]`
        (not `labels.get(...)`, `labels.items()`, nor a label read under `| default(...)` or
        tested with `is defined`)."""
        if self.compiled is None:
            return frozenset()
        tree = _ENV.parse(self.source)
        # a label read under `| default(...)` or tested with `is defined` may be missing,
        # wherever else the template reads it
        optional = {
            _label_of(x.node)
            for x in tree.find_all((jinja2.nodes.Filter, jinja2.nodes.Test))
            if x.name in ("default", "d", "defined", "undefined")
        }
        read = {_label_of(n) for n in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem))}
        return frozenset(x for x in read - optional if x is not None)

    def labels_mentioned(self) -> frozenset[str] | None:
        """Every label whose value may reach the rendered text: those of `labels_read`, those
        read under `| default(...)` or through `labels.get("NAME")`; None when the template
        reads labels by a name it computes or all of them (`labels[x]`, `labels.items()`)."""
        return keys_mentioned(self.source, "labels") if self.compiled is not None else frozenset()

    @property
    def literal_prefix(self) -> str:
        """The text before the first tag (all of it for plain text)."""
        cuts = [i for i in (self.source.find(t) for t in ("{{", "{%", "{#")) if i >= 0]
        return self.source[: min(cuts)] if cuts and not self.is_static else self.source

    @property
    def literal_suffix(self) -> str:
        """The text after the last tag (all of it for plain text)."""
        if self.is_static:
            return self.source
        end = max(self.source.rfind(t) for t in ("}}", "%}", "#}"))
        return self.source[end + 2 :] if end >= 0 else ""

    def render(self, context: Mapping[str, Any]) -> str:
        """Raises ValueError when the template fails (e.g. a label the alert does not have)."""
        if self.compiled is None:
            return self.source
        try:
            return self.compiled.render(context)
        except jinja2.TemplateError as e:
            raise ValueError(f"template {self.source!r}: {e}") from None


def keys_mentioned(source: str, variable: str) -> frozenset[str] | None:
    """The keys of the mapping `variable` (`labels`, `annotations`) whose values may reach
    what the Jinja2 template `source` renders (`labels.NAME`, `labels["NAME"]`,
    `labels.get("NAME")`, under `| default(...)` too); None when it reads keys by a name it
    computes or all of them (`labels[x]`, `labels.items()`, `labels` itself). Rule label and
    annotation templates (alerter.rules.templates) are read this way too: parsing needs no
    filter."""
    if "{{" not in source and "{%" not in source:
        return frozenset()
    tree = _ENV.parse(source)
    uses = sum(1 for n in tree.find_all(jinja2.nodes.Name) if n.name == variable)
    named = [
        _label_of(n, variable) for n in tree.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem))
    ]
    got = [
        str(c.args[0].value)
        for c in tree.find_all(jinja2.nodes.Call)
        if isinstance(c.node, jinja2.nodes.Getattr)
        and c.node.attr == "get"
        and isinstance(c.node.node, jinja2.nodes.Name)
        and c.node.node.name == variable
        and c.args
        and isinstance(c.args[0], jinja2.nodes.Const)
    ]
    found = [x for x in named if x is not None] + got
    return frozenset(found) if len(found) == uses else None


def reads_variable(source: str, variable: str) -> bool:
    """Whether the Jinja2 template `source` reads the variable at all (`examples`)."""
    if "{{" not in source and "{%" not in source:
        return False
    tree = _ENV.parse(source)
    return any(n.name == variable for n in tree.find_all(jinja2.nodes.Name))


def template_directory(t: FieldTemplate) -> str:
    """The directory a templated path is confined to (module doc). Raises ValueError."""
    prefix = t.literal_prefix
    example = "e.g. /run/app/{{ labels.name }}.pid"
    if not prefix.startswith("/"):
        raise ValueError(
            f"a templated path must start with a literal absolute directory ({example}), "
            f"got {t.source!r}"
        )
    directory = prefix[: prefix.rindex("/")]
    if not directory.strip("/"):
        raise ValueError(
            f"a templated path must name a literal directory other than / ({example}), "
            f"got {t.source!r}"
        )
    return directory


def render_path(t: FieldTemplate, context: Mapping[str, Any]) -> str:
    """A path template rendered and checked to stay in its directory; raises ValueError.

    Plain text (written by the operator) is returned as it is.
    """
    if t.is_static:
        return t.source
    directory = template_directory(t)
    path = t.render(context)
    if not path.isprintable():
        raise ValueError(
            f"{path!r} (from {t.source!r}) holds a control character (NUL, newline, tab ...)"
        )
    if not path.startswith(directory + "/"):
        raise ValueError(f"{path!r} (from {t.source!r}) is not below {directory}")
    parts = path[len(directory) + 1 :].split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(
            f"{path!r} (from {t.source!r}) leaves or re-enters {directory}: a path rendered from "
            "labels may not hold '..', '.' or '//' (an absolute path in a label)"
        )
    confined_realpath(path, directory)
    return path


def confined_realpath(path: str, directory: str) -> str:
    """realpath(path), when it lies below realpath(directory); raises ValueError."""
    real_dir = os.path.realpath(directory)
    real = os.path.realpath(path)
    if real == real_dir or os.path.commonpath([real, real_dir]) != real_dir:
        raise ValueError(f"{path} resolves to {real}, outside {real_dir} (a symlink?)")
    return real


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


_DICT_METHODS = frozenset({"get", "items", "keys", "values"})


def _label_of(node: jinja2.nodes.Node | None, variable: str = "labels") -> str | None:
    """The label `node` reads: `labels.NAME` or `labels["NAME"]` (or the key of another
    mapping `variable`; None for anything else, a dict method such as `labels.get` included)."""
    if isinstance(node, jinja2.nodes.Getattr):
        key: object = node.attr if node.attr not in _DICT_METHODS else None
    elif isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
        key = node.arg.value
    else:
        return None
    inner = node.node
    is_labels = isinstance(inner, jinja2.nodes.Name) and inner.name == variable
    return str(key) if is_labels and key is not None else None
