"""The daemon's wiring with fake parts: flow, acks, API, reload, sd_notify, shutdown."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry

from alerter.actions.workers import Job
from alerter.collectors.base import Sink
from alerter.config.load import load_config
from alerter.rules.alert import Alert, Transition
from alerter.rules.events import LogBatch, LogEvent, Sample
from alerter.runtime.daemon import Daemon
from alerter.runtime.metrics import Metrics
from alerter.runtime.sdnotify import SystemdNotifier
from alerter.runtime.wiring import Parts
from tests.conftest import wait_for


class FakeEngine:
    """Fires `Boom` on a line containing "boom"; counts lines; snapshot = the count."""

    def __init__(self) -> None:
        self.seen = 0
        self.samples: list[Sample] = []
        self.firing: dict[str, Alert] = {}
        self.log_metrics = None

    def process(self, batch: LogBatch, now: float) -> list[Transition]:
        out = []
        for e in batch:
            self.seen += 1
            if "boom" in e.line and "Boom" not in self.firing:
                a = Alert({"alertname": "Boom"}, {}, "firing", 1.0, now, fired_at=now)
                self.firing["Boom"] = a
                out.append(Transition(now, "inactive", a))
        return out

    def process_samples(self, samples: Sequence[Any], now: float) -> None:
        self.seen += len(samples)
        self.samples.extend(samples)

    def tick(self, now: float, timer: Callable[[], float] | None = None) -> list[Transition]:
        return []

    def alerts(self) -> list[Alert]:
        return list(self.firing.values())

    def rule_health(self) -> list[dict[str, Any]]:
        return [{"name": "fake", "rules": []}]

    def snapshot(self, lazy: bool = False) -> dict[str, Any]:
        return {"seen": self.seen}

    def restore(self, data: Mapping[str, Any], now: float) -> None:
        self.seen = int(data.get("seen", 0))

    def take_over(self, old: FakeEngine, now: float) -> None:
        self.restore(old.snapshot(), now)


class Recorder:
    def __init__(self) -> None:
        self.transitions: list[Transition] = []
        self.stopped = False

    def handle(self, transitions: Sequence[Transition], now: float) -> None:
        self.transitions.extend(transitions)

    def tick(self, *args: Any) -> None:
        pass

    def history(self, fingerprint: str | None = None) -> list[dict[str, Any]]:
        return []

    def notes(self, fingerprint: str) -> list[str]:
        return []

    def durable(self) -> list[Any]:
        return []

    def raised(self) -> set[str]:
        return set()

    def firing(self) -> list[Any]:
        return []

    def refresh(self, firing: Any) -> None:
        pass

    def dirty(self) -> bool:
        return False

    def write(self, db: Any, now: float) -> None:
        pass

    def written(self, ok: bool) -> None:
        pass

    def stop(self, wait: bool = True) -> None:
        self.stopped = True


class FakeCollector:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sink: Sink | None = None
        self.acked = 0
        self.clock: Any = None  # the clock it was built with

    def start(self, sink: Sink) -> None:
        self.sink = sink

    def emit(self, *lines: str) -> None:
        assert self.sink is not None
        batch = LogBatch.of_events(self.name, 0.0, [LogEvent(0.0, self.name, ln) for ln in lines])
        count = len(batch)
        self.sink.put_lines(batch, ack=lambda: self._ack(count))

    def emit_samples(self, *values: float) -> None:
        assert self.sink is not None
        self.sink.put_samples([Sample(0.0, self.name, "up", {}, v) for v in values])

    def _ack(self, n: int) -> None:
        self.acked += n

    def stop(self) -> None:
        self.sink = None


class Harness:
    def __init__(self, tmp: Path, server: str = "") -> None:
        self.path = tmp / "config.yaml"
        self.server = server
        self.write("")
        self.engines: list[FakeEngine] = []
        self.dispatchers: list[Recorder] = []
        self.collectors: dict[str, FakeCollector] = {}
        self.actions_args: list[tuple[Any, ...]] = []  # what each actions part was built with
        self.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_sock.bind(str(tmp / "notify.sock"))
        self.notify_sock.settimeout(5)
        sd_env = {"NOTIFY_SOCKET": str(tmp / "notify.sock"), "WATCHDOG_USEC": "200000"}
        parts = Parts(
            engine=self._engine,
            dispatcher=lambda *a: self._rec(self.dispatchers),
            actions=self._actions,
            collector=self._collector,
            routes=lambda *a: [],
        )
        self.metrics = Metrics(CollectorRegistry())
        self.daemon = Daemon(
            str(self.path),
            load_config(str(self.path)),
            parts=parts,
            notifier=SystemdNotifier(sd_env),
            metrics=self.metrics,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.exit_code: int | None = None

    def write(self, extra: str) -> None:
        self.path.write_text(
            f"global: {{state_dir: state}}\nserver: {{listen: '127.0.0.1:0'{self.server}}}\n"
            "collectors:\n  - {name: app, type: host}\n" + extra
        )

    def _engine(self, config: Any, hooks: Any, offload: Any = None) -> FakeEngine:
        e = FakeEngine()
        self.engines.append(e)
        return e

    def _actions(self, *args: Any) -> Recorder:
        self.actions_args.append(args)
        return Recorder()

    def _rec(self, into: list[Recorder]) -> Recorder:
        r = Recorder()
        into.append(r)
        return r

    def _collector(self, cfg: Any, positions: Any, stats: Any, clock: Any) -> FakeCollector:
        c = FakeCollector(cfg.name)
        c.clock = clock
        self.collectors[cfg.name] = c
        return c

    def _run(self) -> None:
        self.exit_code = self.daemon.run()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.daemon.server.port}{path}"

    def messages(self, until: Callable[[str], bool]) -> list[str]:
        got = []
        while True:
            msg = self.notify_sock.recv(4096).decode()
            got.append(msg)
            if until(msg):
                return got


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    h.thread.start()
    assert h.daemon.ready.wait(10)
    yield h
    h.daemon.request_stop()
    h.thread.join(10)
    h.notify_sock.close()


def test_ready_notification_carries_status(harness: Harness) -> None:
    msgs = harness.messages(lambda m: "READY=1" in m)
    assert "STATUS=1 collectors, 0 rule groups, 0 firing, 0 pending" in msgs[-1].splitlines()


def test_watchdog_is_pinged_from_the_main_loop(harness: Harness) -> None:
    assert harness.messages(lambda m: m == "WATCHDOG=1")[-1] == "WATCHDOG=1"


def test_events_reach_engine_then_ack_then_transitions_reach_dispatcher(harness: Harness) -> None:
    c = harness.collectors["app"]
    c.emit("hello", "boom")
    wait_for(lambda: c.acked == 2)
    assert harness.engines[0].seen == 2
    wait_for(lambda: harness.dispatchers[0].transitions)
    assert harness.dispatchers[0].transitions[0].alert.alertname == "Boom"
    assert (
        harness.metrics.registry.get_sample_value("alerter_events_total", {"collector": "app"}) == 2
    )
    lag = harness.metrics.registry.get_sample_value(
        "alerter_collector_lag_seconds", {"collector": "app"}
    )
    assert lag is not None and lag >= 0.0  # set from the batch's read time when it is processed


def test_collectors_are_built_with_the_daemon_s_clock(harness: Harness) -> None:
    """The clock the daemon polls collectors with is the one a collector that stamps samples
    on its own thread (prometheus) is given."""
    assert harness.collectors["app"].clock is harness.daemon.clock


def test_samples_reach_the_engine_through_their_own_door(harness: Harness) -> None:
    """A collector's samples go to `process_samples` (never to `process`, which takes log
    lines) and are counted as the collector's events, as its log lines are."""
    c, engine = harness.collectors["app"], harness.engines[0]
    c.emit("hello")
    c.emit_samples(1.0, 0.0, 1.0)
    c.emit("boom")
    wait_for(lambda: c.acked == 2 and engine.seen == 5)
    assert [s.value for s in engine.samples] == [1.0, 0.0, 1.0]
    wait_for(lambda: harness.dispatchers[0].transitions)  # "boom"
    assert (
        harness.metrics.registry.get_sample_value("alerter_events_total", {"collector": "app"}) == 5
    )


def test_a_turn_of_the_main_loop_ends_when_its_drain_budget_is_spent(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However full the bus, the loop comes back for its watchdog ping, timers, dispatch and
    checkpoint once a turn has spent DRAIN_BUDGET_SECONDS (0 here: one batch a turn; with the
    dispatch interval 0 too, the dispatcher is due at every turn, so it must get a turn between
    any two batches). Without the budget a 3M-line flood held the loop 23 s in one turn."""
    monkeypatch.setattr("alerter.runtime.pipeline.DRAIN_BUDGET_SECONDS", 0.0)
    monkeypatch.setattr("alerter.runtime.daemon.DISPATCH_TICK_SECONDS", 0.0)
    order: list[str] = []  # what the main loop did, in order: "batch", "dispatch"

    def dispatch_tick(now: float) -> None:
        if order and order[-1] != "dispatch":  # (an idle loop ticks again and again)
            order.append("dispatch")

    monkeypatch.setattr(harness.dispatchers[0], "tick", dispatch_tick)
    engine = harness.engines[0]
    held, release = threading.Event(), threading.Event()
    process = engine.process

    def gated(events: Sequence[Any], now: float) -> list[Transition]:
        order.append("batch")
        if order.count("batch") == 1:
            held.set()
            release.wait(10)
        return process(events, now)

    monkeypatch.setattr(engine, "process", gated)
    c = harness.collectors["app"]
    c.emit("first")
    assert held.wait(10)
    for i in range(20):  # queued while the engine is busy with the first
        c.emit(f"line {i}")
    release.set()
    wait_for(lambda: c.acked == 21)
    seen = list(order)
    assert seen.count("batch") == 21
    back_to_back = [i for i in range(len(seen) - 1) if seen[i] == seen[i + 1] == "batch"]
    assert back_to_back == [], seen  # each batch in a turn of its own


def test_health_ready_metrics_endpoints(harness: Harness) -> None:
    assert requests.get(harness.url("/-/healthy"), timeout=5).status_code == 200
    assert requests.get(harness.url("/-/ready"), timeout=5).status_code == 200
    body = requests.get(harness.url("/metrics"), timeout=5).text
    assert "alerter_config_last_reload_successful 1.0" in body
    assert 'alerter_build_info{version="' in body
    assert requests.get(harness.url("/nope"), timeout=5).status_code == 404
    assert requests.get(harness.url("/-/reload"), timeout=5).status_code == 405


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


def test_stop_drains_bus_saves_snapshot_and_exits_zero(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.thread.start()
    assert h.daemon.ready.wait(10)
    h.collectors["app"].emit(*[f"line {i}" for i in range(100)])
    h.daemon.request_stop()
    h.thread.join(10)
    assert h.exit_code == 0
    assert h.collectors["app"].acked == 100
    msgs = h.messages(lambda m: m == "STOPPING=1")
    assert msgs[-1] == "STOPPING=1"
    from alerter.store.db import StateStore
    from alerter.store.snapshots import read_snapshot

    assert read_snapshot(StateStore(tmp_path / "state")) == {"seen": 100}


def test_state_survives_restart(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.thread.start()
    assert h.daemon.ready.wait(10)
    h.collectors["app"].emit("x", "y")
    wait_for(lambda: h.collectors["app"].acked == 2)
    h.daemon.request_stop()
    h.thread.join(10)
    h.notify_sock.close()
    (tmp_path / "notify.sock").unlink()
    h2 = Harness(tmp_path)
    assert h2.daemon.ready.is_set() is False
    h2.thread.start()
    assert h2.daemon.ready.wait(10)
    assert h2.engines[0].seen == 2
    h2.daemon.request_stop()
    h2.thread.join(10)


def test_mutating_endpoints_need_the_token(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    h = Harness(tmp_path, server=f", token_file: {tmp_path}/token")
    h.thread.start()
    assert h.daemon.ready.wait(10)
    try:
        assert requests.post(h.url("/-/reload"), timeout=30).status_code == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert requests.post(h.url("/-/reload"), headers=wrong, timeout=30).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert requests.post(h.url("/-/reload"), headers=right, timeout=30).status_code == 200
        assert requests.get(h.url("/-/healthy"), timeout=5).status_code == 200  # reads stay open
    finally:
        h.daemon.request_stop()
        h.thread.join(10)


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
