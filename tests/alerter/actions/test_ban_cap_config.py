"""`global.max_bans`: 10,000 bans in force by default, validated, and the daemon's wiring
(build_action_runner) takes the configured cap, not the executor's own default."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alerter.actions import build_action_runner
from alerter.config.load import parse_config
from alerter.errors import ConfigError
from alerter.runtime.metrics import Metrics
from alerter.store.db import StateStore
from alerter.testing import FakeFirewall
from tests.alerter.actions.conftest import T0, Harness, alert, fire

BAN = """
actions:
  - name: ban
    type: ban
    address: "{{ labels.ip }}"
"""


def test_default_cap_is_ten_thousand(tmp_path: Path) -> None:
    cfg = parse_config(f"global: {{state_dir: {tmp_path}}}\n" + BAN, "c.yaml", {})
    assert cfg.global_.max_bans == 10_000


@pytest.mark.parametrize("value", ["0", "-1", "lots"])
def test_a_cap_below_one_or_not_a_number_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="max_bans"):
        parse_config(f"global: {{state_dir: {tmp_path}, max_bans: {value}}}\n" + BAN, "c.yaml", {})


def test_the_daemons_runner_refuses_bans_over_the_configured_cap(
    harness: Harness, tmp_path: Path
) -> None:
    text = f"global: {{state_dir: {tmp_path}/st, max_bans: 2, actions_per_minute: 100}}\n" + BAN
    config = parse_config(text, str(tmp_path / "c.yaml"), {})
    fw = FakeFirewall(harness.clock)
    store = StateStore(tmp_path / "st")
    runner = build_action_runner(
        config,
        store,
        Metrics(CollectorRegistry()),
        harness.clock,
        {},
        lambda t: None,
        firewall=fw,
    )
    try:
        alerts = [alert(["ban"], ip=f"203.0.113.{i}") for i in (1, 2, 3)]
        runner.handle([fire(a, T0) for a in alerts], T0)
        assert runner.wait_idle(10)
        outcomes = sorted(r["outcome"] for r in runner.history())
        assert outcomes == ["ok", "ok", "refused_cap"], outcomes
        assert len(fw.banned()) == 2
    finally:
        runner.stop()
        store.close()
