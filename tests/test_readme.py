"""The README's examples run as the README says they do."""

from __future__ import annotations

import io
import re
from argparse import Namespace
from pathlib import Path

import pytest

from alerter.cli.rules import cmd_test
from alerter.config.load import load_config
from alerter.core.yamlsource import MapReader

README = Path(__file__).resolve().parent.parent / "README.md"


def yaml_block(starts: str) -> str:
    """The README's ```yaml block that begins with `starts`."""
    (block,) = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
        if b.startswith(starts)
    ]
    return str(block)


def test_the_rule_test_example_passes_on_the_rules_example(tmp_path: Path) -> None:
    (tmp_path / "ssh.yaml").write_text(yaml_block("groups:\n  - name: ssh\n"))
    (tmp_path / "ssh.test.yaml").write_text(yaml_block("rule_files: [ssh.yaml]"))
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(tmp_path / "ssh.test.yaml")]), out) == 0, out.getvalue()
    assert "1 test: SUCCESS" in out.getvalue()


def test_the_rule_test_examples_failure_line_is_what_a_failure_prints(tmp_path: Path) -> None:
    (tmp_path / "ssh.yaml").write_text(yaml_block("groups:\n  - name: ssh\n"))
    test = yaml_block("rule_files: [ssh.yaml]").replace("ip: 1.2.3.4,", "ip: 1.2.3.5,")
    (tmp_path / "ssh.test.yaml").write_text(test)
    out = io.StringIO()
    assert cmd_test(Namespace(files=[str(tmp_path / "ssh.test.yaml")]), out) == 1
    (head,) = re.findall(
        r"`(ssh\.test\.yaml:\d+: test .*?)`", README.read_text().replace("\n", " ")
    )
    assert f"{tmp_path / head}" in out.getvalue(), out.getvalue()


# --- every key a config reader takes is named where the README describes its section ----------

# One entry of every collector, notifier and action type, and every nested mapping, so that each
# reader asks for all of its keys (a reader asks for a type's keys only for an entry of that type).
EVERY_READER_CONFIG = """
global: {state_dir: ./state}
server: {listen: "127.0.0.1:9753"}
collectors:
  - name: file
    type: file
    paths: [app.log]
    multiline: {start: '^\\S'}
    parser: {type: regex, pattern: '^(?P<time>\\S+) (?P<pid>\\d+) (?P<ip>\\S+)', time_field: time}
  - {name: journald, type: journald}
  - {name: host, type: host}
  - {name: prometheus, type: prometheus, url: "http://127.0.0.1:1/metrics"}
  - {name: command, type: command, argv: [/bin/true]}
  - {name: http, type: http, url: "http://127.0.0.1:1/"}
rule_files: [rules.yaml, {path: 'builtin:deadman', sources: [file]}]
notifiers:
  - {name: console, type: console}
  - {name: slack, type: slack, webhook_url: "https://hooks.example.org/x"}
  - {name: webhook, type: webhook, url: "http://127.0.0.1:1/"}
  - {name: alertmanager, type: alertmanager, urls: ["http://127.0.0.1:1"]}
  - {name: email, type: email, to: [a@example.org], from: b@example.org,
     smarthost: "smtp.example.org:587", tls_config: {}}
  - {name: pagerduty, type: pagerduty, routing_key: k}
route:
  receiver: console
  routes: [{matchers: ['a="b"']}]
inhibit_rules:
  - {source_matchers: ['a="b"'], target_matchers: ['a="c"']}
time_intervals:
  - name: night
    time_intervals: [{times: [{start_time: "00:00", end_time: "06:00"}]}]
actions:
  - {name: systemd, type: systemd, unit: web.service, limit: {count: 3, within: 1h}}
  - {name: signal, type: signal, pidfile: /run/app.pid, signal: HUP}
  - {name: command, type: command, argv: [/bin/true]}
  - {name: throttle, type: throttle, collector: file, pause: true}
  - {name: ban, type: ban, address: "{{ labels.ip }}", increment: {factor: 2}}
"""

EVERY_READER_RULES = """
groups:
  - name: every
    metrics:
      - {name: app_lines_total, type: counter, logs: {source: file}}
    rules:
      - {alert: Count, logs: {match: 'x (?P<ip>\\S+)'}, aggregate: count, over: 5m, by: [ip],
         threshold: "> 1", connection: {id: pid, tells: [ip]}}
      - {alert: Attempts, logs: {match: 'x (?P<ip>\\S+) (?P<peer>\\S+)'}, aggregate: count,
         over: 5m, by: [ip], threshold: "> 1", attempts: {id: pid, address: [peer]}}
      - {alert: Quantile, logs: {match: x}, aggregate: quantile, q: 0.9, field: pid, over: 5m,
         threshold: "> 1"}
      - {alert: Ratio, logs: {match: x}, aggregate: ratio, of: ['pid="1"'], over: 5m,
         threshold: "> 0.5"}
      - {alert: Absent, logs: {match: x}, aggregate: absent, over: 5m}
      - {alert: Spike, logs: {match: x}, aggregate: spike, factor: 3, over: 5m}
      - {alert: NewValue, logs: {match: x}, aggregate: new_value, field: pid, over: 5m}
      - {alert: Predict, metric: host_load1, aggregate: predict, ahead: 1h, threshold: "> 1"}
"""

EVERY_READER_TEST = """
rule_files: [rules.yaml]
tests:
  - input_series: [{series: host_load1, values: '1'}]
    input_logs: [{source: file, parser: syslog, entries: [{at: 0s, line: x}]}]
    alert_rule_test:
      - {eval_time: 1m, alertname: Count, exp_alerts: [{exp_labels: {}}]}
    promql_expr_test:
      - {eval_time: 1m, expr: app_lines_total, exp_samples: [{labels: app_lines_total, value: 1}]}
"""


def readme_section(heading: str, *, own: bool = False) -> str:
    """The README from the line `heading` (e.g. "### file") to the next heading of its level
    or above (`own`: to the next heading of any level, leaving its subsections out)."""
    text = README.read_text()
    level = len(heading.split()[0])
    start = text.index(f"\n{heading}\n") + 1
    end = re.search(rf"\n#{{1,{6 if own else level}}} ", text[start:])
    return text[start : start + end.start()] if end else text[start:]


def code_in(section: str) -> str:
    """What the section shows as code: ```blocks```, indented blocks and `spans`."""
    fenced = re.findall(r"```[a-z]*\n(.*?)```", section, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", section, flags=re.S)
    indented = re.findall(r"^    .*$", rest, re.M)
    # (a span opens with a run of backticks and closes with a run as long, as in Markdown)
    spans = [m.group(2) for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", rest, re.S)]
    return "\n".join([*fenced, *indented, *spans])


def sections_of(reader: str) -> tuple[str, ...]:
    """The README sections that describe the keys of the reader named `reader` (a MapReader's
    `what`)."""
    name = re.sub(r"\[\d+\]$", "", reader)
    if m := re.fullmatch(r"collector '(\w+)'", name):
        # (EVERY_READER_CONFIG names each after its type; `name` and `type` are told before)
        return f"### {m.group(1)}", "## Collectors"
    places = {
        ("config", "global", "server"): ("## Configuration",),
        ("parser", "multiline"): ("### file",),
        (
            "notifiers",
            "tls_config",
            "route",
            "routes",
            "inhibit_rules",
            "time_intervals",
            "times",
        ): ("## Notifications",),
        ("actions", "limit", "increment"): ("## Actions and privileges",),
        ("rule_files", "rule file", "rules", "logs", "connection", "attempts"): ("## Rules",),
        ("groups",): ("## Rules", "## Log-derived metrics"),
        ("metrics",): ("## Log-derived metrics",),
        ("test file", "input_series", "input_logs", "entries", "alert_rule_test"): (
            "### Rule tests: `alerter test FILE...`",
        ),
        ("tests", "exp_alerts", "promql_expr_test", "exp_samples"): (
            "### Rule tests: `alerter test FILE...`",
            "## Log-derived metrics",
        ),
    }
    for names, headings in places.items():
        if name in names:
            return headings
    raise AssertionError(f"reader {reader!r}: name the README section that describes its keys")


def test_every_key_a_config_reader_takes_is_named_in_its_readme_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that the config, a rule file or a rule test file accepts is shown as code
    (`key`, `key: ...` in an example) in the README's section about it, so that nothing
    alerter takes is left for a newcomer to find in the source."""
    asked: dict[str, set[str]] = {}
    done = MapReader.done

    def recording_done(self: MapReader, extra_known: tuple[str, ...] = ()) -> None:
        # (an unquoted YAML 1.1 `on:` key is read as True: the action reader asks for "True")
        asked.setdefault(self.what, set()).update(k for k in self.seen if k != "True")
        done(self, extra_known)

    monkeypatch.setattr(MapReader, "done", recording_done)
    (tmp_path / "config.yaml").write_text(EVERY_READER_CONFIG)
    (tmp_path / "rules.yaml").write_text(EVERY_READER_RULES)
    (tmp_path / "rules.test.yaml").write_text(EVERY_READER_TEST)
    load_config(str(tmp_path / "config.yaml"), env={})
    out = io.StringIO()
    cmd_test(Namespace(files=[str(tmp_path / "rules.test.yaml")]), out)
    assert "1 test:" in out.getvalue(), out.getvalue()  # read whole (whether it passes or not)

    missing = []
    for reader, keys in sorted(asked.items()):
        code = "\n".join(
            code_in(readme_section(h, own=h == "## Collectors")) for h in sections_of(reader)
        )
        missing += [
            f"{reader}: {key!r} (in {' or '.join(sections_of(reader))})"
            for key in sorted(keys)
            if not re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", code)
        ]
    assert not missing, "keys the README does not name where it describes them:\n" + "\n".join(
        missing
    )
