"""The ban action's test setup: its config, the host's own addresses, a runner built on a fake
firewall, and an alert naming an address."""

from __future__ import annotations

import ipaddress

from alerter.actions.banaddr import Allowlist
from alerter.actions.bans import BanExecutor
from alerter.actions.runner import ActionRunner
from alerter.testing import FakeFirewall
from tests.alerter.actions.conftest import Harness, alert, parse_actions

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
