"""The `collectors:` section: one entry per collector, read into the type's frozen config (the
dataclasses live next to each collector in `collectors/`), and the factory the daemon calls.

Every problem is reported with its position; unknown keys are errors, as everywhere else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alerter.actions.unitctl import normalize_unit
from alerter.collectors.base import Collector, CollectorStats, PollingCollector, PositionStore
from alerter.collectors.command import OUTPUT_FORMATS, CommandCollector, CommandConfig
from alerter.collectors.file import START_AT, FileCollector, FileConfig, MultilineConfig
from alerter.collectors.host import HostCollector, HostConfig
from alerter.collectors.http import HttpCollector, HttpConfig
from alerter.collectors.journald import JournaldCollector, JournaldConfig, parse_priority
from alerter.collectors.parsers import PARSER_TYPES, ParserConfig, check_parser_config
from alerter.collectors.prometheus import PrometheusCollector, PrometheusConfig
from alerter.collectors.timefmt import check_time_format
from alerter.config.secrets import headers as secret_headers
from alerter.core.saferegex import compile_pattern
from alerter.core.values import LONGEST_TIMEOUT, format_duration
from alerter.core.yamlsource import MapReader, Mark, Node
from alerter.protocols import Clock

# max_line_bytes: a line is read whole into memory, up to this (the file collector reads a block
# of at least this size); 16 MiB, 256 times the default
LONGEST_LINE = 16 << 20

Spec = FileConfig | JournaldConfig | HostConfig | PrometheusConfig | CommandConfig | HttpConfig


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """One validated `collectors:` entry; `spec` is the type's own config."""

    name: str
    type: str
    mark: Mark
    spec: Spec

    @property
    def parser(self) -> ParserConfig | None:
        """The line parser of a file collector (what `alerter replay` parses log files with)."""
        return self.spec.parser if isinstance(self.spec, FileConfig) else None

    @property
    def is_log(self) -> bool:
        """Does it emit log events (file, journald) rather than samples?"""
        return isinstance(self.spec, (FileConfig, JournaldConfig))

    @property
    def kind(self) -> str | None:
        """What a rule's `source_kinds` calls it: a file's parser type, `journald`, or None
        (no log collector)."""
        if isinstance(self.spec, FileConfig):
            return self.spec.parser.type
        return "journald" if isinstance(self.spec, JournaldConfig) else None


def parse_collector(r: MapReader, base_dir: Path) -> CollectorConfig | None:
    name = r.str("name", required=True)
    ctype = r.choice("type", tuple(_PARSERS), required=True)
    if name is None or ctype is None:
        r.done(extra_known=tuple(r.keys()))  # the type decides which keys are known
        return None
    r.what = f"collector {name!r}"
    spec = _PARSERS[ctype](r, name, base_dir)
    r.done()
    if spec is None:
        return None
    return CollectorConfig(name=name, type=ctype, mark=r.mark, spec=spec)


def build_collector(
    cfg: CollectorConfig, positions: PositionStore, stats: CollectorStats, clock: Clock
) -> Collector | PollingCollector:
    """The collector of `cfg`. `clock` is the daemon's: a collector that stamps samples on its
    own thread (prometheus) reads it, as the daemon does for those it polls."""
    s = cfg.spec
    if isinstance(s, FileConfig):
        return FileCollector(s, positions, stats)
    if isinstance(s, JournaldConfig):
        return JournaldCollector(s, positions, stats)
    if isinstance(s, HostConfig):
        return HostCollector(s, stats)
    if isinstance(s, PrometheusConfig):
        return PrometheusCollector(s, stats, clock.now)
    if isinstance(s, CommandConfig):
        return CommandCollector(s, stats)
    return HttpCollector(s, stats)


# --- per type ---------------------------------------------------------------------------------


def _interval(r: MapReader, default: float) -> float:
    v: float = r.duration("interval", default)
    if v <= 0:
        r.problems.add(r.raw("interval") or r.node, "interval must be > 0")
        return default
    return v


def _timeout(r: MapReader, default: float) -> float:
    v: float = r.duration("timeout", default, maximum=LONGEST_TIMEOUT)
    if v <= 0:
        r.problems.add(r.raw("timeout") or r.node, "timeout must be > 0")
        return default
    return v


def _file(r: MapReader, name: str, base_dir: Path) -> FileConfig | None:
    paths = r.str_list("paths", required=True, allow_scalar=True)
    start_at = r.choice("start_at", START_AT, "end")
    parser = _parser(r.map("parser"))
    multiline = _multiline(r.map("multiline"))
    max_line_bytes = r.int("max_line_bytes", 65536, minimum=256, maximum=LONGEST_LINE)
    poll_interval = r.duration("poll_interval", 0.1)
    rotate_wait = r.duration("rotate_wait", 5.0)
    if not paths:
        if paths is not None:
            r.problems.add(r.raw("paths") or r.node, "paths: give at least one path or glob")
        return None
    resolved = tuple(p if os.path.isabs(p) else str(base_dir / p) for p in paths)
    return FileConfig(
        name=name,
        paths=resolved,
        parser=parser or ParserConfig("none"),
        start_at=start_at,
        multiline=multiline,
        max_line_bytes=max_line_bytes,
        poll_interval=max(0.01, poll_interval),
        rotate_wait=rotate_wait,
    )


def read_parser(r: MapReader | None) -> ParserConfig | None:
    """A `parser:` mapping as a file collector has it (also `alerter test`'s input_logs)."""
    return _parser(r)


def _parser(r: MapReader | None) -> ParserConfig | None:
    if r is None:
        return None
    ptype = r.choice("type", PARSER_TYPES, required=True)
    pattern = r.str("pattern")
    time_field = r.str("time_field")
    time_format = r.str("time_format")
    r.done()
    if ptype is None:
        return None
    bad_pattern = pattern is not None and r.check("pattern", _regex, pattern) is None
    bad_format = (
        time_format is not None
        and r.check("time_format", _ok(check_time_format), time_format) is None
    )
    if bad_pattern or bad_format:
        return None
    cfg = ParserConfig(ptype, pattern, time_field, time_format)
    try:
        check_parser_config(cfg)
    except ValueError as e:
        msg = str(e)
        key = "time_field" if "time_field" in msg else "pattern" if "pattern" in msg else "type"
        r.problems.add(r.raw(key) or r.node, f"parser: {msg}")
        return None
    return cfg


def _ok(fn: Callable[[str], None]) -> Callable[[str], bool]:
    """A validator that returns None, made one that `MapReader.check` can tell from a failure."""

    def run(value: str) -> bool:
        fn(value)
        return True

    return run


def _regex(pattern: str) -> object:
    """A pattern from config that reads others' text: valid Python `re` syntax (its message
    for a typo), and run in linear time (core/saferegex.py: refused with what to change)."""
    re.compile(pattern)
    return compile_pattern(pattern)


def _multiline(r: MapReader | None) -> MultilineConfig | None:
    if r is None:
        return None
    start = r.str("start", required=True)
    timeout = r.duration("timeout", 0.5)
    max_lines = r.int("max_lines", 1000, minimum=1)
    r.done()
    if start is None or r.check("start", _regex, start) is None:
        return None
    return MultilineConfig(start=start, timeout=timeout, max_lines=max_lines)


def _unit_names(r: MapReader, key: str) -> tuple[str, ...]:
    """`units:` / `user_units:` as the full names journald's unit fields hold, which are
    matched exactly: `web` is `web.service`, as systemctl and protected_units read it. A name
    no unit has (a glob, a space) would match nothing: refused, at its position."""
    n = r.raw(key)
    if n is None or not isinstance(n.value, list):
        return tuple(_unit_name(r, key, n, s) for s in r.str_list(key, (), allow_scalar=True))
    out = []
    for item in n.value:
        s = r.as_str(item, key, None)
        if s is not None:
            out.append(_unit_name(r, key, item, s))
    return tuple(out)


def _unit_name(r: MapReader, key: str, n: Node | None, name: str) -> str:
    try:
        return normalize_unit(name)
    except ValueError as e:
        fix = "name a unit as systemctl lists it (web.service, or web for web.service)"
        r.problems.add(n or r.node, f"{key}: {e}; {fix}")
        return name


def _journald(r: MapReader, name: str, base_dir: Path) -> JournaldConfig | None:
    units = _unit_names(r, "units")
    identifiers = r.str_list("identifiers", (), allow_scalar=True)
    user_units = _unit_names(r, "user_units")
    start_at = r.choice("start_at", START_AT, "end")
    journalctl = r.str_list("journalctl", ("journalctl",))
    max_line_bytes = r.int("max_line_bytes", 65536, minimum=256, maximum=LONGEST_LINE)
    priority = 7
    n = r.raw("priority")
    if n is not None and n.value is not None:
        p = r.check("priority", parse_priority, n.value)
        priority = 7 if p is None else p
    if not journalctl:
        r.problems.add(r.raw("journalctl") or r.node, "journalctl: needs at least the program")
        return None
    return JournaldConfig(
        name=name,
        units=units,
        identifiers=identifiers,
        user_units=user_units,
        priority=priority,
        start_at=start_at,
        journalctl=journalctl,
        max_line_bytes=max_line_bytes,
    )


def _host(r: MapReader, name: str, base_dir: Path) -> HostConfig:
    return HostConfig(
        name=name,
        interval=_interval(r, 15.0),
        systemd=r.bool("systemd"),
        units=r.str_list("units", ()),
        systemctl=r.str_list("systemctl", ("systemctl",)) or ("systemctl",),
        timeout=_timeout(r, 10.0),
    )


def _url(r: MapReader) -> str | None:
    url: str | None = r.str("url", required=True)
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        r.problems.add(
            r.raw("url") or r.node, f"url: expected an http:// or https:// URL, got {url!r}"
        )
        return None
    return url


def _prometheus(r: MapReader, name: str, base_dir: Path) -> PrometheusConfig | None:
    url = _url(r)
    interval = _interval(r, 15.0)
    # As Prometheus: the timeout defaults to the interval when that is shorter, and may not
    # exceed it (a target has at most one scrape in flight).
    timeout = _timeout(r, min(5.0, interval))
    if timeout > interval:
        r.problems.add(
            r.raw("timeout") or r.node,
            f"timeout: {format_duration(timeout)} is longer than interval "
            f"{format_duration(interval)}",
        )
    cfg = PrometheusConfig(
        name=name,
        url=url or "",
        interval=interval,
        timeout=min(timeout, interval),
        max_bytes=r.int("max_bytes", 10 * 1024 * 1024, minimum=1024),
        headers=secret_headers(r, base_dir),
    )
    return cfg if url else None


def _command(r: MapReader, name: str, base_dir: Path) -> CommandConfig | None:
    argv = r.str_list("argv", required=True)
    cfg = CommandConfig(
        name=name,
        argv=argv or (),
        interval=_interval(r, 60.0),
        timeout=_timeout(r, 30.0),
        output=r.choice("output", OUTPUT_FORMATS, "none"),
    )
    if argv is not None and not argv:
        r.problems.add(r.raw("argv") or r.node, "argv: needs at least the program")
    return cfg if argv else None


def _http(r: MapReader, name: str, base_dir: Path) -> HttpConfig | None:
    url = _url(r)
    expect: tuple[int, ...] = ()
    n = r.raw("expect_status")
    if n is not None and n.value is not None:
        items: list[object] = [x.value for x in (n.value if isinstance(n.value, list) else [n])]
        codes = [
            v for v in items if isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599
        ]
        if codes and len(codes) == len(items):
            expect = tuple(codes)
        else:
            r.problems.add(n, "expect_status: expected an HTTP status code or a list of them")
    body_regex = r.str("body_regex")
    if body_regex is not None and r.check("body_regex", _regex, body_regex) is None:
        body_regex = None
    ca_file = r.str("ca_file")
    if ca_file is not None and not os.path.isabs(ca_file):
        ca_file = str(base_dir / ca_file)
    cfg = HttpConfig(
        name=name,
        url=url or "",
        interval=_interval(r, 30.0),
        timeout=_timeout(r, 5.0),
        method=r.choice("method", ("GET", "HEAD", "POST"), "GET"),
        expect_status=expect,
        body_regex=body_regex,
        headers=secret_headers(r, base_dir),
        ca_file=ca_file,
    )
    return cfg if url else None


_PARSERS: dict[str, Callable[[MapReader, str, Path], Spec | None]] = {
    "file": _file,
    "journald": _journald,
    "host": _host,
    "prometheus": _prometheus,
    "command": _command,
    "http": _http,
}
COLLECTOR_TYPES = tuple(_PARSERS)
