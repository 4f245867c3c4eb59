"""`rule_files:`: which rule files to load, and actions attached to rules of a file from outside it.

An entry is a path, a glob or `builtin:NAME` (a pack shipped in rules/packs/), or a mapping that
names one of those and, without copying the file, adds actions to some of its rules by alert
name, turns some of its rules off, names the collectors its rules read and/or adds conditions
(matchers) to all of its log rules, such as a journald field that proves who wrote the line:

    rule_files:
      - rules.d/*.yaml
      - path: builtin:systemd
        actions: {SystemdUnitFailed: [restart-unit]}
      - path: builtin:nginx
        sources: [nginx_access, nginx_error]   # the file's rules that name no source read these
        actions: {NginxHTTPAuthFailures: [ban]}
        disable: [NginxRequestSpike]           # not loaded
      - path: builtin:postfix
        sources: [journal]
        where: ['_SYSTEMD_UNIT=~"postfix@.*"']  # added to each log rule's own `where`
        actions: {PostfixSASLAuthFailures: [ban]}

The actions are added to the ones the rule file gives (none, for the packs). An alert name that
no rule of the entry's files has, actions for a rule the entry disables, and an action or
collector name the config does not define, are errors at their position in the config.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from alerter.core.yamlload import decode_source
from alerter.core.yamlsource import MapReader, Mark, Problem, Problems, SourceError
from alerter.dispatch.config import parse_matcher_list
from alerter.rules.matchers import Matcher
from alerter.rules.model import Reference, RuleSet


@dataclass(frozen=True, slots=True)
class AddedActions:
    """Actions one `rule_files` entry adds to the rules of one alert name."""

    alert: str
    mark: Mark  # the alert name's key in the config
    actions: tuple[tuple[str, Mark], ...]  # (action name, its position)


@dataclass(frozen=True, slots=True)
class RuleFileEntry:
    pattern: str  # path, glob or builtin:NAME
    mark: Mark
    added: tuple[AddedActions, ...] = ()
    sources: tuple[tuple[str, Mark], ...] = ()  # for the rules that name no source
    where: tuple[Matcher, ...] = ()  # added to every log rule of the file
    disabled: tuple[tuple[str, Mark], ...] = ()  # alert names whose rules are not loaded


@dataclass(frozen=True, slots=True)
class RuleSource:
    """One rule file read: its display name, text, and the entry that named it."""

    name: str
    text: str
    entry: int


def parse_rule_file_entries(top: MapReader) -> list[RuleFileEntry]:
    """The `rule_files` list: strings, or mappings {path, actions, disable, sources, where}."""
    out: list[RuleFileEntry] = []
    for i, n in enumerate(top.list("rule_files")):
        if isinstance(n.value, dict):
            r = MapReader(n, top.problems, f"rule_files[{i}]")
            path = r.str("path", required=True)
            added = _parse_added(r)
            sources = _parse_names(r, "sources")
            where = parse_matcher_list(r, "where")
            disabled = _parse_names(r, "disable")
            r.done()
            if path is not None:
                mark = (r.raw("path") or n).mark
                out.append(RuleFileEntry(path, mark, added, sources, where, disabled))
            continue
        s = top.as_str(n, "rule_files")
        if s is not None:
            out.append(RuleFileEntry(s, n.mark))
    return out


def _parse_added(r: MapReader) -> tuple[AddedActions, ...]:
    am = r.map("actions", f"{r.what}.actions")
    if am is None or not am.ok:
        return ()
    out = []
    alerts = am.keys()  # a MapReader's keys, in file order
    for alert in alerts:
        node = am.raw(alert)
        assert node is not None
        where = am.key_mark(alert)
        items = node.value if isinstance(node.value, list) else [node]
        names = []
        for item in items:
            s = am.as_str(item, f"actions.{alert}")
            if s is not None:
                names.append((s, item.mark))
        if not names:
            am.problems.add(node, f"actions.{alert}: expected a list of action names")
        out.append(AddedActions(alert, where, tuple(names)))
    return tuple(out)


def _parse_names(r: MapReader, key: str) -> tuple[tuple[str, Mark], ...]:
    """A list of names (collectors, alert names), each with its position."""
    out = []
    for item in r.list(key):
        s = r.as_str(item, key)
        if s is not None:
            out.append((s, item.mark))
    return tuple(out)


def no_pack(name: str) -> str:
    """What is said of `builtin:NAME` when no shipped pack has that name (`alerter check`,
    `alerter test`)."""
    packs = resources.files("alerter.rules").joinpath("packs")
    known = sorted(
        f.name.removesuffix(".yaml") for f in packs.iterdir() if f.name.endswith(".yaml")
    )
    return f"no builtin rule pack {name!r} (have: {', '.join(known)})"


@functools.cache
def shipped_patterns() -> frozenset[str]:
    """Every `match` and `exclude` regex of the shipped packs, as written. Their tests prove
    each linear in Python's `re` (tests/rules/test_pack_patterns_linear.py), so a user's rule
    that copies one unchanged runs it there too, not in RE2 (rules/loader.py `linear`)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            logs = node.get("logs")
            if isinstance(logs, dict):
                found.update(v for k, v in logs.items() if k in _REGEXES and isinstance(v, str))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    packs = resources.files("alerter.rules").joinpath("packs")
    for f in packs.iterdir():
        if f.name.endswith(".yaml"):
            walk(yaml.load(f.read_text(), Loader=_LOADER))
    return frozenset(found)


_REGEXES = ("match", "exclude")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the shipped packs: trusted text


def linear_for(sources: Sequence[RuleSource]) -> frozenset[str]:
    """`shipped_patterns()` where a rule file other than a shipped pack is loaded (none
    otherwise: the packs are trusted as they are, and reading them all costs about 20 ms)."""
    if all(s.name.startswith("builtin:") for s in sources):
        return frozenset()
    return shipped_patterns()


def read_rule_files(
    entries: Sequence[RuleFileEntry], base_dir: Path, p: Problems
) -> list[RuleSource]:
    """Expand globs and `builtin:NAME` into the rule files' texts."""
    out: list[RuleSource] = []
    for i, e in enumerate(entries):
        pat, where = e.pattern, e.mark
        if pat.startswith("builtin:"):
            name = pat.removeprefix("builtin:")
            res = resources.files("alerter.rules").joinpath("packs", f"{name}.yaml")
            if not res.is_file():
                p.add(where, f"rule_files: {no_pack(name)}")
                continue
            out.append(RuleSource(f"builtin:{name}", res.read_text(), i))
            continue
        full = pat if os.path.isabs(pat) else str(base_dir / pat)
        matches = sorted(glob.glob(full))
        if not matches and not glob.has_magic(full):
            p.add(where, f"rule_files: {pat} does not exist")
        for m in matches:
            try:
                out.append(RuleSource(m, decode_source(Path(m).read_bytes(), m), i))
            except OSError as err:
                p.add(where, f"rule_files: cannot read {m}: {err.strerror}")
            except SourceError as err:
                p.items.extend(err.problems)
    return out


def empty_globs(entries: Sequence[RuleFileEntry], base_dir: Path) -> list[Problem]:
    """Warnings for the glob entries that match no file (a mistyped directory reads no rules
    and fails nothing; an empty rules.d is fine, hence a warning). A file matched that cannot
    be read is read_rule_files' error, not this."""
    return [
        Problem(e.mark, f"warning: rule_files: {e.pattern} matches no file; no rules read from it")
        for e in entries
        if not e.pattern.startswith("builtin:")
        and glob.has_magic(e.pattern)
        and not glob.glob(e.pattern if os.path.isabs(e.pattern) else str(base_dir / e.pattern))
    ]


def empty_files(entries: Sequence[RuleFileEntry], sources: Sequence[RuleSource]) -> list[Problem]:
    """Warnings for the rule files read that are empty (nothing but comments: not even
    `groups: []`, which says there are none on purpose)."""
    return [
        Problem(entries[s.entry].mark, f"warning: rule_files: {s.name} is empty; no rules read")
        for s in sources
        if all(not ln.strip() or ln.lstrip().startswith("#") for ln in s.text.splitlines())
    ]


def attach_actions(
    rules: RuleSet,
    entries: Sequence[RuleFileEntry],
    sources: Sequence[RuleSource],
    p: Problems,
) -> tuple[RuleSet, dict[str, Mark]]:
    """`rules` without the rules each entry disables, with each entry's actions added to the
    rules it names, its sources given to its rules that name none and its `where` added to its
    log rules; and, per rule ident that got actions this way, where in the config they were
    attached (for warnings)."""
    files_of: dict[int, set[str]] = {}
    for s in sources:
        files_of.setdefault(s.entry, set()).add(s.name)
    extra: dict[tuple[str, str], list[tuple[str, Mark]]] = {}  # (file, alert) -> actions
    where: dict[tuple[str, str], Mark] = {}
    read_from: dict[str, tuple[str, ...]] = {}  # file -> sources for its rules that name none
    required: dict[str, tuple[Matcher, ...]] = {}  # file -> matchers added to its log rules
    off: set[tuple[str, str]] = set()  # (file, alert) not loaded
    refs = list(rules.refs)
    for i, e in enumerate(entries):
        files = files_of.get(i, set())
        if not files:
            continue  # the entry's file is missing or unreadable: reported already
        if e.sources:
            refs.extend(Reference("source", name, mark) for name, mark in e.sources)
            for f in files:
                read_from[f] = tuple(dict.fromkeys(name for name, _ in e.sources))
        if e.where:
            for f in files:
                required[f] = required.get(f, ()) + e.where
        alerts = {r.alert for g in rules.groups if g.file in files for r in g.rules}
        have = ", ".join(sorted(alerts)) or "no rules"
        disabled = set()
        for name, mark in e.disabled:
            if name not in alerts:
                p.add(mark, f"rule_files: {e.pattern} has no rule {name!r} (has: {have})")
                continue
            disabled.add(name)
            off.update((f, name) for f in files)
        for a in e.added:
            if a.alert not in alerts:
                p.add(a.mark, f"rule_files: {e.pattern} has no rule {a.alert!r} (has: {have})")
                continue
            if a.alert in disabled:
                p.add(a.mark, f"rule_files: {a.alert} is in this entry's disable list")
                continue
            for f in files:
                extra.setdefault((f, a.alert), []).extend(a.actions)
                where.setdefault((f, a.alert), a.mark)
            refs.extend(Reference("action", name, mark) for name, mark in a.actions)
    if not extra and not read_from and not required and not off:
        return rules, {}
    attached: dict[str, Mark] = {}
    groups = []
    for g in rules.groups:
        new = []
        for r in g.rules:
            if (g.file, r.alert) in off:
                continue
            if g.file in read_from and r.logs is not None and not r.logs.sources:
                r = dataclasses.replace(
                    r, logs=dataclasses.replace(r.logs, sources=read_from[g.file])
                )
            if g.file in required and r.logs is not None:
                r = dataclasses.replace(
                    r, logs=dataclasses.replace(r.logs, where=r.logs.where + required[g.file])
                )
            add = extra.get((g.file, r.alert))
            if add:
                names = tuple(dict.fromkeys((*r.actions, *(n for n, _ in add))))
                r = dataclasses.replace(r, actions=names)
                attached[r.ident] = where[(g.file, r.alert)]
            new.append(r)
        groups.append(dataclasses.replace(g, rules=tuple(new)))
    return dataclasses.replace(rules, groups=tuple(groups), refs=tuple(refs)), attached
