"""alerter's nftables table (`inet alerter`), through the `nft` program with argv, never a shell.

The table holds one IPv4 and one IPv6 set (`flags timeout`) per port list in use — `v4`/`v6` for
bans of all traffic, `v4_p22`/`v6_p22` for bans limited to port 22 — and an input-hook chain with
one drop rule per set. The kernel expires each element at its timeout, so a ban lifts without
alerter. Nothing here touches another table.

Writes go to `nft -f -` as nftables' own syntax, built only from parsed addresses and integers;
reads come from `nft -j list table`.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from alerter.actions.banaddr import Address, parse_address
from alerter.errors import ActionError

TABLE = "alerter"
CHAIN = "input"
PRIORITY = -10  # before the usual filter chains (priority 0), as fail2ban's table does
TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Element:
    address: Address
    ports: tuple[int, ...]
    expires: float  # seconds left, as the kernel says


def set_name(version: int, ports: Sequence[int]) -> str:
    """'v4', 'v6_p22_2222': the set holding bans of this family limited to these ports."""
    base = f"v{version}"
    return base if not ports else base + "_p" + "_".join(str(p) for p in sorted(ports))


def ports_of(name: str) -> tuple[int, ...]:
    _, _, tail = name.partition("_p")
    return tuple(int(p) for p in tail.split("_")) if tail else ()


def setup_script(port_lists: Iterable[Sequence[int]]) -> str:
    """Create the table, its sets and the chain if missing; rewrite the chain's rules.

    One `nft -f` run is one transaction: packets never see a half-written chain, and elements
    already in the sets stay with their timeouts.
    """
    lists = sorted({tuple(sorted(p)) for p in port_lists} | {()})
    lines = [f"add table inet {TABLE}"]
    for ports in lists:
        for version in (4, 6):
            lines.append(
                f"add set inet {TABLE} {set_name(version, ports)} "
                f"{{ type ipv{version}_addr; flags timeout; }}"
            )
    lines.append(
        f"add chain inet {TABLE} {CHAIN} "
        f"{{ type filter hook input priority {PRIORITY}; policy accept; }}"
    )
    lines.append(f"flush chain inet {TABLE} {CHAIN}")
    for ports in lists:
        for version, proto in ((4, "ip"), (6, "ip6")):
            match = f"{proto} saddr @{set_name(version, ports)}"
            if ports:
                match += (
                    " meta l4proto { tcp, udp } th dport { " + ", ".join(map(str, ports)) + " }"
                )
            lines.append(f"add rule inet {TABLE} {CHAIN} {match} drop")
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def add_script(address: Address, ports: Sequence[int], seconds: float) -> str:
    name = set_name(address.version, ports)
    return f"add element inet {TABLE} {name} {{ {address} timeout {_ms(seconds)}ms }}\n"


def delete_script(address: Address, ports: Sequence[int]) -> str:
    name = set_name(address.version, ports)
    return f"delete element inet {TABLE} {name} {{ {address} }}\n"


def parse_elements(listing: Mapping[str, Any]) -> list[Element]:
    """The banned addresses in `nft -j list table inet alerter` output."""
    out = []
    for item in listing.get("nftables", ()):
        s = item.get("set") if isinstance(item, dict) else None
        if not isinstance(s, dict) or s.get("table") != TABLE:
            continue
        ports = ports_of(str(s.get("name", "")))
        for e in s.get("elem", ()):
            elem = e.get("elem") if isinstance(e, dict) else None
            val = elem.get("val") if isinstance(elem, dict) else e
            try:
                addr = parse_address(str(val))
            except ValueError:
                continue
            expires = float(elem.get("expires", 0)) if isinstance(elem, dict) else 0.0
            out.append(Element(addr, ports, expires))
    return out


class Firewall(Protocol):
    """What bans need from the kernel; `Nftables` here, `FakeFirewall` in tests."""

    def setup(self, port_lists: Iterable[Sequence[int]]) -> None: ...

    def add(self, address: Address, ports: Sequence[int], seconds: float) -> None: ...

    def delete(self, address: Address, ports: Sequence[int]) -> None: ...

    def restore(self, bans: Sequence[tuple[Address, Sequence[int], float]]) -> None:
        """Set up the table for these bans' port lists and add them all, in one transaction."""

    def elements(self) -> list[Element]: ...


class Nftables:
    """Runs `nft`; every failure is an ActionError saying what to fix."""

    def __init__(self, nft: str = "nft") -> None:
        self.nft = nft
        self._lock = threading.Lock()
        self._ports: set[tuple[int, ...]] = set()
        self._ready = False

    def setup(self, port_lists: Iterable[Sequence[int]]) -> None:
        with self._lock:
            self._ports |= {tuple(sorted(p)) for p in port_lists}
            self._run(["-f", "-"], setup_script(self._ports))
            self._ready = True

    def _ensure(self, ports: Sequence[int]) -> None:
        key = tuple(sorted(ports))
        with self._lock:
            if self._ready and key in self._ports:
                return
        self.setup([key])

    def add(self, address: Address, ports: Sequence[int], seconds: float) -> None:
        self._ensure(ports)
        try:
            self._run(["-f", "-"], add_script(address, ports, seconds))
        except ActionError:
            # the table may have been deleted under us (nft flush ruleset): once more, from scratch
            with self._lock:
                self._ready = False
            self._ensure(ports)
            self._run(["-f", "-"], add_script(address, ports, seconds))

    def delete(self, address: Address, ports: Sequence[int]) -> None:
        self._run(["-f", "-"], delete_script(address, ports))

    def restore(self, bans: Sequence[tuple[Address, Sequence[int], float]]) -> None:
        with self._lock:
            self._ports |= {tuple(sorted(p)) for _, p, _ in bans}
            script = setup_script(self._ports) + "".join(add_script(*b) for b in bans)
            self._run(["-f", "-"], script)  # one nft run for 10,000 bans, not 10,000
            self._ready = True

    def elements(self) -> list[Element]:
        try:
            out = self._run(["-j", "list", "table", "inet", TABLE], "")
        except ActionError as e:
            if "No such file or directory" in str(e):
                return []  # no table yet: nothing banned
            raise
        try:
            return parse_elements(json.loads(out))
        except ValueError as e:
            raise ActionError(f"nft -j printed something that is not JSON: {e}") from None

    def _run(self, args: list[str], stdin: str) -> str:
        try:
            proc = subprocess.run(
                [self.nft, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise ActionError(
                f"nftables is not installed ({self.nft} not found): install the nftables package"
            ) from None
        except subprocess.TimeoutExpired:
            raise ActionError(f"nft did not answer within {TIMEOUT:g}s") from None
        if proc.returncode != 0:
            err = " ".join(proc.stderr.split())[:300]
            if "Operation not permitted" in err:
                raise ActionError(
                    "nft: operation not permitted: banning needs CAP_NET_ADMIN (run alerter as "
                    "root, or add CAP_NET_ADMIN to the unit's CapabilityBoundingSet and "
                    f"AmbientCapabilities): {err}"
                )
            raise ActionError(f"nft exited {proc.returncode}: {err}")
        return proc.stdout
