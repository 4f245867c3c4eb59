"""A config of three collectors (a syslog file, nginx's files, the journal) and two actions
(restart-unit, ban) that a test completes with its own `rule_files:`."""

from __future__ import annotations

import textwrap

from alerter.config.load import Config, parse_config

COLLECTORS = """
collectors:
  - {name: syslog, type: file, paths: [/var/log/syslog], parser: {type: syslog}}
  - {name: web, type: file, paths: [/var/log/nginx/access.log, /var/log/nginx/error.log]}
  - {name: journal, type: journald}
actions:
  - {name: restart-unit, type: systemd, unit: "{{ labels.unit }}"}
  - {name: ban, type: ban, address: "{{ labels.ip }}", duration: 10m}
"""


def load(rule_files: str) -> Config:
    return parse_config(COLLECTORS + textwrap.dedent(rule_files), "alerter.yaml", {})
