"""Bans at start: those in force put back with the time left, and what a crash left half done
between the store and nftables finished or recorded."""

from __future__ import annotations

import json
from pathlib import Path

from alerter.actions.banaddr import parse_address
from alerter.actions.bans import BanExecutor
from alerter.actions.nft import Nftables
from alerter.testing import FakeFirewall
from tests.alerter.actions.ban_setup import BAN, build
from tests.alerter.actions.conftest import T0, Harness, alert, fire, parse_actions


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
