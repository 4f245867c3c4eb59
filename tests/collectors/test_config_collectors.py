"""alerter/config/collectors.py: each type's keys into its frozen config; problems with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerter.collectors.file import FileConfig, MultilineConfig
from alerter.collectors.http import HttpConfig
from alerter.collectors.journald import JournaldConfig
from alerter.collectors.parsers import ParserConfig
from alerter.collectors.prometheus import PrometheusConfig
from alerter.config.collectors import CollectorConfig, parse_collector
from alerter.config.load import parse_config
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import MapReader, Problems
from alerter.errors import ConfigError


def parse(
    text: str, base_dir: Path = Path("/etc/alerter")
) -> tuple[CollectorConfig | None, list[str]]:
    p = Problems(env={"LOGDIR": "/srv/logs"})
    cfg = parse_collector(MapReader(load_yaml(text, "c.yaml"), p, "collector"), base_dir)
    return cfg, [str(x) for x in p.items]


def test_file_collector_keys() -> None:
    cfg, problems = parse(
        """
name: nginx
type: file
paths: ["${LOGDIR}/*access.log", relative.log]
start_at: beginning
parser:
  type: regex
  pattern: '^(?P<ip>\\S+) \\[(?P<time>[^\\]]+)\\]'
  time_field: time
  time_format: "%d/%b/%Y:%H:%M:%S %z"
multiline: {start: '^\\S', timeout: 2s}
max_line_bytes: 1024
rotate_wait: 1s
"""
    )
    assert problems == []
    assert cfg is not None and (cfg.name, cfg.type, cfg.mark.line) == ("nginx", "file", 2)
    assert cfg.is_log
    spec = cfg.spec
    assert isinstance(spec, FileConfig)
    assert spec.paths == ("/srv/logs/*access.log", "/etc/alerter/relative.log")
    assert spec.start_at == "beginning" and spec.max_line_bytes == 1024 and spec.rotate_wait == 1.0
    assert spec.multiline == MultilineConfig(start="^\\S", timeout=2.0)
    assert cfg.parser == ParserConfig(
        "regex", "^(?P<ip>\\S+) \\[(?P<time>[^\\]]+)\\]", "time", "%d/%b/%Y:%H:%M:%S %z"
    )


def test_file_defaults() -> None:
    cfg, problems = parse("{name: a, type: file, paths: /var/log/syslog}")
    assert problems == [] and cfg is not None
    assert cfg.spec == FileConfig(name="a", paths=("/var/log/syslog",), parser=ParserConfig("none"))


def test_journald_keys() -> None:
    cfg, problems = parse(
        "{name: j, type: journald, units: [web.service], identifiers: kernel, priority: warning, "
        "journalctl: [/usr/bin/journalctl, --directory=/tmp/j]}"
    )
    assert problems == [] and cfg is not None
    assert cfg.spec == JournaldConfig(
        name="j",
        units=("web.service",),
        identifiers=("kernel",),
        priority=4,
        journalctl=("/usr/bin/journalctl", "--directory=/tmp/j"),
    )
    assert cfg.parser is None and cfg.is_log


def test_journald_max_line_bytes_reaches_the_collector_config() -> None:
    cfg, problems = parse("{name: j, type: journald, max_line_bytes: 1024}")
    assert problems == [] and cfg is not None
    assert isinstance(cfg.spec, JournaldConfig) and cfg.spec.max_line_bytes == 1024
    cfg, problems = parse("{name: j, type: journald}")
    assert cfg is not None and isinstance(cfg.spec, JournaldConfig)
    assert cfg.spec.max_line_bytes == 65536
    _, problems = parse("{name: j, type: journald, max_line_bytes: 100}")
    assert any(p.startswith("c.yaml:1:43: max_line_bytes") for p in problems), problems


def test_polling_keys() -> None:
    cfg, problems = parse(
        "{name: app, type: prometheus, url: 'http://127.0.0.1:8000/metrics', interval: 30s, timeout: 2s}"
    )
    assert problems == [] and cfg is not None
    assert cfg.spec == PrometheusConfig(
        name="app", url="http://127.0.0.1:8000/metrics", interval=30.0, timeout=2.0
    )
    assert not cfg.is_log
    cfg, problems = parse(
        "{name: s, type: http, url: 'https://example.org/health', expect_status: [200, 204], body_regex: ok}"
    )
    assert problems == [] and cfg is not None
    assert isinstance(cfg.spec, HttpConfig) and cfg.spec.expect_status == (200, 204)


def test_prometheus_timeout_defaults_to_a_shorter_interval_and_may_not_exceed_it() -> None:
    cfg, problems = parse("{name: a, type: prometheus, url: 'http://127.0.0.1/m', interval: 2s}")
    assert problems == [] and cfg is not None and isinstance(cfg.spec, PrometheusConfig)
    assert (cfg.spec.interval, cfg.spec.timeout) == (2.0, 2.0)
    _, problems = parse(
        "{name: a, type: prometheus, url: 'http://127.0.0.1/m', interval: 2s, timeout: 5s}"
    )
    assert problems == ["c.yaml:1:79: timeout: 5s is longer than interval 2s"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{name: a, type: file}", "c.yaml:1:1: collector 'a': missing required key 'paths'"),
        (
            "{name: a, type: file, paths: [x], colour: red}",
            "c.yaml:1:35: collector 'a': unknown key 'colour'",
        ),
        (
            "{name: a, type: file, paths: [x], parser: {type: regex, pattern: '(x'}}",
            "c.yaml:1:66: pattern: missing ), unterminated subpattern at position 0",
        ),
        (
            "{name: a, type: file, paths: [x], parser: {type: xml}}",
            "c.yaml:1:50: type: unknown value 'xml'",
        ),
        (
            "{name: a, type: file, paths: [x], parser: {type: regex, pattern: 'x'}}",
            "c.yaml:1:66: parser: pattern has no named groups",
        ),
        (
            "{name: a, type: file, paths: [x], start_at: middle}",
            "c.yaml:1:45: start_at: unknown value",
        ),
        (
            "{name: a, type: file, paths: [x], multiline: {start: '['}}",
            "c.yaml:1:54: start: unterminated",
        ),
        ("{name: a, type: journald, priority: 9}", "c.yaml:1:37: priority: priority must be 0-7"),
        ("{name: a, type: host, interval: 0s}", "c.yaml:1:33: interval must be > 0"),
        ("{name: a, type: prometheus, url: localhost:9100}", "c.yaml:1:34: url: expected an http"),
        ("{name: a, type: command, argv: []}", "c.yaml:1:32: argv: needs at least the program"),
        (
            "{name: a, type: http, url: 'http://x', body_regex: '('}",
            "c.yaml:1:52: body_regex: missing )",
        ),
        ("{name: a, type: snmp}", "c.yaml:1:17: type: unknown value 'snmp'"),
    ],
)
def test_problems_are_reported_with_their_position(text: str, expected: str) -> None:
    _, problems = parse(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_an_unknown_type_reports_no_spurious_unknown_keys() -> None:
    cfg, problems = parse("{name: a, type: snmp, community: public}")
    assert cfg is None and len(problems) == 1


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("{name: a, type: file, paths: x, multiline: {start: '(?<=x)y'}}", "start"),
        ("{name: a, type: http, url: 'http://127.0.0.1/', body_regex: '(a)\\1'}", "body_regex"),
    ],
)
def test_collector_regexes_that_no_linear_engine_runs_are_refused(text: str, key: str) -> None:
    """multiline.start and body_regex read text others write (log lines, a probed server's
    body): like rule patterns, they must run in linear time, so lookaround and back references
    are refused with what to change."""
    cfg, problems = parse(text)
    assert cfg is None or problems
    assert any(f"{key}:" in p for p in problems), problems


def test_journald_user_units_reach_the_collector_config() -> None:
    cfg, problems = parse("{name: j, type: journald, user_units: [web.service]}")
    assert problems == [] and cfg is not None
    assert cfg.spec == JournaldConfig(name="j", user_units=("web.service",))


def test_a_journald_units_entry_without_a_type_is_the_service_as_systemctl_reads_it() -> None:
    cfg = parse_config(
        "collectors:\n  - {name: webj, type: journald, units: [web, db.socket],"
        " user_units: [app]}\n",
        "alerter.yaml",
        {},
    )
    (c,) = cfg.collectors
    assert isinstance(c.spec, JournaldConfig)
    assert c.spec.units == ("web.service", "db.socket")
    assert c.spec.user_units == ("app.service",)


def test_a_journald_units_entry_no_unit_is_named_by_is_refused_at_its_position() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(
            "collectors:\n  - {name: webj, type: journald, units: [web.service, 'web*']}\n",
            "alerter.yaml",
            {},
        )
    (found,) = [str(p) for p in exc.value.problems]
    assert found.startswith("alerter.yaml:2:55: units: 'web*' is not a valid unit name"), found
