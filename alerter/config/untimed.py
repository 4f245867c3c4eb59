"""Actions on lines that carry no time of their own (`alerter check` warns).

An event's time is the time its line holds, else when it was read (DESIGN "Event time"). Lines
read with parser `none`, or a regex, json or logfmt parser without `time_field`, hold none that
alerter reads: a backlog read at start (`start_at: beginning`) is all "now", so a day-old
attack fills a rule's window at once and its ban, restart or command runs on the spot. A parser
with a time field places each line at its own time, where an old one counts for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from alerter.actions.config import ActionConfig
from alerter.collectors.file import FileConfig
from alerter.config.collectors import CollectorConfig
from alerter.core.yamlsource import Mark, Problem
from alerter.rules.model import RuleSet

# what acts on the host (a throttle only slows alerter's own input)
ACTING = ("ban", "systemd", "command", "signal")


def untimed_action_warnings(
    rules: RuleSet,
    collectors: Sequence[CollectorConfig],
    actions: Sequence[ActionConfig],
    attached: Mapping[str, Mark],
) -> list[Problem]:
    """One warning per rule with an acting action that reads a file from its beginning
    whose lines carry no time. `attached`: where actions were added to a rule."""
    types = {a.name: a.type for a in actions}
    untimed = {c.name: why for c in collectors if (why := _untimed(c)) is not None}
    out = []
    for rule in rules.rules():
        acting = [a for a in rule.actions if types.get(a) in ACTING]
        if not acting or rule.logs is None:
            continue
        names = rule.logs.sources or tuple(c.name for c in collectors if c.is_log)
        for name in names:
            if name not in untimed:
                continue
            out.append(
                Problem(
                    attached.get(rule.ident, rule.mark),
                    f"warning: {rule.alert} (actions: {', '.join(acting)}) reads collector "
                    f"{name!r} ({untimed[name]}), whose lines carry no time: with start_at: "
                    "beginning, what the file already holds (and what was written while alerter "
                    "was down) counts as just read and acts at once. Give the collector a parser "
                    "that reads the lines' time (e.g. parser: {type: regex, pattern: "
                    "'^(?P<time>...)', time_field: time, time_format: ...}), or start_at: end",
                )
            )
    return out


def _untimed(c: CollectorConfig) -> str | None:
    """Why `c` reads lines without a time from the beginning of its files, or None."""
    spec = c.spec
    if not isinstance(spec, FileConfig) or spec.start_at == "end":
        return None
    parser = spec.parser
    if parser.reads_time:
        return None
    paths = ", ".join(spec.paths)
    if parser.type == "none":
        return f"at {c.mark}: {paths}, parser none"
    return f"at {c.mark}: {paths}, parser {parser.type} without time_field"
