"""The ban action with a fake firewall: parsing, increments, allowlist, cap, restart, dry run,
notes, metrics, and the pure nftables script and listing code."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from alerter.actions.banaddr import Allowlist, parse_address
from alerter.actions.banconfig import BanSpec
from alerter.actions.bans import BanExecutor
from alerter.actions.nft import Nftables
from alerter.actions.runner import ActionRunner
from alerter.core.yamlsource import SourceError
from alerter.testing import FakeFirewall
from tests.alerter.actions.conftest import T0, Harness, alert, fire, parse_actions, resolve

BAN = """
actions:
  - name: ban
    type: ban
    address: "{{ labels.ip }}"
    duration: 10m
    increment: {factor: 2, max: 1h}
    allow: [198.51.100.0/24, "2001:db8:aa::/48"]
"""
HOST = {ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8::1")}


def build(
    h: Harness,
    text: str = BAN,
    *,
    dry_run: bool = False,
    max_bans: int = 10_000,
    fw: FakeFirewall | None = None,
) -> tuple[ActionRunner, BanExecutor, FakeFirewall]:
    """A runner whose `ban` type is a BanExecutor on a fake firewall (call again: a restart)."""
    fw = fw or FakeFirewall(h.clock)
    actions = parse_actions(text)
    if h.store is None:
        h.build("actions: []")  # creates the store and metrics
    assert h.store is not None
    nets = [n for a in actions for n in getattr(a.spec, "allow", ())]
    bans = BanExecutor(
        actions,
        h.store,
        fw,
        h.clock,
        allowlist=Allowlist(nets, read_host=lambda: set(HOST)),
        dry_run=dry_run,
        max_bans=max_bans,
    )
    bans.start()
    runner = h.build(text, dry_run=dry_run, actions_per_minute=1000, executors={"ban": bans})
    return runner, bans, fw


def ban_alert(ip: str) -> object:
    return alert(["ban"], ip=ip)


def test_first_ban_puts_the_address_in_the_kernel_for_the_duration(harness: Harness) -> None:
    runner, _, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip="203.0.113.7"), T0)], T0)
    assert harness.outcomes(runner) == ["ok"]
    assert fw.banned() == {"203.0.113.7": 600.0}
    assert ("setup", "", (), 0.0) in fw.calls


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped IPv6 is the IPv4 address
        (" 2001:DB8::7 ", "2001:db8::7"),
        ("203.0.113.7", "203.0.113.7"),
    ],
)
def test_address_is_normalised(harness: Harness, text: str, expected: str) -> None:
    runner, _, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip=text), T0)], T0)
    assert harness.outcomes(runner) == ["ok"]
    assert list(fw.banned()) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "example.org",
        "203.0.113.0/24",
        "203.0.113.7 203.0.113.8",
        "203.0.113.7,203.0.113.8",
        "fe80::1%eth0",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "",
        "203.0.113.7; nft flush ruleset",
    ],
)
def test_anything_but_one_address_is_refused_and_recorded(harness: Harness, text: str) -> None:
    runner, _, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip=text), T0)], T0)
    assert harness.outcomes(runner) == ["invalid_target"]
    assert fw.banned() == {}


def test_repeat_offender_gets_longer_bans_capped_at_max_and_notes_say_so(
    harness: Harness,
) -> None:
    runner, _, fw = build(harness)
    a = alert(["ban"], ip="203.0.113.7")
    lengths = []
    for i in range(4):
        runner.handle([fire(a, harness.clock.now())], harness.clock.now())
        assert runner.wait_idle(10)
        lengths.append(fw.banned()["203.0.113.7"])
        if i == 1:
            notes = runner.notes(a.fingerprint)
            assert notes[-1].startswith("banned 203.0.113.7 for 20m at ")
            assert notes[-1].endswith(" UTC, 2nd ban in 24h")
        runner.handle([resolve(a, harness.clock.now())], harness.clock.now())
        harness.clock.advance(3600 + 1)  # the ban ended; the limit window (1h) is past too
    assert lengths == [600.0, 1200.0, 2400.0, 3600.0]  # 10m x 2 per earlier ban, max 1h


def test_increment_counts_only_bans_within_its_window(harness: Harness) -> None:
    runner, _, fw = build(harness)
    a = alert(["ban"], ip="203.0.113.7")
    runner.handle([fire(a, T0)], T0)
    assert runner.wait_idle(10)
    harness.clock.advance(86400 + 1)
    runner.handle([fire(a, harness.clock.now())], harness.clock.now())
    assert runner.wait_idle(10)
    assert fw.banned() == {"203.0.113.7": 600.0}
    assert runner.notes(a.fingerprint)[-1].endswith(", 1st ban in 24h")


def test_still_firing_after_the_ban_ended_bans_again_not_before(harness: Harness) -> None:
    runner, _, fw = build(harness)
    a = alert(["ban"], ip="203.0.113.7")
    runner.handle([fire(a, T0)], T0)
    assert runner.wait_idle(10)
    for _ in range(3):  # in force: the ticks do nothing and record nothing
        harness.clock.advance(100)
        runner.tick([a], harness.clock.now())
    assert harness.outcomes(runner) == ["ok"]
    harness.clock.advance(301)  # 601 s after the ban: the kernel lifted it
    assert fw.banned() == {}
    runner.tick([a], harness.clock.now())
    assert harness.outcomes(runner) == ["ok", "ok"]
    assert fw.banned() == {"203.0.113.7": 1200.0}


def test_a_ban_lifted_by_hand_stays_lifted_while_its_alert_fires(harness: Harness) -> None:
    """Lifting a ban (alerter bans del, the page) while its alert still fires must not be undone
    at the next tick; the alert's next firing episode bans again."""
    runner, bans, fw = build(harness)
    a = alert(["ban"], ip="203.0.113.7")
    runner.handle([fire(a, T0)], T0)
    assert runner.wait_idle(10) and fw.banned() == {"203.0.113.7": 600.0}
    harness.clock.advance(30)
    assert bans.lift(parse_address("203.0.113.7")) is not None
    assert fw.banned() == {}
    for _ in range(3):  # still firing, ticks and past the ban's own end: not banned again
        harness.clock.advance(400)
        runner.tick([a], harness.clock.now())
    assert runner.wait_idle(10) and fw.banned() == {}
    assert harness.outcomes(runner) == ["ok"]
    runner.handle([fire(a, harness.clock.now())], harness.clock.now())  # fires anew
    assert runner.wait_idle(10) and "203.0.113.7" in fw.banned()


@pytest.mark.parametrize("ports", [(), (22,)], ids=["same-ports", "other-ports"])
def test_lifting_an_address_banned_by_its_alert_and_by_hand_lifts_both_for_good(
    harness: Harness, ports: tuple[int, ...]
) -> None:
    runner, bans, fw = build(harness)
    a = alert(["ban"], ip="203.0.113.7")
    runner.handle([fire(a, T0)], T0)
    assert runner.wait_idle(10)
    harness.clock.advance(30)
    bans.ban(parse_address("203.0.113.7"), 3600, ports, "by hand")  # over the alert's ban
    assert bans.lift(parse_address("203.0.113.7")) is not None
    assert fw.banned() == {}
    assert bans.book.in_force(harness.clock.now()) == []
    runner.stop()  # a restart: what the store holds in force is put back
    runner, bans, fw = build(harness, fw=fw)
    assert fw.banned() == {} and bans.book.in_force(harness.clock.now()) == []
    for _ in range(3):  # the alert still fires: the lifted address stays lifted
        harness.clock.advance(60)
        runner.tick([a], harness.clock.now())
    assert runner.wait_idle(10) and fw.banned() == {}


@pytest.mark.parametrize(
    ("ip", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("192.0.2.1", "an address of this host"),
        ("2001:db8::1", "an address of this host"),
        ("198.51.100.77", "allow 198.51.100.0/24"),
        ("2001:db8:aa::5", "allow 2001:db8:aa::/48"),
    ],
)
def test_allowlisted_address_is_never_banned(harness: Harness, ip: str, why: str) -> None:
    runner, bans, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip=ip), T0)], T0)
    records = runner.history()
    assert [r["outcome"] for r in records] == ["refused_allowed"]
    assert why in records[0]["detail"]
    assert fw.banned() == {}
    with pytest.raises(Exception, match="never banned"):
        bans.ban(parse_address(ip), 60)
    assert fw.banned() == {}


def test_host_addresses_are_read_again_when_they_change() -> None:
    now = [0.0]
    host = {ipaddress.ip_address("192.0.2.1")}
    allow = Allowlist(read_host=lambda: set(host), monotonic=lambda: now[0])
    new = ipaddress.ip_address("192.0.2.50")
    assert allow.why(new) is None
    host.add(new)  # an address added to an interface
    now[0] += 2.5
    assert allow.why(new) == "an address of this host"


def test_cap_on_bans_in_force(harness: Harness) -> None:
    runner, _, fw = build(harness, max_bans=2)
    alerts = [alert(["ban"], ip=f"203.0.113.{i}") for i in (1, 2, 3)]
    runner.handle([fire(a, T0) for a in alerts], T0)
    assert sorted(harness.outcomes(runner)) == ["ok", "ok", "refused_cap"]
    assert len(fw.banned()) == 2
    harness.clock.advance(601)  # both ended: room again
    runner.tick(alerts[2:], harness.clock.now())  # only the third still fires
    assert runner.wait_idle(10)
    assert list(fw.banned()) == ["203.0.113.3"]


def test_restart_reapplies_bans_with_their_remaining_time_and_not_ended_ones(
    harness: Harness,
) -> None:
    runner, _, _ = build(harness)
    runner.handle(
        [fire(alert(["ban"], ip="203.0.113.7"), T0), fire(alert(["ban"], ip="2001:db8::7"), T0)],
        T0,
    )
    assert runner.wait_idle(10)
    harness.clock.advance(240)
    runner.handle([fire(alert(["ban"], ip="203.0.113.8"), T0 + 240)], T0 + 240)
    assert runner.wait_idle(10)
    runner.stop()
    harness.clock.advance(400)  # 640 s after the first two: they ended; the third has 200 s
    rebooted = FakeFirewall(harness.clock)  # a reboot: the kernel holds nothing
    build(harness, fw=rebooted)
    assert rebooted.banned() == {"203.0.113.8": 200.0}
    assert [c[:1] + c[3:] for c in rebooted.calls] == [("setup", 0.0), ("restore", 1.0)]


def test_restart_without_ban_actions_or_bans_leaves_nftables_alone(harness: Harness) -> None:
    _, _, fw = build(harness, "actions: []")
    assert fw.calls == []


def test_dry_run_records_the_decision_and_never_touches_the_firewall(harness: Harness) -> None:
    runner, bans, fw = build(harness, dry_run=True)
    a = alert(["ban"], ip="203.0.113.7")
    runner.handle([fire(a, T0)], T0)
    assert harness.outcomes(runner) == ["dry_run"]
    assert fw.calls == []
    note = runner.notes(a.fingerprint)[-1]
    assert note.startswith("would ban 203.0.113.7 for 10m at ")
    assert note.endswith(", 1st ban in 24h (dry run)")
    runner.tick([a], T0 + 10)  # recorded as in force (dry): not decided again every tick
    assert harness.outcomes(runner) == ["dry_run"]
    assert [b.dry_run for b in bans.book.in_force(T0 + 10)] == [True]
    bans.ban(parse_address("203.0.113.9"), 60)
    assert fw.calls == []


def test_failed_firewall_is_recorded_and_does_not_count_as_a_ban(harness: Harness) -> None:
    fw = FakeFirewall(harness.clock)
    runner, bans, _ = build(harness, fw=fw)
    fw.fail = "nftables is not installed (nft not found): install the nftables package"
    a = alert(["ban"], ip="203.0.113.7")
    runner.handle([fire(a, T0)], T0)
    assert harness.outcomes(runner) == ["failed"]
    assert "install the nftables package" in runner.history()[0]["detail"]
    assert bans.book.in_force(T0) == []
    assert bans.book.earlier(parse_address("203.0.113.7"), 0, False) == 0


def test_manual_ban_and_lift_and_metric(harness: Harness) -> None:
    runner, bans, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip="2001:db8::7"), T0)], T0)
    assert runner.wait_idle(10)
    bans.ban(parse_address("203.0.113.9"), 3600, (22,), "by hand")
    assert fw.banned() == {"2001:db8::7": 600.0, "203.0.113.9": 3600.0}
    assert ("add", "203.0.113.9", (22,), 3600.0) in fw.calls
    from alerter.actions import _count_bans

    assert _count_bans(bans, harness.clock, "ipv4") == 1
    assert _count_bans(bans, harness.clock, "ipv6") == 1
    lifted = bans.lift(parse_address("203.0.113.9"))
    assert lifted is not None and lifted.lifted == T0
    assert fw.banned() == {"2001:db8::7": 600.0}
    assert bans.lift(parse_address("203.0.113.9")) is None
    assert _count_bans(bans, harness.clock, "ipv4") == 0


def test_daemon_metric_counts_bans_by_family(harness: Harness, tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from alerter.actions import build_action_runner
    from alerter.config.load import load_config
    from alerter.runtime.metrics import Metrics

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"global: {{state_dir: {tmp_path}/st}}\n" + BAN)
    config = load_config(str(cfg))
    registry = CollectorRegistry()
    fw = FakeFirewall(harness.clock)
    from alerter.store.db import StateStore

    store = StateStore(tmp_path / "st")
    runner = build_action_runner(
        config, store, Metrics(registry), harness.clock, {}, lambda t: None, firewall=fw
    )
    try:
        runner.handle([fire(alert(["ban"], ip="2001:db8::9"), T0)], T0)
        assert runner.wait_idle(10)
        assert registry.get_sample_value("alerter_bans", {"family": "ipv6"}) == 1.0
        assert registry.get_sample_value("alerter_bans", {"family": "ipv4"}) == 0.0
        harness.clock.advance(601)
        assert registry.get_sample_value("alerter_bans", {"family": "ipv6"}) == 0.0
    finally:
        runner.stop()
        store.close()


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("ports: [0]", "ports: expected a port number"),
        ("ports: [ssh]", "ports: expected a port number"),
        ("allow: [not-a-net]", "allow: expected an address or CIDR"),
        ("increment: {factor: 0.5}", "increment.factor: must be >= 1"),
        ("increment: {max: 1m}", "increment.max: must be at least"),
        ("duration: 0s", "duration: must be from 1s"),
        ("revert: true", "revert: only"),
    ],
)
def test_config_problems_are_reported(snippet: str, message: str) -> None:
    text = f'actions:\n  - {{name: b, type: ban, address: "{{{{ labels.ip }}}}", {snippet}}}\n'
    with pytest.raises(SourceError, match=message):
        parse_actions(text)


def test_ban_config_defaults() -> None:
    (a,) = parse_actions('actions: [{name: b, type: ban, address: "{{ labels.ip }}"}]')
    assert a.cooldown == 0.0 and a.repeat and not a.revert
    assert isinstance(a.spec, BanSpec)
    assert a.spec.duration == 600.0
    assert a.spec.ports == ()


def test_api_routes_validate_ban_list_and_lift(harness: Harness) -> None:
    from alerter.actions.banapi import routes
    from alerter.api.routes import HTTPError, Request

    _, bans, fw = build(harness)
    table = {(r.method, r.pattern): r for r in routes(bans)}
    assert table[("POST", "/api/v1/bans")].mutating
    assert table[("DELETE", "/api/v1/bans/{address}")].mutating
    assert not table[("GET", "/api/v1/bans")].mutating

    def call(method: str, pattern: str, body: object = None, **kw: str) -> Any:  # (JSON)
        route = table[(method, pattern)]
        req = Request(
            method,
            pattern,
            {k: [v] for k, v in kw.items() if k != "address"},
            {},
            json.dumps(body).encode() if body is not None else b"",
            {"address": kw["address"]} if "address" in kw else {},
        )
        return json.loads(route.handler(req).body)

    for body, status in [
        ({"address": "example.org"}, 400),
        ({"address": "203.0.113.7", "duration": "forever"}, 400),
        ({"address": "203.0.113.7", "ports": [70000]}, 400),
        ({"address": "127.0.0.1"}, 409),
        ([1, 2], 400),
        ({"address": "203.0.113.7", "durration": "1h"}, 400),  # not a 10-minute ban
    ]:
        with pytest.raises(HTTPError) as e:
            call("POST", "/api/v1/bans", body)
        assert e.value.status == status, body
    assert fw.banned() == {}
    made = call("POST", "/api/v1/bans", {"address": "::ffff:203.0.113.7", "duration": "1h"})
    assert made["data"]["address"] == "203.0.113.7"
    assert made["data"]["remainingSeconds"] == 3600
    assert fw.banned() == {"203.0.113.7": 3600.0}
    listed = call("GET", "/api/v1/bans")["data"]
    assert [b["address"] for b in listed] == ["203.0.113.7"]
    call("DELETE", "/api/v1/bans/{address}", address="203.0.113.7")
    assert fw.banned() == {}
    with pytest.raises(HTTPError) as e:
        call("DELETE", "/api/v1/bans/{address}", address="203.0.113.7")
    assert e.value.status == 404
    assert call("GET", "/api/v1/bans")["data"] == []
    with pytest.raises(HTTPError) as e:
        call("GET", "/api/v1/bans", all="maybe")
    assert e.value.status == 400
    (old,) = call("GET", "/api/v1/bans", all="true")["data"]
    assert old["liftedAt"] is not None and old["action"] == "manual"


def test_delete_on_the_bans_lifts_the_address_in_its_query_or_body(harness: Harness) -> None:
    # DESIGN: GET/POST/DELETE /api/v1/bans, beside DELETE /api/v1/bans/{address}
    from alerter.actions.banapi import routes
    from alerter.api.routes import HTTPError, Request

    _, bans, fw = build(harness)
    table = {(r.method, r.pattern): r for r in routes(bans)}
    lift = table[("DELETE", "/api/v1/bans")]
    assert lift.mutating
    for address in ("203.0.113.7", "2001:db8::7"):
        bans.ban(parse_address(address), 3600.0, (), "")
    query = Request("DELETE", "/api/v1/bans", {"address": ["203.0.113.7"]}, {}, b"", {})
    body = Request("DELETE", "/api/v1/bans", {}, {}, b'{"address": "2001:db8::7"}', {})
    done = [json.loads(lift.handler(r).body)["data"]["address"] for r in (query, body)]
    assert done == ["203.0.113.7", "2001:db8::7"] and fw.banned() == {}
    with pytest.raises(HTTPError) as e:
        lift.handler(Request("DELETE", "/api/v1/bans", {}, {}, b"", {}))
    assert e.value.status == 400 and "?address=ADDR" in e.value.message
    with pytest.raises(HTTPError) as e:
        lift.handler(query)
    assert e.value.status == 404


def test_notes_say_why_a_ban_was_not_made(harness: Harness) -> None:
    runner, _, _ = build(harness, max_bans=1)
    home = alert(["ban"], ip="127.0.0.1")
    first, second = alert(["ban"], ip="203.0.113.7"), alert(["ban"], ip="203.0.113.8")
    runner.handle([fire(home, T0), fire(first, T0)], T0)
    assert runner.wait_idle(10)
    runner.handle([fire(second, T0)], T0)
    again = alert(["ban"], ip="203.0.113.7", alertname="Other")
    runner.handle([fire(again, T0)], T0)
    assert runner.notes(home.fingerprint) == [
        "did not ban 127.0.0.1 at 22:13 UTC: 127.0.0.1 is never banned (loopback)"
    ]
    assert runner.notes(second.fingerprint) == [
        "did not ban 203.0.113.8 at 22:13 UTC: 1 bans in force (global.max_bans)"
    ]
    assert runner.notes(again.fingerprint) == [
        "did not ban 203.0.113.7 at 22:13 UTC: already banned until 22:23:20 UTC"
    ]


def test_ended_bans_do_not_pile_up_in_memory(harness: Harness) -> None:
    _, bans, _ = build(harness)
    for i in range(3000):  # each ends before the next: at most one is ever in force
        bans.ban(ipaddress.ip_address(0x0A000000 + i), 1)
        harness.clock.advance(2)
    assert bans.book.held() < 1100
    assert bans.book.count(harness.clock.now(), False) == 0


@pytest.mark.integration  # runs ip (iproute2)
def test_host_addresses_are_every_address_ip_lists() -> None:
    import subprocess

    from alerter.actions.banaddr import host_addresses
    from tests.conftest import require

    out = subprocess.run(
        [require("ip"), "-j", "addr", "show"], capture_output=True, text=True, check=True
    )
    listed = {
        ipaddress.ip_address(a["local"])
        for link in json.loads(out.stdout)
        for a in link.get("addr_info", ())
        if a.get("family") in ("inet", "inet6")
    }
    assert ipaddress.ip_address("127.0.0.1") in listed
    assert listed <= host_addresses()


def test_missing_nft_program_is_a_clear_error(tmp_path: Path) -> None:
    from alerter.actions.nft import Nftables
    from alerter.errors import ActionError

    fw = Nftables(nft=str(tmp_path / "no-such-nft"))
    with pytest.raises(ActionError, match=r"not installed .*install the nftables package"):
        fw.add(ipaddress.ip_address("192.0.2.7"), (), 60)


def test_a_restart_puts_back_the_newest_ban_of_an_address_not_an_older_longer_one(
    harness: Harness,
) -> None:
    runner, bans, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip="203.0.113.7"), T0)], T0)  # 10m
    assert runner.wait_idle(10)
    harness.clock.advance(30)
    bans.ban(parse_address("203.0.113.7"), 60, (), "a minute from now, by hand")
    assert fw.banned() == {"203.0.113.7": 60.0}  # the kernel's element has the new timeout
    runner.stop()
    harness.clock.advance(120)  # the ban by hand ended; the alert's would have 450 s left
    rebooted = FakeFirewall(harness.clock)
    _, bans, _ = build(harness, fw=rebooted)
    assert rebooted.banned() == {}
    assert bans.book.in_force(harness.clock.now()) == []


def test_a_start_finishes_a_lift_that_a_crash_cut_short(harness: Harness) -> None:
    runner, bans, fw = build(harness)
    runner.handle([fire(alert(["ban"], ip="203.0.113.7"), T0)], T0)
    assert runner.wait_idle(10)
    # a lift writes the store, then deletes the kernel element: a crash between the two
    bans.book.lift(parse_address("203.0.113.7"), False, T0 + 30)
    runner.stop()
    harness.clock.advance(60)
    assert fw.banned() == {"203.0.113.7": 540.0}
    _, bans, _ = build(harness, fw=fw)
    assert fw.banned() == {}  # lifted, as the store says
    assert bans.book.in_force(harness.clock.now()) == []


def test_a_start_records_a_ban_the_kernel_holds_and_the_store_does_not(harness: Harness) -> None:
    _, _, fw = build(harness)
    # an element no ban in the store explains (a crash between a ban's two writes, a store
    # that refused the write, a state_dir reset): listed, liftable, kept to its end
    fw.add(parse_address("2001:db8::7"), (22,), 300)
    harness.clock.advance(60)
    _, bans, _ = build(harness, fw=fw)
    (ban,) = bans.book.in_force(harness.clock.now())
    assert (str(ban.address), ban.ports, ban.until) == ("2001:db8::7", (22,), T0 + 300)
    assert ban.action == "manual" and "not in the state store" in ban.detail
    assert fw.banned() == {"2001:db8::7": 240.0}  # neither lifted nor extended
    assert bans.lift(parse_address("2001:db8::7")) is not None
    assert fw.banned() == {}


def test_a_start_never_rewrites_the_chain_without_the_drop_rule_of_a_ban_in_force(
    harness: Harness, tmp_path: Path
) -> None:
    # a start or reload whose config bans other ports than a ban in force: each nft run that
    # rewrites the chain keeps that ban's drop rule (or its packets would pass meanwhile)
    scripts = tmp_path / "scripts"
    nft = tmp_path / "nft"
    listing = json.dumps({"nftables": []})
    nft.write_text(
        f"#!/bin/sh\n[ \"$1\" = -j ] && {{ echo '{listing}'; exit 0; }}\n"
        f"cat >> {scripts}\necho ---- >> {scripts}\n"
    )
    nft.chmod(0o755)
    runner, bans, _ = build(harness)  # bans all traffic
    bans.ban(parse_address("203.0.113.7"), 3600, (22,), "by hand, port 22")
    runner.stop()
    assert harness.store is not None
    BanExecutor(parse_actions(BAN), harness.store, Nftables(str(nft)), harness.clock).start()
    rewrites = [s for s in scripts.read_text().split("----\n") if "flush chain" in s]
    assert rewrites and all("ip saddr @v4_p22 " in s for s in rewrites)
