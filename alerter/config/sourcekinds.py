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
import os
from collections.abc import Mapping, Sequence

from alerter.collectors.file import FileConfig
from alerter.config.collectors import CollectorConfig
from alerter.config.trust import syslog_paths
from alerter.core.yamlsource import Mark, Problem
from alerter.rules.model import LogSelector, RuleSet

NOTHING = ("",)  # the sources of a rule that no collector feeds (no collector is named "")

# what each kind is, in warnings
KIND_WORDS = {
    "syslog": "syslog files (parser: {type: syslog})",
    "journald": "the journal",
    "regex": "files with a regex parser",
    "none": "files with parser none",
    "json": "files with a json parser",
    "logfmt": "files with a logfmt parser",
}


def read_by_kind(
    rules: RuleSet, collectors: Sequence[CollectorConfig], entry_of: Mapping[str, Mark]
) -> tuple[RuleSet, list[Problem]]:
    """`rules` with each rule and log-derived metric that declares `source_kinds` and names no
    source given the log collectors of those kinds as its sources (NOTHING when there is none),
    and warnings: the rule files whose such rules read nothing; the collectors they skip that
    look like theirs (a syslog file read with another parser; a file named after the pack,
    such as dovecot.log for builtin:dovecot). `entry_of`: the rule_files entry of each rule
    file (where warnings point)."""
    kinds = {c.name: c.kind for c in collectors if c.kind is not None}
    idle: dict[str, tuple[list[str], tuple[str, ...]]] = {}  # file -> (its idle rules, kinds)
    skipped: dict[str, set[str]] = {}  # collector -> rule files that skip it, looking like theirs

    def resolve(file: str, what: str, sel: LogSelector) -> LogSelector:
        if not sel.kinds or sel.sources:
            return sel
        names = tuple(n for n, k in kinds.items() if k in sel.kinds)
        if not names:
            idle.setdefault(file, ([], sel.kinds))[0].append(what)
        for c in collectors:
            if c.name in kinds and c.name not in names and _looks_like(c, file, sel.kinds):
                skipped.setdefault(c.name, set()).add(file)
        return dataclasses.replace(sel, sources=names or NOTHING)

    groups = []
    for g in rules.groups:
        new = [
            dataclasses.replace(r, logs=resolve(g.file, r.alert, r.logs))
            if r.logs is not None
            else r
            for r in g.rules
        ]
        metrics = [dataclasses.replace(m, logs=resolve(g.file, m.name, m.logs)) for m in g.metrics]
        groups.append(dataclasses.replace(g, rules=tuple(new), metrics=tuple(metrics)))
    warnings = [
        Problem(
            entry_of.get(f, Mark(f, 1, 1)),
            f"warning: {f}: {', '.join(what)} read no collector: they read "
            f"{' and '.join(KIND_WORDS[k] for k in kinds_)} (their `source_kinds`), and this "
            "config has none; give the entry `sources:` to name the collectors that carry them",
        )
        for f, (what, kinds_) in idle.items()
    ]
    for c in collectors:
        files = skipped.get(c.name)
        if files:
            where = ", ".join(syslog_paths(c) or _paths(c))
            warnings.append(
                Problem(
                    c.mark,
                    f"warning: collector {c.name!r} ({where}, parser {c.kind}) looks like "
                    f"{' and '.join(sorted(files))}'s, which skip it: they read only the kinds "
                    "their `source_kinds` names; set parser: {type: syslog} if it is a syslog "
                    "file, or give the entry `sources:` naming it",
                )
            )
    return dataclasses.replace(rules, groups=tuple(groups)), warnings


def _looks_like(c: CollectorConfig, file: str, kinds: tuple[str, ...]) -> bool:
    """Does `c` look like it carries the lines of the rules of `file` (that skip it)? A syslog
    file read with another parser, for rules that read syslog files; a file whose name holds
    the pack's (dovecot.log for builtin:dovecot)."""
    if "syslog" in kinds and syslog_paths(c):
        return True
    stem = (
        file.removeprefix("builtin:").removesuffix("-aggressive")
        if file.startswith("builtin:")
        else ""
    )
    return bool(stem) and any(os.path.basename(p).startswith(stem) for p in _paths(c))


def _paths(c: CollectorConfig) -> list[str]:
    return list(c.spec.paths) if isinstance(c.spec, FileConfig) else []
