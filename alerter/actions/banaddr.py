"""What a ban may target: one address, parsed strictly, never one on the allowlist.

The built-in allowlist is loopback plus every address of the host's own interfaces, read at start
and again whenever it is consulted and the last read is older than `HOST_REFRESH` seconds (an
address added to an interface is protected within that time). Each ban action's `allow` adds to it.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Sequence

import psutil

from alerter.actions.banconfig import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

HOST_REFRESH = 2.0
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def parse_address(text: str) -> Address:
    """Exactly one IPv4 or IPv6 address; IPv4-mapped IPv6 (::ffff:192.0.2.7) as the IPv4 one.

    Raises ValueError for anything else: a name, a network, a list, a zone (fe80::1%eth0),
    the unspecified or a multicast address.
    """
    s = text.strip()
    if not s or len(s) > 64:
        raise ValueError(f"not one IP address: {text[:80]!r}")
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        raise ValueError(f"not one IP address: {text[:80]!r}") from None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id is not None:
            raise ValueError(f"an address with a zone cannot be banned: {s!r}")
        if addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
    if addr.is_unspecified or addr.is_multicast:
        raise ValueError(f"not a host address: {addr}")
    return addr


def family(addr: Address) -> str:
    return "ipv4" if addr.version == 4 else "ipv6"


def host_addresses() -> set[Address]:
    """Every address of the host's interfaces (psutil), zones dropped."""
    out: set[Address] = set()
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family.name not in ("AF_INET", "AF_INET6"):
                continue
            try:
                out.add(ipaddress.ip_address(a.address.split("%", 1)[0]))
            except ValueError:
                continue
    return out


class Allowlist:
    """Never banned: loopback, the host's own addresses (kept fresh), and configured networks."""

    def __init__(
        self,
        networks: Iterable[Network] = (),
        *,
        read_host: Callable[[], set[Address]] = host_addresses,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.networks: tuple[Network, ...] = (*LOOPBACK, *networks)
        self._read_host = read_host
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._host: set[Address] = set()
        self._read_at = float("-inf")
        self.refresh()

    def refresh(self) -> None:
        host = self._read_host()
        with self._lock:
            self._host = host
            self._read_at = self._monotonic()

    def why(self, addr: Address, extra: Sequence[Network] = ()) -> str | None:
        """Why `addr` must not be banned ('loopback', 'an address of this host', 'allow
        192.0.2.0/24'), or None when it may be."""
        for net in (*self.networks, *extra):
            if addr.version == net.version and addr in net:
                return "loopback" if net in LOOPBACK else f"allow {net}"
        if self._monotonic() - self._read_at >= HOST_REFRESH:
            self.refresh()
        with self._lock:
            if addr in self._host:
                return "an address of this host"
        return None
