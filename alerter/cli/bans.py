"""`alerter bans ls|add|del`: a running daemon's bans, through its API (`/api/v1/bans`)."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from alerter.cli import argtypes
from alerter.cli.apiclient import APIClientError
from alerter.cli.silence import _fail, client, client_args, table


def register(sub: Any) -> None:
    bans = sub.add_parser("bans", help="list, add and lift bans (type: ban actions)")
    bsub = bans.add_subparsers(dest="bans_command", required=True, metavar="SUBCOMMAND")

    ls = bsub.add_parser("ls", help="list the bans in force")
    client_args(ls)
    ls.add_argument("--all", action="store_true", help="every recorded ban, newest first")
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    ls.set_defaults(func=cmd_bans_ls)

    add = bsub.add_parser("add", help="ban ADDRESS now")
    client_args(add)
    add.add_argument(
        "address", type=argtypes.address, metavar="ADDRESS", help="one IPv4 or IPv6 address"
    )
    add.add_argument(
        "-d",
        "--duration",
        type=argtypes.ban_duration,
        default="10m",
        help="how long (default 10m), e.g. 1h",
    )
    add.add_argument(
        "-p",
        "--port",
        type=argtypes.port,
        action="append",
        dest="ports",
        metavar="PORT",
        help="only this port (repeat)",
    )
    add.add_argument("-m", "--comment", default="", help="why")
    add.set_defaults(func=cmd_bans_add)

    lift = bsub.add_parser("del", help="lift the ban on each ADDRESS now")
    client_args(lift)
    lift.add_argument(
        "addresses", nargs="+", metavar="ADDRESS", help="an address whose ban to lift"
    )
    lift.set_defaults(func=cmd_bans_del)


def cmd_bans_ls(args: argparse.Namespace) -> int:
    try:
        out = client(args).get("/api/v1/bans" + ("?all=true" if args.all else ""), "data")
    except APIClientError as e:
        return _fail(e)
    bans: list[dict[str, Any]] = out["data"]
    if args.json:
        print(json.dumps(bans, indent=2))
        return 0
    if not bans:
        print("no bans in force" if not args.all else "no bans recorded")
        return 0
    rows = [("ADDRESS", "ENDS AT", "LEFT", "PORTS", "ACTION", "WHY")]
    for b in bans:
        if b["remainingSeconds"]:
            left = f"{b['remainingSeconds']:.0f}s"
        else:
            left = "lifted" if b.get("liftedAt") else "ended"
        flag = " (dry run)" if b["dryRun"] else ""
        # a rule's ban: its alert; one by hand: its comment
        why = b["alertname"] or b["detail"] or ""
        ports = ",".join(map(str, b["ports"])) or "all"
        rows.append((b["address"], b["endsAt"][:19], left, ports, b["action"] + flag, why))
    table(rows)
    return 0


def cmd_bans_add(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"address": args.address, "duration": args.duration}
    if args.ports:
        body["ports"] = args.ports
    if args.comment:
        body["comment"] = args.comment
    try:
        out = client(args).post("/api/v1/bans", body, "data")
    except APIClientError as e:
        return _fail(e)
    b = out["data"]
    flag = " (dry run: not applied)" if b["dryRun"] else ""
    print(f"banned {b['address']} until {b['endsAt']}{flag}")
    return 0


def cmd_bans_del(args: argparse.Namespace) -> int:
    try:
        api = client(args)
    except APIClientError as e:
        return _fail(e)
    failed = 0
    for address in args.addresses:
        try:
            api.delete("/api/v1/bans/" + quote(address, safe=":"))
        except APIClientError as e:
            _fail(e)
            failed += 1
            continue
        print(f"lifted {address}")
    return 1 if failed else 0
