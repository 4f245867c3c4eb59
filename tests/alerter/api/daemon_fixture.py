"""An in-process daemon with its real parts, a file collector, one log rule, a webhook receiver
and an API token: what the real amtool and the Prometheus comparison talk to."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from alerter.runtime.daemon import Daemon
from alerter.testing import running_daemon

TOKEN = "amtool-test-token"


def app_errors_rules(threshold: int) -> str:
    """One rule: `AppErrors` fires, by `code`, once `threshold` lines of `app` in 5m say
    `ERROR <code>`."""
    return APP_ERRORS.replace("THRESHOLD", str(threshold))


APP_ERRORS = """
groups:
  - name: app
    interval: 1s
    rules:
      - alert: AppErrors
        logs: {source: app, match: 'ERROR (?P<code>\\d+)'}
        aggregate: count
        over: 5m
        by: [code]
        threshold: ">= THRESHOLD"
        labels: {severity: warning}
        annotations: {summary: "{{ value }} errors with code {{ labels.code }}"}
"""
RULES = app_errors_rules(1)


@dataclass
class Running:
    daemon: Daemon
    url: str
    log: Path
    token_file: Path

    def write(self, *lines: str) -> None:
        with self.log.open("a") as f:
            f.write("".join(line + "\n" for line in lines))


def start(tmp: Path, receiver_url: str, rules: str = RULES) -> Generator[Running, None, None]:
    (tmp / "rules.yaml").write_text(rules)
    (tmp / "token").write_text(TOKEN + "\n")
    (tmp / "app.log").write_text("")
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: state, labels: {{env: test}}, external_url: "http://alerter.test:9753"}}
server: {{listen: "127.0.0.1:0", token_file: token}}
collectors:
  - {{name: app, type: file, paths: ["{tmp}/app.log"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
  - {{name: hook, type: webhook, url: "{receiver_url}/hook"}}
route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
"""
    )
    with running_daemon(cfg) as d:
        yield Running(d, f"http://127.0.0.1:{d.server.port}", tmp / "app.log", tmp / "token")
