"""The ban action with a fake firewall: parsing, increments, lifts, allowlist, cap, dry run,
notes, config and host addresses (restarts: test_ban_start.py; by hand and the API:
test_ban_api.py)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from alerter.actions.banaddr import Allowlist, parse_address
from alerter.actions.banconfig import BanSpec
from alerter.actions.nft import Nftables
from alerter.core.yamlsource import SourceError
from alerter.testing import FakeFirewall
from tests.alerter.actions.ban_setup import build
from tests.alerter.actions.conftest import T0, Harness, alert, fire, parse_actions, resolve


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
    from alerter.errors import ActionError

    fw = Nftables(nft=str(tmp_path / "no-such-nft"))
    with pytest.raises(ActionError, match=r"not installed .*install the nftables package"):
        fw.add(ipaddress.ip_address("192.0.2.7"), (), 60)
