"""Reloading the daemon on fake parts: a config that does not load keeps the old one running, a
good one swaps the parts and keeps the engine's state and the action workers, what only a restart
applies, alerts of rules gone resolved, listen and token together, --dry-run kept."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests
from prometheus_client import CollectorRegistry

from alerter.actions.workers import Job
from alerter.config.load import load_config
from alerter.runtime.daemon import Daemon
from alerter.runtime.metrics import Metrics
from alerter.runtime.sdnotify import SystemdNotifier
from tests.alerter.daemon_fakes import Harness
from tests.conftest import wait_for


def test_bad_reload_keeps_old_config_running(harness: Harness) -> None:
    harness.collectors["app"].emit("one")
    wait_for(lambda: harness.engines[0].seen == 1)
    harness.path.write_text("global: {evaluation_interval: never}\n")
    r = requests.post(harness.url("/-/reload"), timeout=30)
    assert r.status_code == 500
    assert "invalid duration 'never'" in r.text
    assert harness.metrics.registry.get_sample_value("alerter_config_last_reload_successful") == 0
    assert len(harness.engines) == 1
    msgs = harness.messages(lambda m: "reload FAILED" in m)
    assert "RELOADING=1" in "".join(msgs)
    harness.collectors["app"].emit("two")
    wait_for(lambda: harness.engines[0].seen == 2)


def test_a_reload_of_a_file_not_in_utf8_or_one_that_cannot_load_keeps_the_old_config(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.path.write_bytes(b"global: {evaluation_interval: 1s}\n# caf\xe9\n")
    r = requests.post(harness.url("/-/reload"), timeout=30)
    assert r.status_code == 500
    assert "config.yaml:2:6: not UTF-8 (byte 0xe9): save the file as UTF-8" in r.text

    def broken() -> None:
        raise RuntimeError("a fault in the loader")

    monkeypatch.setattr(harness.daemon, "load", broken)
    r = requests.post(harness.url("/-/reload"), timeout=30)
    assert r.status_code == 500 and "a fault in the loader" in r.text
    assert len(harness.engines) == 1
    harness.collectors["app"].emit("still here")
    wait_for(lambda: harness.engines[0].seen == 1)


def test_a_reload_that_changes_the_state_dir_says_it_applies_at_restart(harness: Harness) -> None:
    harness.path.write_text(harness.path.read_text().replace("state_dir: state", "state_dir: s2"))
    r = requests.post(harness.url("/-/reload"), timeout=30)
    assert r.status_code == 200
    assert r.text.splitlines() == [
        "config reloaded",
        f"note: global.state_dir changed to {harness.path.parent / 's2'}: the state stays in"
        f" {harness.path.parent / 'state'} until alerter restarts",
    ]


def test_good_reload_swaps_parts_and_keeps_engine_state(harness: Harness) -> None:
    harness.collectors["app"].emit("a", "b", "c")
    wait_for(lambda: harness.collectors["app"].acked == 3)
    harness.write("  - {name: other, type: host}\n")
    assert requests.post(harness.url("/-/reload"), timeout=30).status_code == 200
    assert len(harness.engines) == 2
    assert harness.engines[1].seen == 3  # state carried over
    assert set(harness.collectors) == {"app", "other"}
    assert harness.dispatchers[0].stopped
    msgs = harness.messages(lambda m: "READY=1" in m and "2 collectors" in m)
    reloading = [m for m in msgs if m.startswith("RELOADING=1")]
    assert reloading and reloading[0].splitlines()[1].startswith("MONOTONIC_USEC=")
    assert harness.metrics.registry.get_sample_value("alerter_config_last_reload_successful") == 1


def test_each_actions_part_gets_the_daemon_s_workers_which_stop_at_shutdown(
    harness: Harness,
) -> None:
    """A reload's runner shares the workers of the one it replaces, whose runs may still go on
    (so runs on one target never overlap); the daemon stops them, at shutdown only."""
    harness.write("  - {name: other, type: host}\n")
    assert requests.post(harness.url("/-/reload"), timeout=30).status_code == 200
    first, second = harness.actions_args
    assert first[-1] is second[-1] is harness.daemon.action_workers
    assert first[-2] is second[-2] is harness.daemon.unfinished_runs
    assert harness.daemon.action_workers.submit("k", Job(lambda: None))  # open after a reload
    harness.daemon.request_stop()
    harness.thread.join(10)
    assert not harness.daemon.action_workers.submit("k", Job(lambda: None))


def test_sighup_path_reload_via_request_reload(harness: Harness) -> None:
    harness.write("  - {name: third, type: host}\n")
    harness.daemon.request_reload()
    wait_for(lambda: "third" in harness.collectors)


def test_reload_resolves_alerts_whose_rule_is_gone(harness: Harness) -> None:
    harness.collectors["app"].emit("boom")
    wait_for(lambda: harness.dispatchers[0].transitions)
    harness.write(
        ""
    )  # the fake engine's snapshot does not carry alerts: as if the rule was removed
    assert requests.post(harness.url("/-/reload"), timeout=30).status_code == 200
    wait_for(lambda: harness.dispatchers[1].transitions)
    t = harness.dispatchers[1].transitions[0]
    assert (t.previous, t.state, t.alert.alertname) == ("firing", "resolved", "Boom")
    assert t.alert.resolved_at is not None


def test_dry_run_flag_wins_over_the_config_and_survives_reloads(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("global: {state_dir: state, dry_run: false}\nserver: {listen: '127.0.0.1:0'}\n")
    d = Daemon(
        str(cfg),
        load_config(str(cfg)),
        dry_run=True,
        notifier=SystemdNotifier({}),
        metrics=Metrics(CollectorRegistry()),
    )
    try:
        assert d.status()["dry_run"] is True
        assert d.load().global_.dry_run is True  # what a reload would swap in
    finally:
        d.server.stop()
        d.store.close()


def test_reload_applies_listen_and_token_together_or_refuses_both(harness: Harness) -> None:
    (harness.path.parent / "token").write_text("s3cret\n")
    old_port = harness.daemon.server.port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        new_port = s.getsockname()[1]
    harness.server = f", token_file: {harness.path.parent}/token"
    harness.write("")
    harness.path.write_text(harness.path.read_text().replace(":0'", f":{new_port}'"))
    assert requests.post(f"http://127.0.0.1:{old_port}/-/reload", timeout=30).status_code == 200
    assert harness.daemon.server.port == new_port
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{old_port}/-/healthy", timeout=5)
    new = f"http://127.0.0.1:{new_port}"
    assert requests.post(f"{new}/-/reload", timeout=30).status_code == 401  # token applied too
    right = {"Authorization": "Bearer s3cret"}

    # An address in use: the reload is refused, the old socket and token stay.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        harness.server = ""  # and no token any more: must not take effect
        harness.write("")
        harness.path.write_text(
            harness.path.read_text().replace(":0'", f":{busy.getsockname()[1]}'")
        )
        r = requests.post(f"{new}/-/reload", headers=right, timeout=30)
        assert r.status_code == 500
        assert str(busy.getsockname()[1]) in r.text
    assert requests.post(f"{new}/-/reload", timeout=30).status_code == 401
    assert harness.metrics.registry.get_sample_value("alerter_config_last_reload_successful") == 0
