"""Log rules and log-derived metrics reading a name no line they read can have (`alerter check`
warns).

A log rule's `by` label and its `field` value are each a group of its `match`, or a field its
sources' parser gives (syslog's `program`, a regex parser's groups; the journal's and a json or
logfmt file's fields are not known in advance). A name that is neither is empty on every line:
`by: [ipaddr]` on a `(?P<ip>...)` match counts every line under one key, and `field: bytes`
with no such group gives the aggregate nothing to read, so the rule never fires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from alerter.collectors.file import FileConfig
from alerter.collectors.syslog import FIELDS as SYSLOG_FIELDS
from alerter.config.collectors import CollectorConfig
from alerter.core.saferegex import compile_pattern
from alerter.core.yamlsource import Mark, Problem
from alerter.rules.model import LogSelector, RuleSet


def fields_of(c: CollectorConfig) -> frozenset[str] | None:
    """The field names a log collector's lines can have; None when any (journal, json,
    logfmt)."""
    if not isinstance(c.spec, FileConfig):
        return None
    parser = c.spec.parser
    if parser.type == "syslog":
        return SYSLOG_FIELDS
    if parser.type == "none":
        return frozenset()
    if parser.type == "regex" and parser.pattern:
        return frozenset(compile_pattern(parser.pattern).groupindex)
    return None


def unread_field_warnings(rules: RuleSet, collectors: Sequence[CollectorConfig]) -> list[Problem]:
    """One warning per name a rule or log metric reads that no line it reads can have."""
    logs = {c.name: fields_of(c) for c in collectors if c.is_log}
    out: list[Problem] = []
    for rule in rules.rules():
        if rule.logs is not None:
            names = {"by": rule.by, "field": (rule.field,) if rule.field else ()}
            out += _unread(rule.alert, rule.mark, rule.logs, names, logs)
    for m in rules.log_metrics():
        names = {"by": m.by, "field": (m.field,) if m.field else ()}
        out += _unread(m.name, m.mark, m.logs, names, logs)
    return out


def _unread(
    what: str,
    mark: Mark,
    sel: LogSelector,
    names: Mapping[str, Iterable[str]],
    logs: Mapping[str, frozenset[str] | None],
) -> list[Problem]:
    groups = set(sel.match.groupindex) if sel.match is not None else set()
    sources = [s for s in (sel.sources or logs) if s in logs]
    if not sources or any(logs[s] is None for s in sources):
        return []  # reads nothing (told elsewhere), or a source whose fields are not known
    have = groups.union(*(logs[s] or () for s in sources), {"source"})
    out = []
    for key, read in names.items():
        for name in read:
            if name in have:
                continue
            effect = (
                "every line counts under one key"
                if key == "by"
                else "the aggregate has no value to read"
            )
            out.append(
                Problem(
                    mark,
                    f"warning: {what}: {key}: {name!r} is in no line it reads (its match has no group"
                    f" {name!r}, nor its sources ({', '.join(sources)}) a field of that name), so {effect}",
                )
            )
    return out
