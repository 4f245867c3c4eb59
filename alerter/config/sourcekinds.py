"""What a rule that names no source reads, when it declares `source_kinds`.

A rule file's rules read every log collector unless they name sources. A pack rule that reads
one program's lines (sshd's, postfix's, the kernel's) declares the kinds of collector that carry
them: `source_kinds: [syslog, journald]`, files read with the syslog parser (each line holding
its program's name in its header) and the journal. Named no source, such a rule reads the
collectors of those kinds only. Any other file holds another program's lines, and its clients'
text: nginx writes a Basic-auth user name raw to its error log, newlines included, so that a
client can put `Failed password for root from 203.0.113.9 port 22 ssh2` on a line of its own
there. A rule that names sources (its own `source`, or `sources:` on its rule_files entry)
reads those, whatever their kind: that is the user's choice (dovecot's own log file, say).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from alerter.config.collectors import CollectorConfig
from alerter.config.trust import syslog_paths
from alerter.config.yamlsource import Mark, Problem
from alerter.rules.model import RuleSet

NOTHING = ("",)  # the sources of a rule that no collector feeds (no collector is named "")


def read_by_kind(
    rules: RuleSet, collectors: Sequence[CollectorConfig], entry_of: Mapping[str, Mark]
) -> tuple[RuleSet, list[Problem]]:
    """`rules` with each rule that declares `source_kinds` and names no source given the log
    collectors of those kinds as its sources (NOTHING when there is none), and warnings: the
    rule files whose such rules read nothing, the syslog files read with another parser that
    they skip. `entry_of`: the rule_files entry of each rule file (where warnings point)."""
    kinds = {c.name: c.kind for c in collectors if c.kind is not None}
    idle: dict[str, list[str]] = {}  # rule file -> its rules that read nothing
    skipped: dict[str, set[str]] = {}  # collector -> rule files that skip it
    groups = []
    for g in rules.groups:
        new = []
        for r in g.rules:
            sel = r.logs
            if sel is not None and sel.kinds and not sel.sources:
                names = tuple(n for n, k in kinds.items() if k in sel.kinds)
                if not names:
                    idle.setdefault(g.file, []).append(r.alert)
                if "syslog" in sel.kinds:
                    for n in kinds.keys() - names:
                        skipped.setdefault(n, set()).add(g.file)
                r = dataclasses.replace(r, logs=dataclasses.replace(sel, sources=names or NOTHING))
            new.append(r)
        groups.append(dataclasses.replace(g, rules=tuple(new)))
    warnings = [
        Problem(
            entry_of.get(f, Mark(f, 1, 1)),
            f"warning: {f}: {', '.join(alerts)} read no collector: they read the kinds their "
            "`source_kinds` names (syslog files, read with parser: {type: syslog}, and the "
            "journal) and this config has none; give the entry `sources:` to name others",
        )
        for f, alerts in idle.items()
    ]
    for c in collectors:
        files = skipped.get(c.name)
        paths = syslog_paths(c)
        if files and paths:
            warnings.append(
                Problem(
                    c.mark,
                    f"warning: collector {c.name!r} reads a syslog file ({', '.join(paths)}) "
                    f"with parser {c.kind}: {', '.join(sorted(files))} skip it (their rules read "
                    "syslog lines by their header); set parser: {type: syslog}",
                )
            )
    return dataclasses.replace(rules, groups=tuple(groups)), warnings
