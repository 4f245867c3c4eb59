"""The daemon on fake parts, for tests/alerter/test_daemon_*.py: an engine that fires on "boom",
recording actions and dispatchers, collectors the test drives, and `Harness`, which runs the
real Daemon on them with its sd_notify socket."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerter.collectors.base import Sink
from alerter.config.load import Config, load_config
from alerter.core.events import LogBatch, LogEvent, LogLines, Sample
from alerter.rules.alert import Alert, Listing, Transition
from alerter.rules.enginehooks import EngineHooks
from alerter.rules.scan import Offload
from alerter.runtime.daemon import Daemon
from alerter.runtime.metrics import Metrics
from alerter.runtime.sdnotify import SystemdNotifier
from alerter.runtime.wiring import Parts


class FakeEngine:
    """Fires `Boom` on a line containing "boom"; counts lines; snapshot = the count."""

    def __init__(self) -> None:
        self.seen = 0
        self.samples: list[Sample] = []
        self.firing: dict[str, Alert] = {}
        self.log_metrics = None

    def process(self, batch: LogLines, now: float) -> list[Transition]:
        out = []
        for line in batch.lines:
            self.seen += 1
            if "boom" in line and "Boom" not in self.firing:
                a = Alert({"alertname": "Boom"}, {}, "firing", 1.0, now, fired_at=now)
                self.firing["Boom"] = a
                out.append(Transition(now, "inactive", a))
        return out

    def process_samples(self, samples: Iterable[Sample], now: float) -> None:
        got = list(samples)
        self.seen += len(got)
        self.samples.extend(got)

    def tick(self, now: float, timer: Callable[[], float] | None = None) -> list[Transition]:
        return []

    def alerts(self) -> list[Alert]:
        return list(self.firing.values())

    def listings(self) -> list[Listing]:
        return [Listing(a.alertname, a.actions, (a,), (a,)) for a in self.firing.values()]

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

    def handle(
        self,
        transitions: Sequence[Transition],
        now: float,
        alive: Callable[[], None] = lambda: None,
    ) -> None:
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

    def take_over(self, old: Any) -> None:
        pass

    def dirty(self) -> bool:
        return False

    def write(self, db: Any, now: float, alive: Callable[[], None]) -> None:
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

    def _engine(self, config: Config, hooks: EngineHooks, offload: Offload | None) -> FakeEngine:
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
