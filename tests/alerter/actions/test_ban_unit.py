"""The shipped unit's hardening lets a ban reach nftables (CAP_NET_ADMIN in its bounding set), and
without that capability the error says what to change. Runs alerter's nft wrapper as a service
of a private systemd (tests/sandbox.py), in a network namespace the test creates."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Sandbox

pytestmark = pytest.mark.integration

BAN = (
    "import ipaddress, sys\n"
    "from alerter.actions.nft import Nftables\n"
    "from alerter.errors import ActionError\n"
    "try:\n"
    "    Nftables().add(ipaddress.ip_address('192.0.2.7'), (22,), 60)\n"
    "except ActionError as e:\n"
    "    print('BAN FAILED:', e)\n"
    "    sys.exit(1)\n"
)


@pytest.fixture
def netns_path(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A network namespace, bind-mounted to a file the sandbox can see (it has its own /run)."""
    name = f"banu-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    path = tmp_path / "netns"
    path.touch()
    try:
        subprocess.run(["mount", "--bind", f"/run/netns/{name}", str(path)], check=True)
        yield name, path
    finally:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def unit(netns: Path, capabilities: str) -> str:
    """The shipped [Service] hardening, running the nft wrapper once in `netns`."""
    text = (REPO / "packaging" / "alerter.service").read_text()
    service = text.split("[Service]", 1)[1].split("[Install]", 1)[0]
    skip = ("#", "Exec", "Type=", "NotifyAccess", "Restart", "Timeout", "Watchdog", "StateDir",
            "WorkingDirectory", "SupplementaryGroups")  # fmt: skip
    lines = [ln for ln in service.splitlines() if ln and not ln.startswith(skip)]
    lines = [
        f"CapabilityBoundingSet={capabilities}" if ln.startswith("CapabilityBoundingSet=") else ln
        for ln in lines
    ]
    # A clone under /tmp (and the netns file under pytest's tmp) would be hidden by PrivateTmp,
    # which has nothing to do with nftables; everything else stays as shipped.
    lines = ["PrivateTmp=no" if ln.startswith("PrivateTmp=") else ln for ln in lines]
    argv = f"{sys.executable} -c {json.dumps(BAN)}"
    return "\n".join(
        ["[Service]", "Type=oneshot", f"WorkingDirectory={REPO}", *lines,
         f"NetworkNamespacePath={netns}", f"ExecStart={argv}", ""]
    )  # fmt: skip


def shipped_capabilities() -> str:
    text = (REPO / "packaging" / "alerter.service").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("CapabilityBoundingSet=")]
    return line.split("=", 1)[1]


def test_shipped_unit_can_ban_and_without_net_admin_the_error_says_so(
    netns_path: tuple[str, Path], systemd_sandbox: Sandbox
) -> None:
    # netns_path first: its bind mount must exist before the sandbox copies the mount table
    sb = systemd_sandbox
    name, path = netns_path
    caps = shipped_capabilities()
    assert "CAP_NET_ADMIN" in caps.split()

    ok = f"banu-ok-{secrets.token_hex(3)}.service"
    sb.write_unit(ok, unit(path, caps))
    start = sb.systemctl("start", ok, check=False)
    journal = sb.run("journalctl", "-u", ok, "--no-pager", check=False).stdout
    status = sb.systemctl("status", ok, check=False).stdout
    assert start.returncode == 0, journal + status
    listing = subprocess.run(
        ["ip", "netns", "exec", name, "nft", "-j", "list", "table", "inet", "alerter"],
        capture_output=True,
        text=True,
        check=True,
    )
    from alerter.actions.nft import parse_elements

    elements = parse_elements(json.loads(listing.stdout))
    assert [(str(e.address), e.ports) for e in elements] == [("192.0.2.7", (22,))]

    denied = f"banu-no-{secrets.token_hex(3)}.service"
    sb.write_unit(denied, unit(path, caps.replace("CAP_NET_ADMIN", "").strip()))
    assert sb.systemctl("start", denied, check=False).returncode != 0
    journal = sb.run("journalctl", "-u", denied, "--no-pager", check=False).stdout
    assert "BAN FAILED: nft: operation not permitted: banning needs CAP_NET_ADMIN" in journal
