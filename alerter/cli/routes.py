"""`alerter routes show|test` (the route tree, and which receivers a label set reaches, like
`amtool config routes`) and `alerter notify test RECEIVER` (one synthetic alert sent through a
receiver, to check its URL and credentials). Both read the config only; no daemon is needed."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence

from alerter.cli import argtypes
from alerter.config.load import Config, load_config
from alerter.dispatch.config import RouteConfig
from alerter.dispatch.routing import match_routes
from alerter.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    routes = sub.add_parser("routes", help="show the route tree, or test where labels go")
    rsub = routes.add_subparsers(dest="routes_command", required=True, metavar="COMMAND")
    show = rsub.add_parser("show", help="print the route tree")
    argtypes.config_option(show)
    show.set_defaults(func=cmd_routes_show)
    test = rsub.add_parser(
        "test", help="print the receivers an alert with these labels reaches (amtool style)"
    )
    argtypes.config_option(test)
    test.add_argument("--tree", action="store_true", help="print the tree, marking the matches")
    test.add_argument(
        "--verify-receivers",
        metavar="R1,R2",
        help="exit 1 unless exactly these receivers are reached",
    )
    test.add_argument(
        "labels",
        nargs="+",
        metavar="LABEL=VALUE",
        help="a label of the alert, e.g. severity=critical",
    )
    test.set_defaults(func=cmd_routes_test)

    notify = sub.add_parser("notify", help="send a test notification")
    nsub = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    ntest = nsub.add_parser("test", help="send one synthetic alert through RECEIVER")
    ntest.add_argument("receiver", metavar="RECEIVER", help="a notifier's name")
    argtypes.config_option(ntest)
    ntest.add_argument(
        "--resolved", action="store_true", help="send it as resolved (for send_resolved checks)"
    )
    ntest.set_defaults(func=cmd_notify_test)


def _config(path: str | None) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as e:
        for p in e.problems:
            print(p, file=sys.stderr)
        return None


def parse_labels(items: Sequence[str]) -> dict[str, str]:
    """`a=b` pairs; a value may be quoted as in amtool (`severity="critical"`)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{item!r}: expected LABEL=VALUE")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[name.strip()] = value
    return out


def receivers(route: RouteConfig, labels: Mapping[str, str]) -> list[str]:
    """The receivers of the matching routes, in tree order, each once (amtool's output)."""
    return list(dict.fromkeys(r.receiver for r in match_routes(route, labels)))


def tree_lines(
    route: RouteConfig, mark: Callable[[RouteConfig], bool] = lambda r: False
) -> list[str]:
    """The tree as amtool prints it: `└── {matchers}  receiver: NAME`; marked routes get `*`."""
    lines: list[str] = []

    def describe(r: RouteConfig) -> str:
        what = "default-route" if r.id == "0" else "{" + ", ".join(str(m) for m in r.matchers) + "}"
        extra = ""
        if r.continue_:
            extra += "  continue: true"
        if r.mute_time_intervals:
            extra += f"  mute: {','.join(r.mute_time_intervals)}"
        if r.active_time_intervals:
            extra += f"  active: {','.join(r.active_time_intervals)}"
        star = "* " if mark(r) else ""
        return f"{star}{what}  receiver: {r.receiver}{extra}"

    def walk(r: RouteConfig, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{describe(r)}")
        child_prefix = prefix + ("    " if last else "│   ")
        for i, c in enumerate(r.routes):
            walk(c, child_prefix, i == len(r.routes) - 1)

    walk(route, "", True)
    return ["Routing tree:", *lines]


def cmd_routes_show(args: argparse.Namespace) -> int:
    cfg = _config(args.config)
    if cfg is None:
        return 1
    print("\n".join(tree_lines(cfg.route)))
    return 0


def cmd_routes_test(args: argparse.Namespace) -> int:
    cfg = _config(args.config)
    if cfg is None:
        return 1
    try:
        labels = parse_labels(args.labels)
    except ValueError as e:
        print(f"alerter routes test: {e}", file=sys.stderr)
        return 2
    matched = match_routes(cfg.route, labels)
    got = receivers(cfg.route, labels)
    if args.tree:
        ids = {r.id for r in matched}
        print("\n".join(tree_lines(cfg.route, lambda r: r.id in ids)))
    print(",".join(got))
    if args.verify_receivers is not None:
        want = [x for x in args.verify_receivers.split(",") if x]
        if sorted(want) != sorted(got):
            print(
                f"WARNING: expected receivers {','.join(want)}, got {','.join(got)}",
                file=sys.stderr,
            )
            return 1
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    from alerter import __version__
    from alerter.notifiers import build_notifier, delivery
    from alerter.notifiers.model import Notification, NotifiedAlert, labelset_str
    from alerter.rules.alert import fingerprint
    from alerter.runtime.wiring import SystemClock

    cfg = _config(args.config)
    if cfg is None:
        return 1
    by_name = {n.name: n for n in cfg.notifiers}
    nc = by_name.get(args.receiver)
    if nc is None:
        print(
            f"alerter notify test: no receiver named {args.receiver!r} "
            f"(have: {', '.join(sorted(by_name))})",
            file=sys.stderr,
        )
        return 2
    now = time.time()
    labels = {"alertname": "AlerterTestNotification", "severity": "info", "test": "true"}
    alert = NotifiedAlert(
        status="resolved" if args.resolved else "firing",
        labels=labels,
        annotations={
            "summary": "Test notification from alerter",
            "description": f"Sent by `alerter notify test {args.receiver}`; nothing is wrong.",
        },
        starts_at=now,
        ends_at=now if args.resolved else None,
        fingerprint=fingerprint(labels),
    )
    group = {"alertname": labels["alertname"]}
    note = Notification(
        receiver=nc.name,
        group_key=f'{{}}/{{test="true"}}:{labelset_str(group)}',
        group_labels=group,
        alerts=(alert,),
        time=now,
        external_url=cfg.global_.external_url or f"http://127.0.0.1:{cfg.server.port}",
    )
    with delivery.Session() as session:
        session.headers["User-Agent"] = f"alerter/{__version__}"
        notifier = build_notifier(nc, session, SystemClock())
        try:
            notifier.send(note)
        except Exception as e:  # what the receiver said is the whole point of the command
            print(f"alerter notify test: {nc.name} ({nc.type}) FAILED: {e}", file=sys.stderr)
            return 1
    print(f"alerter notify test: sent a test alert to {nc.name} ({nc.type})")
    return 0
