"""The `type: ban` action's own fields: address template, duration, increment, ports, allow.

    - {name: ban, type: ban, address: "{{ labels.ip }}", duration: 10m,
       increment: {factor: 2, max: 1w, within: 1d}, ports: [22], allow: [192.0.2.0/24]}

`address` must render to exactly one IPv4 or IPv6 address (checked per alert, `banaddr`);
`allow` CIDRs are added to the built-in allowlist (loopback, the host's own addresses).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from alerter.actions.templating import FieldTemplate
from alerter.core.yamlsource import MapReader

DEFAULT_DURATION = 600.0  # fail2ban's bantime
DEFAULT_WITHIN = 86400.0  # earlier bans counted for the increment over the last day
MAX_DURATION = 365 * 86400.0
MAX_PORTS = 32

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Increment:
    """A repeat offender's ban: duration x factor ** (earlier bans within `within`), at most `max`."""

    factor: float
    max: float
    within: float = DEFAULT_WITHIN


@dataclass(frozen=True, slots=True)
class BanSpec:
    address: FieldTemplate
    duration: float = DEFAULT_DURATION
    increment: Increment | None = None
    ports: tuple[int, ...] = ()  # empty: all traffic from the address
    allow: tuple[Network, ...] = ()

    def duration_after(self, earlier: int) -> float:
        """The ban's length when the address was banned `earlier` times within the window."""
        if self.increment is None or earlier <= 0:
            return self.duration
        inc = self.increment
        # grows geometrically: stop multiplying once past the cap (no float overflow)
        d = self.duration
        for _ in range(earlier):
            d *= inc.factor
            if d >= inc.max:
                return inc.max
        return min(d, inc.max)


def parse_ban(r: MapReader) -> BanSpec | None:
    """The ban fields of an action entry; problems go to r.problems and None is returned."""
    before = len(r.problems.items)
    source = r.str("address", required=True)
    address = None
    if source is not None:
        try:
            address = FieldTemplate.compile(source)
        except ValueError as e:
            r.problems.add(r.raw("address") or r.node, f"address: {e}")
    duration = r.duration("duration", DEFAULT_DURATION)
    if duration is not None:
        try:
            ban_seconds(duration)
        except ValueError as e:
            r.problems.add(r.raw("duration") or r.node, f"duration: {e}")
    increment = _parse_increment(r, duration)
    ports = _parse_ports(r)
    allow = _parse_allow(r)
    if address is None or len(r.problems.items) > before:
        return None
    return BanSpec(address, duration, increment, ports, allow)


def _parse_increment(r: MapReader, duration: float) -> Increment | None:
    ir = r.map("increment")
    if ir is None:
        return None
    factor = ir.float("factor", 2.0)
    cap = ir.duration("max", 7 * 86400.0)
    within = ir.duration("within", DEFAULT_WITHIN)
    ir.done()
    if factor is not None and factor < 1:
        ir.problems.add(ir.raw("factor") or ir.node, "increment.factor: must be >= 1")
    if cap is not None and not duration <= cap <= MAX_DURATION:
        ir.problems.add(
            ir.raw("max") or ir.node, "increment.max: must be at least `duration` and at most 365d"
        )
    if within is not None and within <= 0:
        ir.problems.add(ir.raw("within") or ir.node, "increment.within: must be > 0")
    return Increment(factor, cap, within)


def ban_seconds(seconds: float) -> float:
    """A ban's duration, whether from the config, the API's JSON or `alerter bans add -d`."""
    if not 1 <= seconds <= MAX_DURATION:
        raise ValueError("must be from 1s to 365d")
    return seconds


def port_number(value: object) -> int:
    """A ban's port, whether from the config, the API's JSON or `alerter bans add -p`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected a port number from 1 to 65535, got {value!r}")
    return value


def _parse_ports(r: MapReader) -> tuple[int, ...]:
    out = set()
    nodes = r.list("ports")
    for n in nodes:
        try:
            out.add(port_number(n.value))
        except ValueError as e:
            r.problems.add(n, f"ports: {e}")
    if len(out) > MAX_PORTS:
        r.problems.add(r.raw("ports") or r.node, f"ports: at most {MAX_PORTS} ports")
    if r.has("ports") and not nodes:
        r.problems.add(r.raw("ports") or r.node, "ports: leave it out to ban all traffic")
    return tuple(sorted(out))


def _parse_allow(r: MapReader) -> tuple[Network, ...]:
    out: list[Network] = []
    for n in r.list("allow"):
        s = r.as_str(n, "allow")
        if s is None:
            continue
        try:
            out.append(ipaddress.ip_network(s.strip(), strict=False))
        except ValueError:
            r.problems.add(
                n, f"allow: expected an address or CIDR (192.0.2.0/24, 2001:db8::/32), got {s!r}"
            )
    return tuple(out)
