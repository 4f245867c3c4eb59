"""A route tree changed under firing alerts (another receiver, another `group_by`), by a reload
or while the daemon was stopped: the alerts go through the new tree, as Alertmanager sends
the alerts it holds through its new routes on a reload. They were dropped with their old
groups: the new receiver never heard of them, nor of their resolve, and `/api/v2/alerts`
(amtool, karma) no longer listed them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from alerter.testing import running_daemon
from tests.alerter.api.daemon_fixture import app_errors_rules
from tests.conftest import HTTPReceiver, receiving

pytestmark = pytest.mark.integration


def write_config(tmp: Path, receivers: dict[str, str], receiver: str, group_by: str) -> Path:
    (tmp / "rules.yaml").write_text(app_errors_rules(1))
    (tmp / "app.log").touch()
    notifiers = "".join(
        f'  - {{name: {name}, type: webhook, url: "{url}/{name}"}}\n'
        for name, url in receivers.items()
    )
    cfg = tmp / "config.yaml"
    cfg.write_text(
        f"""
global: {{state_dir: "{tmp / "state"}"}}
server: {{listen: "127.0.0.1:0"}}
collectors:
  - {{name: app, type: file, paths: ["{tmp}/app.log"], start_at: beginning, parser: {{type: none}}}}
rule_files: [rules.yaml]
notifiers:
{notifiers}
route: {{receiver: {receiver}, group_by: [{group_by}], group_wait: 0s, group_interval: 1s}}
"""
    )
    return cfg


@pytest.fixture
def two() -> Iterator[tuple[HTTPReceiver, HTTPReceiver]]:
    with receiving() as a, receiving() as b:
        yield a, b


def _codes(received: HTTPReceiver, i: int) -> list[tuple[str, str]]:
    body = received.requests[i].json()
    return sorted((x["labels"]["code"], x["status"]) for x in body["alerts"])


def test_a_reload_that_routes_to_another_receiver_tells_it_of_the_firing_alerts(
    tmp_path: Path, two: tuple[HTTPReceiver, HTTPReceiver]
) -> None:
    a, b = two
    urls = {"a": a.url, "b": b.url}
    cfg = write_config(tmp_path, urls, "a", "alertname")
    with running_daemon(cfg) as d:
        with (tmp_path / "app.log").open("a") as f:
            f.write("ERROR 500 one\nERROR 404 two\n")
        a.wait(1)
        write_config(tmp_path, urls, "b", "alertname")
        assert d.reload()
        b.wait(1)
        assert _codes(b, 0) == [("404", "firing"), ("500", "firing")]
        port = d.server.port
        held = requests.get(f"http://127.0.0.1:{port}/api/v2/alerts", timeout=5).json()
        assert sorted((x["labels"]["code"], x["receivers"]) for x in held) == [
            ("404", [{"name": "b"}]),
            ("500", [{"name": "b"}]),
        ]


def test_a_group_by_changed_while_stopped_groups_the_firing_alerts_anew(
    tmp_path: Path, http_receiver: HTTPReceiver
) -> None:
    urls = {"hook": http_receiver.url}
    cfg = write_config(tmp_path, urls, "hook", "code")
    with running_daemon(cfg):
        with (tmp_path / "app.log").open("a") as f:
            f.write("ERROR 500 one\nERROR 404 two\n")
        http_receiver.wait(2)
    write_config(tmp_path, urls, "hook", "alertname")
    with running_daemon(cfg):
        http_receiver.wait(3)
        assert _codes(http_receiver, 2) == [("404", "firing"), ("500", "firing")]
