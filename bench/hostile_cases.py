"""The cases of bench/hostile.py: each applies one hostile input of issue 11 to a running daemon
and returns (its own check held, a note with what it did and saw). Not a benchmark on its own."""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
from hostile_ctx import EVIL_RULES, GOAL_GAP, LAUGHS, NESTED, Ctx, silence

from alerter.harness.hostile import MIB, Harness, metric, wait_for
from alerter.harness.servers import Handler, RawServer, endless_chunked, hung, ok, too_many, trickle

# --- regexes -------------------------------------------------------------------------------


def api_filter(c: Ctx) -> tuple[bool, str]:
    n = c.seed_alerts(3)
    t = time.monotonic()
    r = c.h.api(
        "GET",
        "/api/v2/alerts",
        token=False,
        params={"filter": f'alertname=~"{NESTED}"'},
        timeout=120,
    )
    took = time.monotonic() - t
    return took < GOAL_GAP, (
        f'GET /api/v2/alerts?filter=alertname=~"{NESTED}" (no token) over {n} alerts: '
        f"HTTP {r.status_code} in {took:.3f} s"
    )


def silence_regex(c: Ctx) -> tuple[bool, str]:
    n = c.seed_alerts(3)
    t = time.monotonic()
    m = {"name": "alertname", "value": NESTED, "isRegex": True, "isEqual": True}
    r = c.h.api("POST", "/api/v2/silences", json=silence([m]), timeout=120)
    took = time.monotonic() - t
    ready = c.h.restart()
    kept = len(c.h.api("GET", "/api/v2/silences").json())
    return took < GOAL_GAP and r.status_code in (200, 400), (
        f"POST a silence alertname=~NESTED over {n} alerts: HTTP {r.status_code} in {took:.3f} s; "
        f"restarted on that state: ready in {ready:.1f} s with {kept} silence(s)"
    )


def kernel_lines(c: Ctx) -> tuple[bool, str]:
    prefix = f"{time.strftime('%b %e %H:%M:%S')} hostile kernel: "
    c.h.syslog.write((prefix + "a" * 60_000 + "\n") * 2, 2)
    return True, "two 60,000-byte runs of 'a' (no space, no '[') into the log builtin:kernel reads"


def user_rule_regex(c: Ctx) -> tuple[bool, str]:
    (c.h.d / "evil.yaml").write_text(EVIL_RULES)
    text = c.h.config_text(extra_rule_files=", evil.yaml")
    (c.h.d / "check.yaml").write_text(text)
    rc, took, said = c.check(c.h.d / "check.yaml")
    note = f"rule match '(a+)+$': alerter check exit {rc} in {took:.1f} s ({said or 'no output'})"
    if rc == 0:
        loaded, secs, _ = c.h.reload(text)
        note += f"; loaded by SIGHUP: {loaded} in {secs:.1f} s"
    c.lines(["a" * 28 + "!"] * 10)  # 29-byte messages, the issue's
    fired = c.h.value("alerter_events_total", collector="syslog")
    return True, note + f"; 10 x the 29-byte message written ({fired:.0f} events counted so far)"


def multiline_regex(c: Ctx) -> tuple[bool, str]:
    """Not in the issue's list: the same pattern as a collector's multiline.start."""
    text = c.h.config_text(multiline_start="(a+)+$")
    (c.h.d / "check.yaml").write_text(text)
    rc, took, said = c.check(c.h.d / "check.yaml")
    note = (
        f"multiline.start '(a+)+$': alerter check exit {rc} in {took:.1f} s ({said or 'no output'})"
    )
    if rc != 0:
        return True, note + "; refused, not loaded"
    loaded, secs, _ = c.h.reload(text)
    run = int(c.size(24, 28))
    c.h.app.write(f"event begins\n{'a' * run}!\n", 2)
    return (
        True,
        note
        + f"; loaded by SIGHUP: {loaded} in {secs:.1f} s; then a line and {run + 1} bytes of 'a..a!'",
    )


# --- HTTP API ------------------------------------------------------------------------------


def content_length(c: Ctx) -> tuple[bool, str]:
    total = int(c.size(16, 64)) * MIB
    s = socket.create_connection(("127.0.0.1", c.h.port), timeout=10)
    c.closers.append(s.close)
    s.sendall(
        b"POST /api/v2/silences HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + Harness.TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: -1\r\n\r\n"
    )
    sent, chunk, why = 0, b"x" * MIB, "all sent"
    try:
        while sent < total:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError as e:
        why = f"stopped: {e.strerror or type(e).__name__}"
    try:
        answer = s.recv(200).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as e:
        answer = f"no answer ({e.strerror or type(e).__name__})"
    return answer.startswith("HTTP/1.1 4"), (
        f"Content-Length: -1 and {total // MIB} MiB streamed (issue: 600 MiB): "
        f"{sent // MIB} MiB taken ({why}); answer {answer!r}"
    )


def half_open(c: Ctx) -> tuple[bool, str]:
    n, hold = 1500, c.size(8, 25)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", c.h.port))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE)
    c.closers.extend(s.close for s in socks)
    sent, deadline = 0, time.monotonic() + 10
    while sent < n and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            sel.unregister(sock)
            with contextlib.suppress(OSError):
                sock.send(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the end
                sent += 1
    sel.close()
    probes, slowest, answered = 0, 0.0, 0
    end, rotated = time.monotonic() + hold, False
    while time.monotonic() < end:
        probes += 1
        t = time.monotonic()
        with contextlib.suppress(requests.RequestException):
            answered += requests.get(f"{c.h.url}/metrics", timeout=5).status_code == 200
        slowest = max(slowest, time.monotonic() - t)
        if not rotated and time.monotonic() > end - hold / 2:
            c.h.syslog.rotate()  # the file collector must open the new file meanwhile
            rotated = True
        time.sleep(0.5)
    closed = 0
    for s in socks:
        try:
            closed += s.recv(4096, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return answered == probes, (
        f"{n} connections sent half a request ({sent} got that far), held {hold:.0f} s: /metrics "
        f"answered {answered}/{probes} probes (slowest {slowest:.2f} s); daemon fds at most "
        f"{c.h.sampler.peak_fds} (limit 1024); {closed} closed by the daemon; log rotated meanwhile"
    )


# --- notifiers ----------------------------------------------------------------------------


def receiver_case(what: str, limit: float) -> Callable[[Ctx], tuple[bool, str]]:
    """A webhook receiver that misbehaves: no connection may last past `limit` seconds."""

    def run(c: Ctx) -> tuple[bool, str]:
        c.seed_alerts(1, prefix="hook")
        wait_for(lambda: c.hook.stats.calls >= 1, 30)
        time.sleep(c.size(7, 14))  # several deadlines long
        s = c.hook.stats
        longest = s.longest()
        return longest < limit, (
            f"{what}: {s.calls} calls, the receiver sent {s.sent / MIB:.2f} MiB, longest "
            f"connection {longest:.1f} s (timeout 5s); {c.outcomes()}"
        )

    return run


def retry_after(c: Ctx) -> tuple[bool, str]:
    c.seed_alerts(1, prefix="hook")
    wait_for(lambda: c.hook.stats.calls >= 1, 30)
    time.sleep(c.size(3, 6))
    note = c.outcomes()
    dropped = c.h.value("alerter_notifications_total", notifier="hook", outcome="dropped")
    return dropped == 0, f"429 with Retry-After: 999999: {c.hook.stats.calls} calls; {note}"


def reload_stuck(c: Ctx) -> tuple[bool, str]:
    """Not a separate line of the issue's list: 'Reload waits 8-20 s on the main loop for a
    stuck notifier thread'. The webhook (timeout 60s) is in a trickled answer at the SIGHUP."""
    c.seed_alerts(1, prefix="hook")
    wait_for(lambda: c.hook.stats.calls >= 1, 30)
    time.sleep(1.0)
    loaded, took, _ = c.h.reload()
    return loaded and took < GOAL_GAP, (
        f"SIGHUP while the webhook (timeout 60s) reads a trickled answer: reloaded {loaded} "
        f"in {took:.2f} s"
    )


# --- keys, silences, scrapes, big events ---------------------------------------------------


def churn(pack: bool) -> Callable[[Ctx], tuple[bool, str]]:
    """Distinct keys at full speed: SessionFlapping (max_keys 1000), or the issue's own input,
    failed logins from 3M addresses through builtin:sshd (SSHBruteForce, max_keys 100000)."""
    alertname, tag = ("SSHBruteForce", "sshd[999]") if pack else ("SessionFlapping", "app[4242]")

    def message(j: int) -> str:
        if pack:
            return f"Failed password for root from 10.{j >> 16 & 255}.{j >> 8 & 255}.{j & 255} port 22 ssh2"
        return f"session key=c{j}"

    def run(c: Ctx) -> tuple[bool, str]:
        n, step = int(c.size(300_000, 3_000_000 if pack else 1_000_000)), 50_000
        before = c.h.value("alerter_rule_keys_evicted_total", alertname=alertname)
        t = time.monotonic()
        for i in range(0, n, step):
            c.lines([message(j) for j in range(i, min(n, i + step))], tag)
        wrote = time.monotonic() - t
        caught = wait_for(lambda: c.h.behind() <= 0, 300)
        took = time.monotonic() - t
        gone = c.h.value("alerter_rule_keys_evicted_total", alertname=alertname) - before
        return bool(caught), (
            f"{n:,} distinct keys for {alertname} (max_keys {100_000 if pack else 1000:,}) "
            f"written in {wrote:.1f} s ({n / wrote:,.0f} lines/s), counted in {took:.1f} s "
            f"({n / took:,.0f} lines/s); {gone:,.0f} keys evicted (counted)"
        )

    return run


def storm_servers(d: Path) -> list[RawServer]:
    return [RawServer(ok, "/hook"), RawServer(ok, "/hook")]


def storm_config(servers: list[RawServer]) -> dict[str, str]:
    """Three webhooks, and a route that groups the storm's alerts by their key: an aggregation
    group per alert and receiver (README "Hostile input": the known cost)."""
    hooks = [
        f'  - {{name: hook{i}, type: webhook, url: "{s.url}", timeout: 5s, max_age: 1h}}'
        for i, s in enumerate(servers, 2)
    ]
    return {
        "extra_notifiers": "\n".join(hooks),
        "route": "{receiver: hook, group_by: [key], group_wait: 0s, group_interval: 1s,"
        " repeat_interval: 1h, routes: [{receiver: hook, continue: true},"
        " {receiver: hook2, continue: true}, {receiver: hook3}]}",
    }


def storm_groups(c: Ctx) -> tuple[bool, str]:
    """An alert for each of n distinct keys (StormKey), each in an aggregation group of its own
    for each of three receivers: n x 3 groups and notifications."""
    n, step = int(c.size(100_000, 200_000)), 50_000
    t = time.monotonic()
    for i in range(0, n, step):
        c.lines([f"storm key=k{j}" for j in range(i, min(n, i + step))])
    caught = wait_for(lambda: c.h.behind() <= 0, 600)
    took = time.monotonic() - t
    queued = c.h.value("alerter_notification_queue_length")
    sent = sum(s.stats.calls for s in (c.hook, *c.extra))
    return bool(caught), (
        f"{n:,} alerts x 3 receivers, a group each: counted in {took:.1f} s; "
        f"{sent:,} webhooks sent by then, {queued:,.0f} queued"
    )


def alerts_silences(regex: bool) -> Callable[[Ctx], tuple[bool, str]]:
    def run(c: Ctx) -> tuple[bool, str]:
        n_sil, n_alerts = int(c.size(1000, 5000)), 2000
        t = time.monotonic()
        for i in range(n_sil):
            v = f"k{i + 1000}"  # k1000 up: half the alerts are silenced
            m = {"name": "key", "value": f"{v}|{v}-.*" if regex else v, "isRegex": regex}
            c.h.api("POST", "/api/v2/silences", json=silence([m])).raise_for_status()
        posted = time.monotonic() - t
        t = time.monotonic()
        c.lines([f"request failed key=k{i}" for i in range(n_alerts)])
        fired = wait_for(lambda: (f := c.firing()) >= n_alerts and f, 120) or 0
        took = time.monotonic() - t
        time.sleep(c.size(2, 4))  # group flushes: each alert matched against the silences
        t = time.monotonic()
        try:
            views = c.h.api("GET", "/api/v2/alerts", timeout=180).json()
            listed = f"{sum(bool(a['status']['silencedBy']) for a in views)} silenced"
        except requests.RequestException as e:
            views, listed = [], f"no answer ({type(e).__name__})"
        listing = time.monotonic() - t
        kind = "regex" if regex else "equality"
        return fired >= n_alerts and bool(views) and listing < GOAL_GAP, (
            f"{n_sil} {kind} silences POSTed in {posted:.1f} s, then {n_alerts} alerts: "
            f"{fired} firing after {took:.1f} s; GET /api/v2/alerts {listing:.1f} s: {listed}"
        )

    return run


def hung_targets(d: Path) -> list[RawServer]:
    return [RawServer(hung, "/")]


def hung_config(servers: list[RawServer]) -> dict[str, str]:
    base = servers[0].url
    entries = "".join(
        f'  - {{name: hung{i}, type: prometheus, url: "{base}t{i}", interval: 2s, timeout: 1s}}\n'
        for i in range(1, 9)
    )
    return {"extra_collectors": entries}


def scrape_hung(c: Ctx) -> tuple[bool, str]:
    def counts() -> tuple[float, float]:
        text = c.h.metrics()
        scrape = metric(text, "alerter_events_total", collector="scrape")
        return scrape, metric(text, "alerter_events_total", collector="host")

    s0, h0 = counts()
    time.sleep(c.size(6, 12))
    s1, h1 = counts()
    ups = {c.h.value("alerter_collector_up", collector=f"hung{i}") for i in range(1, 9)}
    return s1 > s0 and h1 > h0 and ups == {0.0}, (
        f"8 targets that never answer (every 2s, timeout 1s), {c.extra[0].stats.calls} "
        f"connections to them: healthy target +{s1 - s0:.0f} samples, host +{h1 - h0:.0f} "
        f"samples meanwhile; hung targets up = {sorted(ups)}"
    )


def multiline_big(c: Ctx) -> tuple[bool, str]:
    total = int(c.size(16, 64)) * MIB
    block = (b"  at com.example.Frame.call(" + b"x" * 996 + b")\n") * 1024  # 1 MiB
    c.h.app.write(b"ERROR one huge event begins\n", 1)
    for _ in range(total // len(block)):
        c.h.app.write(block, 1024)
    c.h.app.write(b"INFO the next event\n", 1)

    def done() -> bool:
        text = c.h.metrics()
        cut = metric(text, "alerter_events_dropped_total", collector="app", reason="too_long")
        return cut >= 1 and metric(text, "alerter_events_total", collector="app") >= 1

    ok = wait_for(done, 120)
    cut = c.h.value("alerter_events_dropped_total", collector="app", reason="too_long")
    return bool(ok), (
        f"one multiline event of {total // MIB} MiB in 1 KiB lines (issue: 270 MB): "
        f"cut at max_line_bytes (too_long {cut:.0f})"
    )


def bus_flood(c: Ctx) -> tuple[bool, str]:
    total, step = int(c.size(50, 200)) * MIB, 40_000
    pad = "y" * 60
    t, written, n = time.monotonic(), 0, 0
    while written < total:
        written += c.lines([f"flood n={n + j} {pad}" for j in range(step)])
        n += step
    wrote = time.monotonic() - t
    caught = wait_for(lambda: c.h.behind() <= 0, 300)
    took = time.monotonic() - t
    return bool(caught), (
        f"{written / MIB:.0f} MB ({n:,} lines) written in {wrote:.1f} s, all counted after "
        f"{took:.1f} s ({n / took:,.0f} lines/s)"
    )


def billion_laughs(c: Ctx) -> tuple[bool, str]:
    bomb = c.h.d / "bomb.yaml"
    bomb.write_text(LAUGHS)
    rc, took, said = c.check(bomb)
    good = c.h.cfg_path.read_text()
    loaded, secs, status = c.h.reload(LAUGHS)
    collectors = c.h.api("GET", "/api/v1/status").json()["data"]["collectors"]
    back, secs2, _ = c.h.reload(good)
    return rc == 1 and not loaded and back, (
        f"{len(LAUGHS.encode())}-byte file: alerter check exit {rc} in {took:.1f} s ({said[-60:]!r}); "
        f"SIGHUP: refused in {secs:.2f} s ({status[:60]!r}...), kept {len(collectors)} "
        f"collectors; the good config taken again in {secs2:.2f} s"
    )


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[Ctx], tuple[bool, str]]
    hook: Handler | None = None
    servers: Callable[[Path], list[RawServer]] | None = None
    config: Callable[[list[RawServer]], dict[str, str]] | None = None
    # Memory the config allows on top of the bench's goal: keys a rule may hold by its
    # `max_keys` (the cost of a key is measured, not assumed: KEY_BYTES, README "Rules").
    held_keys: int = 0


CASES = [
    Case("api-filter-regex", api_filter),
    Case("silence-regex", silence_regex),
    Case("kernel-60k-lines", kernel_lines),
    Case("user-rule-(a+)+$", user_rule_regex),
    Case("multiline-start-(a+)+$", multiline_regex),
    Case("content-length--1", content_length),
    Case("half-open-x1500", half_open),
    Case("hook-endless-chunked", receiver_case("endless chunked answer", 12.0), endless_chunked),
    Case("hook-trickle-1B/2s", receiver_case("a byte every 2 s", 12.0), trickle),
    Case("hook-429-retry-after", retry_after, too_many),
    Case(
        "reload-stuck-notifier",
        reload_stuck,
        trickle,
        config=lambda _: {"hook_timeout": "60s"},
    ),
    Case("key-churn", churn(pack=False)),
    Case("sshd-3M-addresses", churn(pack=True), held_keys=100_000),
    Case(
        "storm-group-per-key",
        storm_groups,
        servers=storm_servers,
        config=storm_config,
        held_keys=100_000,
    ),
    Case("alerts-x-silences", alerts_silences(regex=False)),
    Case("alerts-x-regex-sil", alerts_silences(regex=True)),
    Case("scrape-8-hung", scrape_hung, servers=hung_targets, config=hung_config),
    Case("multiline-huge", multiline_big),
    Case("bus-flood", bus_flood),
    Case("billion-laughs-hup", billion_laughs),
]
