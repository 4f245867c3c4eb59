"""The ban action's nftables text (the set pair and drop rules, element scripts) and the reading
of `nft -j list` output: pure code, no kernel (tests/alerter/actions/test_ban_netns.py runs it
against real nftables)."""

from __future__ import annotations

import ipaddress
import json

from alerter.actions.nft import add_script, delete_script, parse_elements, set_name, setup_script


def test_setup_script_has_a_set_pair_and_drop_rules_per_port_list() -> None:
    script = setup_script([(22,), (443, 80)])
    assert "add table inet alerter\n" in script
    for name, kind in (("v4", "ipv4"), ("v6", "ipv6"), ("v4_p22", "ipv4"), ("v6_p80_443", "ipv6")):
        assert f"add set inet alerter {name} {{ type {kind}_addr; flags timeout; }}" in script
    assert "type filter hook input priority -10; policy accept;" in script
    assert "flush chain inet alerter input" in script
    assert "add rule inet alerter input ip saddr @v4 drop" in script
    assert (
        "add rule inet alerter input ip6 saddr @v6_p80_443 meta l4proto { tcp, udp } "
        "th dport { 80, 443 } drop" in script
    )


def test_element_scripts() -> None:
    a = ipaddress.ip_address("2001:db8::7")
    assert add_script(a, (22,), 2.5) == (
        "add element inet alerter v6_p22 { 2001:db8::7 timeout 2500ms }\n"
    )
    assert delete_script(ipaddress.ip_address("192.0.2.7"), ()) == (
        "delete element inet alerter v4 { 192.0.2.7 }\n"
    )
    assert set_name(4, (443, 22)) == "v4_p22_443"


def test_parse_elements_reads_nft_json_listing() -> None:
    listing = {
        "nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "alerter"}},
            {
                "set": {
                    "family": "inet",
                    "name": "v4",
                    "table": "alerter",
                    "elem": [{"elem": {"val": "192.0.2.7", "timeout": 600, "expires": 599}}],
                }
            },
            {
                "set": {
                    "family": "inet",
                    "name": "v6_p22",
                    "table": "alerter",
                    "elem": [{"elem": {"val": "2001:db8::7", "timeout": 60, "expires": 12}}],
                }
            },
            {"set": {"family": "inet", "name": "v6", "table": "alerter"}},
        ]
    }
    elems = parse_elements(json.loads(json.dumps(listing)))
    assert [(str(e.address), e.ports, e.expires) for e in elems] == [
        ("192.0.2.7", (), 599.0),
        ("2001:db8::7", (22,), 12.0),
    ]
