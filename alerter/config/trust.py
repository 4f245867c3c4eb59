"""Which rules with actions a local user can steer (DESIGN "Trust: log text is written by others").

`alerter check` warns about each rule that has an action and reads lines whose writer nothing
proves:
- a file collector whose lines come from the syslog daemon (parser `syslog`, or a path such as
  /var/log/syslog, auth.log, messages, kern.log): any local user writes there with `logger`
  (unless the rule requires a journald field to be non-empty, which such lines never have);
- a journald collector, unless it reads system units only (`units:`, without `identifiers:` or
  `user_units:`, naming none of the units users' processes run in: USERS_UNITS), or the rule
  requires (in `where`, with `=` or `=~`) one of the fields
  journald itself sets from the sender's credentials (TRUSTED_FIELDS) to hold some values (not
  `=~".*"` or `=~".+"`, which every entry satisfies, nor a pattern any user's entries meet:
  `_UID=~"[0-9]+"`, `_PID=~"[0-9]+"`, `_SYSTEMD_UNIT=~".*[.]service"`, which takes in
  user@UID.service, or `_SYSTEMD_UNIT=~"[a-z]+[.]service"`, which takes in cron.service and
  atd.service, where users' jobs log; nor one of the units users' processes run in,
  USERS_UNITS, or its cgroup, named with `=` or by a pattern that spells it out:
  `_SYSTEMD_UNIT="cron.service"`, `_SYSTEMD_UNIT=~"user@1000\\.service"`). Message text,
  and fields the sender writes (SYSLOG_IDENTIFIER, UNIT, MESSAGE_ID, the collector's `unit`
  and `identifier`), prove nothing.
- any other file read by a pack rule that knows its program by the syslog header (its
  `source_kinds` holds `syslog`) where the file is of none of the rule's other kinds: only a
  syslog daemon writes such lines into a file (rsyslog's per-host files, read with a regex
  parser, are no better than /var/log/syslog), so whoever can log wrote them. A program's own
  log of the rule's kind (apache's error log, read with a regex parser) is its program's.
Other files (an nginx or application log) are written by their program alone, with its
clients' text in them (nginx writes a Basic-auth user name raw, newlines included): a pack
reads such a file only where it is of the pack's `source_kinds` (its own program's: nginx's
rules, an nginx log) or named (alerter.config.sourcekinds). The check cannot
judge the values a rule requires (`_UID="1000"` trusts that user); it only says whether the rule
asks journald at all.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Mapping, Sequence

from alerter.actions.config import ActionConfig, CommandSpec, SignalSpec, SystemdSpec
from alerter.actions.templating import FieldTemplate, keys_mentioned, reads_variable
from alerter.collectors.file import FileConfig
from alerter.collectors.journald import JournaldConfig
from alerter.config.actionlabels import templates_of
from alerter.config.collectors import CollectorConfig
from alerter.core.yamlsource import Mark, Problem
from alerter.rules.matchers import Matcher
from alerter.rules.model import Rule, RuleSet

# set by journald from the sending process's credentials and cgroup; a sender cannot write them
TRUSTED_FIELDS = frozenset(
    {
        "_PID",
        "_UID",
        "_GID",
        "_SYSTEMD_UNIT",
        "_SYSTEMD_SLICE",
        "_SYSTEMD_CGROUP",
        "_SYSTEMD_OWNER_UID",
        "_TRANSPORT",
        "_AUDIT_LOGINUID",
        "_AUDIT_SESSION",
    }
)
# files rsyslog / syslog-ng write on Debian, Ubuntu, Red Hat and SUSE, with any rotation suffix
# (auth.log.1, messages-20240101, syslog.2.gz) or glob (auth.log*)
SYSLOG_FILE = re.compile(
    r"(?:syslog|messages|auth\.log|secure|kern\.log|daemon\.log|user\.log|mail\.(?:log|err|warn|info)"
    r"|maillog|localmessages)(?:[.*-].*)?"
)
# a value no real field holds: a matcher that accepts it accepts anything
ANY_VALUE = "\x7f not a journald value \x7f"
# what an arbitrary local user's entries carry in the numeric fields, and the units, slices and
# cgroups of its processes (its session, its user manager and the user units under it, and the
# system services that run users' cron and at jobs, whose output they log): a pattern that
# accepts one of these (`_UID=~"[0-9]+"`, `_SYSTEMD_UNIT=~".*\.service"`,
# `_SYSTEMD_UNIT=~"[a-z]+\.service"`) does not restrict who wrote the entry. A value given with
# `=` is specific, whichever it is, unless it names one of those units (USERS_UNITS:
# `="cron.service"`, `="/system.slice/cron.service"`), as a collector's `units:` may not.
_ANY_NUMBER = ("4711", "31337", "60321", "123456789")
USERS_JOB_UNITS = ("cron.service", "crond.service", "atd.service")
_ANY_USERS = {
    "_SYSTEMD_UNIT": ("user@4711.service", "session-31337.scope", *USERS_JOB_UNITS),
    "_SYSTEMD_SLICE": ("user-4711.slice", "app.slice", "system.slice"),
    "_SYSTEMD_CGROUP": (
        "/user.slice/user-4711.slice/session-31337.scope",
        "/user.slice/user-4711.slice/user@4711.service/app.slice/web.service",
        *(f"/system.slice/{u}" for u in USERS_JOB_UNITS),
    ),
}
# in every entry a process sends (from its socket credentials); only the kernel's lack _PID/_UID
ALWAYS_SET = frozenset({"_TRANSPORT", "_PID", "_UID", "_GID"})
SYSLOG_NAMES = (
    "syslog",
    "messages",
    "auth.log",
    "secure",
    "kern.log",
    "daemon.log",
    "user.log",
    "mail.log",
    "maillog",
)


def forgeable_action_warnings(
    rules: RuleSet, collectors: Sequence[CollectorConfig], attached: Mapping[str, Mark]
) -> list[Problem]:
    """One warning per rule that has actions and reads a source a local user can write to.
    `attached`: where in the config actions were added to a rule (else the rule's own mark)."""
    logs = {c.name: c for c in collectors if c.is_log}
    out = []
    for rule in rules.rules():
        if not rule.actions or rule.logs is None:
            continue
        names = rule.logs.sources or tuple(logs)
        why = [w for w in (_forgeable(rule, logs[n]) for n in names if n in logs) if w]
        if why:
            acts = ", ".join(rule.actions)
            out.append(
                Problem(
                    attached.get(rule.ident, rule.mark),
                    f"warning: {rule.alert} (actions: {acts}) counts lines a local user can "
                    f"forge: {'; '.join(why)}. An action on it can be steered by anyone who "
                    "can log. Give the rule only sources their program alone writes (`sources:` "
                    "on its rule_files entry), or journald with a condition on a field journald "
                    "sets (where: _PID, _UID, _SYSTEMD_UNIT, _TRANSPORT ...) or a journald "
                    "collector with `units:` alone",
                )
            )
    return out


def _forgeable(rule: Rule, c: CollectorConfig) -> str | None:
    spec = c.spec
    assert rule.logs is not None
    trusted = [m for m in rule.logs.where if _requires_trusted_value(m)]
    if isinstance(spec, FileConfig):
        asks = [m for m in rule.logs.where if m.name in TRUSTED_FIELDS and m.op in ("=", "=~")]
        if spec.parser.type in ("none", "syslog") and any(not m.matches({}) for m in asks):
            return None  # such lines have no journald fields: the rule never counts them
        syslog = syslog_paths(c)
        if spec.parser.type == "syslog" or syslog:
            what = ", ".join(syslog) or "parser: syslog"
            return f"source {c.name} is a syslog file ({what}), which `logger` writes to"
        # a pack rule that reads syslog files knows its program by the syslog header
        # (`sshd[PID]: `): a file of no kind of its program's own (nginx's, apache's log) that
        # holds such lines is a syslog daemon's, whatever its name or parser (rsyslog's
        # per-host files, read with a regex parser)
        own = set(rule.logs.kinds) - {"syslog", "journald"}
        if "syslog" in rule.logs.kinds and spec.parser.type not in own:
            return (
                f"source {c.name} ({', '.join(spec.paths)}) is a file, and {rule.alert} knows "
                "its program's lines by the syslog header (`sshd[PID]: `), which only a syslog "
                "daemon writes into files, for anyone who logs with `logger` (or sends syslog "
                "to the host that wrote the file)"
            )
        return None
    if isinstance(spec, JournaldConfig):
        if trusted or _system_units_only(spec):
            return None
        why = (
            f"source {c.name} is the journal, and the rule requires no field journald sets "
            "(any local user can send a journal entry with any text and SYSLOG_IDENTIFIER)"
        )
        if spec.units and (spec.identifiers or spec.user_units):
            why += "; its `identifiers:` and `user_units:` let in entries any user can send"
        elif spec.units:
            why += f"; its `units:` name a unit users' processes log under ({USERS_UNITS_TOLD})"
        named = [str(m) for m in rule.logs.where if m.op == "=" and _names_users_unit(m)]
        if named:
            why += (
                f"; its `where: {', '.join(named)}` names a unit users' processes log under "
                f"({USERS_UNITS_TOLD})"
            )
        return why
    return None


def _system_units_only(spec: JournaldConfig) -> bool:
    """The collector admits only entries of system units (`units:`; their _SYSTEMD_UNIT, set by
    journald, or UNIT= from PID 1) none of which any user's processes run in: what a `where` on
    `_SYSTEMD_UNIT` proves. `identifiers:` (chosen by the sender) or `user_units:` (any user
    may run a unit of any name) let in anyone's entries."""
    if not spec.units or spec.identifiers or spec.user_units:
        return False
    return not any(users_unit(u) for u in spec.units)


def users_unit(unit: str) -> bool:
    """Is `unit` one users' processes run in (USERS_UNITS)?"""
    return any(fnmatch.fnmatchcase(unit, p) for p in USERS_UNITS)


def _names_users_unit(m: Matcher) -> bool:
    """`m` names a unit users' processes run in (`_SYSTEMD_UNIT="cron.service"`), its
    cgroup (`_SYSTEMD_CGROUP="/system.slice/cron.service"`), or a slice that holds one
    (`_SYSTEMD_SLICE="system.slice"`: cron's and atd's jobs; `user-1000.slice`)."""
    if m.name == "_SYSTEMD_UNIT":
        return users_unit(m.value)
    if m.name == "_SYSTEMD_SLICE":
        return any(fnmatch.fnmatchcase(m.value, p) for p in USERS_SLICES)
    return m.name == "_SYSTEMD_CGROUP" and any(users_unit(part) for part in m.value.split("/"))


# the units a local user's processes run in: its sessions, its user manager, its cron and at
# jobs (a `units:` entry of one of these proves no writer)
USERS_UNITS = ("user@*.service", "session-*.scope", *USERS_JOB_UNITS)
# the slices those run in (an exact `_SYSTEMD_SLICE` of one proves no writer either)
USERS_SLICES = ("system.slice", "user.slice", "user-*.slice")
USERS_UNITS_TOLD = ", ".join(USERS_UNITS)
# the transports any local process can send by (`_TRANSPORT` proves the writer only where it
# is none of these: the kernel's, the audit subsystem's)
OPEN_TRANSPORTS = ("syslog", "journal", "stdout")


def _requires_trusted_value(m: Matcher) -> bool:
    """`m` requires a field journald sets to hold some values, not any value (`=~".*"`,
    `=~".+"`); nor a missing one, for the fields journald reads from /proc, which a sender that
    exits at once leaves out of its entries. A transport any process can use proves nothing."""
    if m.name == "_TRANSPORT" and any(m.matches({m.name: t}) for t in OPEN_TRANSPORTS):
        return False
    if m.name not in TRUSTED_FIELDS or m.op not in ("=", "=~"):
        return False
    if m.op == "=" and _names_users_unit(m):
        return False
    if m.op == "=~" and any(
        m.matches({m.name: text}) and _names_users_unit(Matcher(m.name, "=", text))
        for text in _spelled(m.value)
    ):
        return False  # `=~"user@1000\.service"`, as `="user@1000.service"`
    anyone = (ANY_VALUE, *(_ANY_USERS.get(m.name, _ANY_NUMBER) if m.op == "=~" else ()))
    return not any(m.matches({m.name: v}) for v in anyone) and (
        m.name in ALWAYS_SET or not m.matches({})
    )


def _spelled(pattern: str) -> list[str]:
    """The texts a regex spells out: escapes read as the characters they stand for, groups'
    parentheses dropped, and each alternative on its own: `(ssh|user@1000)[.]service` spells
    ssh|user@1000.service, ssh and user@1000.service. Not every text it matches: enough to
    catch a unit named by a pattern as `=` would name it (the caller keeps those it matches)."""
    text = re.sub(r"\\(.)|\[(.)\]|\(\?:|[()]", lambda g: g.group(1) or g.group(2) or "", pattern)
    return [text, *text.split("|")] if "|" in text else [text]


def syslog_paths(c: CollectorConfig) -> list[str]:
    """The paths of a file collector that a syslog daemon writes (none for other collectors)."""
    spec = c.spec
    return [p for p in spec.paths if _syslog_written(p)] if isinstance(spec, FileConfig) else []


def _syslog_written(path: str) -> bool:
    """A syslog daemon's file, or a glob in /var/log that takes one in (/var/log/*.log)."""
    base = os.path.basename(path)
    if SYSLOG_FILE.fullmatch(base):
        return True
    return (
        glob.has_magic(path)
        and fnmatch.fnmatch("/var/log", os.path.dirname(path))
        and any(fnmatch.fnmatch(n, base) for n in SYSLOG_NAMES)
    )


def subject_label_problems(
    rules: RuleSet, actions: Sequence[ActionConfig], attached: Mapping[str, Mark]
) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for actions that read a label whose text the line's subject chose
    (its rule's `logs.forgeable`: a process's comm, a client's user name), however trusted
    the line's writer: the kernel writes a segfault line, but the process named itself. A
    label or annotation made from one (`unit: "{{ labels.process }}.service"`) is one too
    (`subject_labels`, `subject_annotations`). A systemd unit or a signal's pidfile taken from
    one is refused: any local user could pick the service alerter restarts or stops by naming a
    process after it. A ban or command reading one is warned about, and so is any command on
    such a rule: it gets every label in its environment and on stdin."""
    by_name = {a.name: a for a in actions}
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for rule in rules.rules():
        if not rule.actions or rule.logs is None or not rule.logs.forgeable:
            continue
        chosen = subject_labels(rule)
        annotations = subject_annotations(rule, chosen)
        if not chosen and not annotations:
            continue
        told = f"`forgeable: [{', '.join(rule.logs.forgeable)}]`"
        where = attached.get(rule.ident, rule.mark)
        for name in rule.actions:
            action = by_name.get(name)
            if action is None:
                continue
            spec = action.spec
            targets: list[tuple[str, FieldTemplate]] = []
            if isinstance(spec, SystemdSpec):
                targets.append(("unit", spec.unit))
            if isinstance(spec, SignalSpec) and spec.pidfile is not None:
                targets.append(("pidfile", spec.pidfile))
            for key, t in targets:
                read = _reads(t, chosen, annotations)
                if read:
                    errors.append(
                        Problem(
                            where,
                            f"{rule.alert} (action {name}): {key}: {t.source!r} reads "
                            f"{read}, whose text the line's subject chooses ({rule.alert}'s "
                            f"{told}: a process names itself, a client types its user name), "
                            "so any local user could choose what alerter acts on. Name the "
                            f"{key} literally, or attach the action to a rule keyed by a label "
                            "the subject cannot choose",
                        )
                    )
            others = [t for t in templates_of(spec) if all(t is not x for _, x in targets)]
            read = next((r for r in (_reads(t, chosen, annotations) for t in others) if r), "")
            if read:
                warnings.append(
                    Problem(
                        where,
                        f"warning: {rule.alert} (action {name}): the action reads {read}, "
                        f"whose text the line's subject chooses (the rule's {told}), so its "
                        f"{action.type} can be steered by whoever runs or names that "
                        "subject; take the action's values from labels the subject cannot "
                        "choose",
                    )
                )
            elif isinstance(spec, CommandSpec) and chosen:
                # (alerter.actions.executors.command_env, alert_json)
                some = " and ".join(f"labels.{x}" for x in sorted(chosen))
                warnings.append(
                    Problem(
                        where,
                        f"warning: {rule.alert} (action {name}): the command gets every label "
                        f"in its environment (ALERTER_LABEL_*) and on stdin, {some} among "
                        "them, whose text the line's subject chooses (the rule's "
                        f"{told}): alerter passes them as data, and what the command does "
                        "with them is its code's choice. Treat them there as untrusted text "
                        "(never as a unit, path or command to run), or attach the action to a "
                        "rule keyed by labels the subject cannot choose",
                    )
                )
    return errors, warnings


def subject_labels(rule: Rule) -> dict[str, str]:
    """The labels of `rule`'s alerts whose text the line's subject chooses, each with the
    `forgeable` label it comes from: the `by` (and new_value `field`) labels that
    `logs.forgeable` names, unless a literal group or rule label replaces them, and the group
    or rule labels whose template reads one (`unit: "{{ labels.process }}.service"`; one step
    is all there is: the loader refuses a label template that reads another group or rule
    label, which its sample data lacks)."""
    assert rule.logs is not None
    new = [rule.field] if rule.field and rule.aggregate == "new_value" else []
    literal = {k for k, v in rule.labels.items() if "{" not in v}  # (as AlertTable reads them)
    out = {x: x for x in sorted(set(rule.logs.forgeable) & {*rule.by, *new}) if x not in literal}
    for k, source in rule.labels.items():
        read = _mentioned(keys_mentioned(source, "labels"), out) if k not in literal else None
        if read is not None:
            out[k] = out[read]
    return out


def subject_annotations(rule: Rule, chosen: Mapping[str, str]) -> dict[str, str]:
    """The annotations of `rule` made from text the line's subject chooses, each with where
    that text comes from: a label of `chosen` (`subject_labels`), or `examples`, the lines
    themselves, which hold the subject's text wherever the rule has `forgeable` fields."""
    assert rule.logs is not None
    out = {}
    for k, source in rule.annotations.items():
        read = _mentioned(keys_mentioned(source, "labels"), chosen)
        if read is not None:
            out[k] = f"labels.{chosen[read]}"
        elif rule.logs.forgeable and reads_variable(source, "examples"):
            out[k] = "examples"
    return out


def _mentioned(mentioned: frozenset[str] | None, among: Mapping[str, str]) -> str | None:
    """The first of `among` that a template mentioning `mentioned` may render (any, when it
    reads every key)."""
    hit = sorted(among if mentioned is None else set(among) & mentioned)
    return hit[0] if hit else None


def _reads(t: FieldTemplate, chosen: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """What an action template `t` renders from the subject's text (`labels.unit (made from
    labels.process)`), or ""."""
    if t.is_static:
        return ""
    label = _mentioned(keys_mentioned(t.source, "labels"), chosen)
    if label is not None:
        origin = chosen[label]
        return f"labels.{label}" + ("" if origin == label else f" (made from labels.{origin})")
    note = _mentioned(keys_mentioned(t.source, "annotations"), annotations)
    if note is not None:
        return f"annotations.{note} (made from {annotations[note]})"
    return ""
