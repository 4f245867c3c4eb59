"""The daemon config: YAML -> validated, immutable objects, with every problem reported at once.

Sections owned by other parts are parsed by them (`parse_collector`, `parse_notifier`,
`parse_route`, `parse_inhibit_rule`, `parse_action`); this module reads the top level, resolves
`rule_files` and cross-checks names between sections.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from alerter.actions.config import ActionConfig, parse_action
from alerter.actions.unitctl import protected_pattern
from alerter.config.actionlabels import unknown_label_warnings
from alerter.config.collectors import CollectorConfig, parse_collector
from alerter.config.fieldnames import unread_field_warnings
from alerter.config.regexnotes import re2_notes
from alerter.config.rulefiles import (
    attach_actions,
    empty_files,
    empty_globs,
    linear_for,
    parse_rule_file_entries,
    read_rule_files,
)
from alerter.config.sourcekinds import read_by_kind
from alerter.config.trust import forgeable_action_warnings, subject_label_problems
from alerter.config.untimed import untimed_action_warnings
from alerter.core.yamlload import decode_source, file_kind, load_yaml
from alerter.core.yamlsource import (
    MapReader,
    Mark,
    Node,
    Problem,
    Problems,
    SourceError,
    in_file_order,
)
from alerter.dispatch.config import InhibitRuleConfig, RouteConfig, parse_inhibit_rule, parse_route
from alerter.dispatch.timeintervals import TimeIntervals, parse_time_intervals
from alerter.errors import ConfigError
from alerter.notifiers.config import NotifierConfig, parse_notifier
from alerter.rules.loader import RuleSet, load_rule_files

DEFAULT_PATH = "/etc/alerter/config.yaml"
DEFAULT_PROTECTED_UNITS = (
    "alerter.service",
    "systemd-journald.service",
    "dbus.service",
    "ssh.service",
    "sshd.service",
)


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    """`global:`. `protected_units` is DEFAULT_PROTECTED_UNITS plus the configured list: a
    configured list adds to the built-in set, never replaces it."""

    state_dir: str = "/var/lib/alerter"
    evaluation_interval: float = 15.0
    labels: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    dry_run: bool = False
    protected_units: tuple[str, ...] = DEFAULT_PROTECTED_UNITS
    actions_per_minute: int = 30
    max_bans: int = 10_000  # bans in force at most (alerter/actions/bans.py)
    scan_worker: bool = True  # big batches' bulk rule passes in a helper process (2+ CPUs)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:9753"
    host: str = "127.0.0.1"
    port: int = 9753
    token: str | None = None
    token_file: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    global_: GlobalConfig
    server: ServerConfig
    collectors: tuple[CollectorConfig, ...]
    rule_files: tuple[str, ...]
    notifiers: tuple[NotifierConfig, ...]
    route: RouteConfig
    inhibit_rules: tuple[InhibitRuleConfig, ...]
    time_intervals: TimeIntervals
    actions: tuple[ActionConfig, ...]
    rules: RuleSet
    # printed by `alerter check`, never fatal: actions on rules a local user can forge
    warnings: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()  # what `alerter check` tells and nothing is wrong with

    def all_warnings(self) -> list[Problem]:
        """The config's and its actions' warnings, in file order (`alerter check` prints them,
        the daemon logs them; never fatal)."""
        found = (*(w for a in self.actions for w in a.warnings), *self.warnings)
        return in_file_order(found)

    def restart_needed(self, new: Config) -> list[str]:
        """What a reload to `new` does not apply (the state store stays open where it is)."""
        if new.global_.state_dir != self.global_.state_dir:
            return [
                f"global.state_dir changed to {new.global_.state_dir}: the state stays in"
                f" {self.global_.state_dir} until alerter restarts"
            ]
        return []

    def alert_labels(self) -> dict[str, str]:
        """The labels every alert gets (the daemon's and replay's): global.labels plus `host`,
        this machine's name, unless global.labels sets it."""
        return {"host": socket.gethostname(), **self.global_.labels}


def default_config_text() -> str:
    """The embedded config used by `alerter run` without -c and no /etc/alerter/config.yaml."""
    return resources.files("alerter").joinpath("default_config.yaml").read_text()


def resolve_config_path(path: str | None) -> tuple[str, str]:
    """(display name, text) for -c PATH, /etc/alerter/config.yaml, or the embedded default."""
    if path is None:
        if os.path.exists(DEFAULT_PATH):
            path = DEFAULT_PATH
        else:
            return "<embedded default config>", default_config_text()
    try:
        return path, decode_source(Path(path).read_bytes(), path)
    except OSError as e:
        raise ConfigError.single(path, f"cannot read config: {e.strerror}") from None
    except SourceError as e:
        raise ConfigError(e.problems) from None


_OTHER_FILES = {  # file_kind -> what is said when one is given as the config
    "rules": "a rule file (groups:), not a config: name it in a config's rule_files, and check "
    "that config (alerter check -c CONFIG)",
    "tests": "a rule test file (tests:), not a config: run it with alerter test FILE",
}


def load_config(path: str | None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate everything the daemon needs. Raises ConfigError listing all problems."""
    name, text = resolve_config_path(path)
    environ = dict(env if env is not None else os.environ)
    environ.setdefault("ALERTER_STATE_DIR", default_state_dir(environ))
    return parse_config(text, name, environ)


def load_server_config(path: str, env: Mapping[str, str] | None = None) -> ServerConfig:
    """The `server:` section alone, as `load_config` reads it: where the API clients (`alerter
    silence -c CONFIG` ...) find the daemon and its token, also while another part of the file,
    or a rule file it names, has a problem (a failed reload leaves the daemon running on its
    last good config, and the operator may want to silence its alerts meanwhile)."""
    name, text = resolve_config_path(path)
    root = _config_root(text, name)
    p = Problems(env=dict(env if env is not None else os.environ))
    server = _parse_server(MapReader(root, p, "config").map("server"), p, Path(name).parent)
    if p.items:
        raise ConfigError(p.items)
    return server


def default_state_dir(env: Mapping[str, str]) -> str:
    """systemd's $STATE_DIRECTORY, else /var/lib/alerter for root, else ~/.local/state/alerter."""
    if env.get("STATE_DIRECTORY"):
        return env["STATE_DIRECTORY"].split(":")[0]
    if os.geteuid() == 0:
        return "/var/lib/alerter"
    base = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or "/tmp", ".local", "state")
    return os.path.join(base, "alerter")


def _config_root(text: str, file: str) -> Node:
    """The config file's YAML, or a ConfigError: unparsable, or one of alerter's other files
    (a rule file, a rule test) given for a config."""
    try:
        root = load_yaml(text, file)
    except SourceError as e:
        raise ConfigError(e.problems) from None
    kind = file_kind(root)
    if kind in _OTHER_FILES:
        raise ConfigError.single(file, _OTHER_FILES[kind])
    return root


def parse_config(text: str, file: str, env: Mapping[str, str]) -> Config:
    root = _config_root(text, file)
    base_dir = Path(file).parent if not file.startswith("<") else Path.cwd()
    p = Problems(env=env)
    top = MapReader(root, p, "config")

    g = _parse_global(top.map("global"), base_dir)
    server = _parse_server(top.map("server"), p, base_dir)

    collectors = []
    told: set[str] = set()  # names of entries whose problems are told: not "unknown" as well
    for r in top.items("collectors"):
        c = parse_collector(r, base_dir)
        if c is not None:
            collectors.append(c)
        else:
            told.add(_name_of(r))
    _check_unique(p, [(c.name, c.mark) for c in collectors], "collector")
    if collectors or told:
        no_collectors: tuple[Problem, ...] = ()
    else:
        no_collectors = (Problem((top.raw("collectors") or root).mark, NO_COLLECTORS),)

    notifiers = []
    for r in top.items("notifiers"):
        n = parse_notifier(r, base_dir)
        if n is not None:
            notifiers.append(n)
    _check_unique(p, [(n.name, n.mark) for n in notifiers], "notifier")
    if not notifiers:
        notifiers.append(parse_notifier(_console_node(root.mark), base_dir))  # type: ignore[arg-type]

    # Alertmanager's `time_intervals:`, and its older top-level `mute_time_intervals:`
    intervals = parse_time_intervals(
        [*top.items("time_intervals"), *top.items("mute_time_intervals")]
    )
    rroute = top.map("route")
    route = parse_route(rroute, [n.name for n in notifiers], root.mark, p, list(intervals.named))
    inhibit = tuple(
        x for x in (parse_inhibit_rule(r) for r in top.items("inhibit_rules")) if x is not None
    )

    actions = []
    for r in top.items("actions"):
        a = parse_action(r, g.protected_units, base_dir)
        if a is not None:
            actions.append(a)
        else:
            told.add(_name_of(r))
    _check_unique(p, [(a.name, a.mark) for a in actions], "action")

    rule_entries = parse_rule_file_entries(top)
    top.done()

    rule_sources = read_rule_files(rule_entries, base_dir, p)
    rules = RuleSet.empty()
    attached: dict[str, Mark] = {}
    kind_warnings: list[Problem] = []
    try:
        rules = load_rule_files(
            [(s.name, s.text) for s in rule_sources],
            default_interval=g.evaluation_interval,
            linear=linear_for(rule_sources),
        )
    except SourceError as e:
        p.items.extend(e.problems)
        rules = getattr(
            e, "partial", rules
        )  # alerter.rules.loader.RuleFileError: still cross-check
    else:
        rules, attached = attach_actions(rules, rule_entries, rule_sources, p)
        # (after the entries' `sources:`, which a pack's source_kinds give way to)
        entry_of = {src.name: rule_entries[src.entry].mark for src in rule_sources}
        rules, kind_warnings = read_by_kind(rules, collectors, entry_of)
    refused, subject_warnings = subject_label_problems(rules, actions, attached)
    p.items.extend(refused)
    _cross_check(p, rules, collectors, actions, told)
    if p.items:
        error = ConfigError(p.items)
        # the warnings that need no whole config, told with the problems
        error.warnings = (
            *(w for a in actions for w in a.warnings),
            *empty_globs(rule_entries, base_dir),
            *kind_warnings,
        )
        raise error

    return Config(
        path=file,
        global_=g,
        server=server,
        collectors=tuple(collectors),
        rule_files=tuple(e.pattern for e in rule_entries),
        notifiers=tuple(notifiers),
        route=route,
        inhibit_rules=inhibit,
        time_intervals=intervals,
        actions=tuple(actions),
        rules=rules,
        warnings=(
            *no_collectors,
            *empty_globs(rule_entries, base_dir),
            *empty_files(rule_entries, rule_sources),
            *kind_warnings,
            *forgeable_action_warnings(rules, collectors, attached),
            *subject_warnings,
            *untimed_action_warnings(rules, collectors, actions, attached),
            *unknown_label_warnings(rules, actions, ("host", *g.labels), attached),
            *unread_field_warnings(rules, collectors),
        ),
        notes=tuple(re2_notes(rules, collectors)),
    )


NO_COLLECTORS = (
    "warning: no collectors: alerter reads no logs and no metrics (add one, e.g. a file)"
)


def _console_node(mark: Mark) -> MapReader:
    return MapReader(
        Node({"name": Node("console", mark), "type": Node("console", mark)}, mark),
        Problems(),
        "notifier",
    )


def _parse_global(r: MapReader | None, base_dir: Path) -> GlobalConfig:
    if r is None:
        return GlobalConfig()
    d = GlobalConfig()
    state_dir = r.str("state_dir", d.state_dir)
    full = str(base_dir / state_dir) if not os.path.isabs(state_dir) else state_dir
    if os.path.exists(full) and not os.path.isdir(full):
        r.problems.add(
            r.raw("state_dir") or r.node, f"state_dir: {full} is a file; name a directory"
        )
    cfg = GlobalConfig(
        state_dir=full,
        evaluation_interval=r.duration("evaluation_interval", d.evaluation_interval),
        labels=r.label_map("labels"),
        external_url=r.str("external_url", ""),
        dry_run=r.bool("dry_run", False),
        protected_units=_with_defaults(_protected_units(r), d.protected_units),
        actions_per_minute=r.int("actions_per_minute", d.actions_per_minute, minimum=1),
        max_bans=r.int("max_bans", d.max_bans, minimum=1),
        scan_worker=r.bool("scan_worker", d.scan_worker),
    )
    if cfg.evaluation_interval <= 0:
        r.problems.add(r.raw("evaluation_interval") or r.node, "evaluation_interval must be > 0")
    r.done()
    return cfg


def _protected_units(r: MapReader) -> tuple[str, ...]:
    """global.protected_units, each entry a unit name or glob systemctl would read as one."""
    units = r.str_list("protected_units", ())
    n = r.raw("protected_units")
    items = n.value if n is not None and isinstance(n.value, list) else []
    for item in items:
        if isinstance(item.value, str):
            try:
                protected_pattern(item.value)
            except ValueError as e:
                r.problems.add(item, f"protected_units: {e}")
    return tuple(units)


def _with_defaults(configured: tuple[str, ...], defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The built-in protected units, then the configured ones not already among them."""
    return tuple(dict.fromkeys((*defaults, *configured)))


def _parse_server(r: MapReader | None, p: Problems, base_dir: Path) -> ServerConfig:
    if r is None:
        return ServerConfig()
    listen = r.str("listen", "127.0.0.1:9753")
    token_file = r.str("token_file")
    if token_file and not os.path.isabs(token_file):  # like every path: from the config's dir
        token_file = str(base_dir / token_file)
    r.done()
    host, colon, port_s = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not colon or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        p.add(r.raw("listen") or r.node, f"listen: expected HOST:PORT, got {listen!r}")
        return ServerConfig()
    token = None
    if token_file:
        try:
            token = decode_source(Path(token_file).read_bytes(), token_file).strip()
        except OSError as e:
            p.add(
                r.raw("token_file") or r.node, f"token_file: cannot read {token_file}: {e.strerror}"
            )
        except SourceError as e:
            p.add(r.raw("token_file") or r.node, f"token_file: {e}")
        else:
            if not token:
                p.add(r.raw("token_file") or r.node, f"token_file: {token_file} is empty")
    if token_file is None and not _is_loopback(host):
        p.add(
            r.raw("listen") or r.node,
            f"listen: {listen} is not a loopback address; set server.token_file "
            "(a bearer token for POST/DELETE) or listen on 127.0.0.1",
        )
    return ServerConfig(
        listen=listen, host=host, port=int(port_s), token=token, token_file=token_file
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
        except OSError:
            return False


def _check_unique(p: Problems, names: list[tuple[str, Mark]], what: str) -> None:
    first: dict[str, Mark] = {}
    for name, mark in names:
        if name in first:  # (said as a duplicate group is: where the other one is)
            p.add(mark, f"duplicate {what} name {name!r} (first at {first[name]})")
        first.setdefault(name, mark)


def _name_of(r: MapReader) -> str:
    """The `name:` of an entry that did not parse ("" without one)."""
    n = r.raw("name")
    return n.value if n is not None and isinstance(n.value, str) else ""


def _cross_check(
    p: Problems, rules: RuleSet, collectors: list[Any], actions: list[Any], told: set[str]
) -> None:
    """References to actions and collectors that no entry defines (those of entries whose own
    problems are told, `told`, are not told again)."""
    collector_names = {c.name for c in collectors} | told
    samplers = {c.name: c.type for c in collectors if not c.is_log}
    action_names = {a.name for a in actions} | told
    for ref in rules.references():
        if ref.kind == "action" and ref.name not in action_names:
            p.items.append(
                Problem(ref.mark, f"unknown action {ref.name!r} (define it under actions:)")
            )
        if ref.kind == "source" and ref.name not in collector_names:
            p.items.append(
                Problem(ref.mark, f"unknown log source {ref.name!r} (no collector has that name)")
            )
        elif ref.kind == "source" and ref.name in samplers:
            p.items.append(
                Problem(
                    ref.mark,
                    f"{ref.name!r} is a {samplers[ref.name]} collector: it gives samples, not"
                    " log lines; read its series with `metric:` (e.g. metric: host_load1)",
                )
            )
    for a in actions:
        collector = getattr(a.spec, "collector", None)  # throttle actions act on a collector
        if collector is not None and collector not in collector_names:
            p.items.append(Problem(a.mark, f"action {a.name!r}: unknown collector {collector!r}"))
