"""The `alerter` command line: run, check, status, test, replay, alerts, silence, routes, notify, bans,
completion, version."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from alerter import __version__
from alerter.cli import argtypes
from alerter.core.values import counted
from alerter.core.yamlsource import in_file_order
from alerter.errors import ConfigError, StateError
from alerter.runtime.logsetup import LEVELS, configure_logging

DEFAULT_URL = "http://127.0.0.1:9753"


def cmd_run(args: argparse.Namespace) -> int:
    from alerter.config.load import load_config
    from alerter.runtime.daemon import Daemon

    configure_logging(args.log_format, args.log_level)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(
            f"alerter: invalid config, not starting ({counted(len(e.problems), 'problem')}):",
            file=sys.stderr,
        )
        for p in e.problems:
            print(p, file=sys.stderr)
        return 1
    try:
        daemon = Daemon(args.config, config, dry_run=args.dry_run)
    except (StateError, OSError) as e:
        print(f"alerter: cannot start: {e}", file=sys.stderr)
        return 1
    daemon.install_signal_handlers()
    return daemon.run()


NOTES_SHOWN = 20  # `alerter check` prints this many notes, then how many more there are


def cmd_check(args: argparse.Namespace) -> int:
    from alerter.config.load import load_config

    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        # problems and the warnings found beside them, in file order
        for p in in_file_order((*e.problems, *e.warnings)):
            print(p)
        return 1
    # Warnings (e.g. a literal target unit an action acts on) are printed, never fail the check.
    warnings = cfg.all_warnings()
    for w in warnings:
        print(w)
    notes = in_file_order(cfg.notes)
    for n in notes[:NOTES_SHOWN]:
        print(n)
    if len(notes) > NOTES_SHOWN:
        more = counted(len(notes) - NOTES_SHOWN, "more note")
        print(f"... and {more} of regexes that run in RE2")
    nrules = sum(len(getattr(g, "rules", ())) for g in cfg.rules.groups)
    print(
        f"{cfg.path}: OK: {counted(len(cfg.collectors), 'collector')}, "
        f"{counted(len(cfg.rules.groups), 'rule group')} ({counted(nrules, 'rule')}), "
        f"{counted(len(cfg.notifiers), 'notifier')}, {counted(len(cfg.actions), 'action')}"
        + (f", {counted(len(warnings), 'warning')}" if warnings else "")
        + (f", {counted(len(cfg.notes), 'note')}" if cfg.notes else "")
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from alerter.cli.apiclient import APIClientError
    from alerter.cli.silence import client

    try:
        data: Any = client(args).get("/api/v1/status", "data")
    except APIClientError as e:
        print(f"alerter: {e}", file=sys.stderr)
        return 1
    s = data["data"]
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"alerter {s['version']}  up {s['uptime_seconds']}s  config {s['config']}")
    print(f"collectors: {', '.join(s['collectors']) or '-'}")
    for name, late in (s.get("late_lines") or {}).items():
        rules = late.get("too_old_for") or "every rule"
        print(f"collector {name}: {late['lines']} live lines too old for {rules}: {late['hint']}")
    print(
        f"rule groups: {s['rule_groups']}  firing: {s['alerts']['firing']}  pending: {s['alerts']['pending']}"
    )
    if s.get("dry_run"):
        print("DRY RUN: actions are decided and logged, never executed")
    if s.get("last_reload_error"):
        print(f"last reload FAILED: {s['last_reload_error']}")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(f"alerter {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alerter", description=__doc__)
    parser.add_argument("--version", action="version", version=f"alerter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    argtypes.config_option(run)
    run.add_argument(
        "--dry-run", action="store_true", help="decide and log actions, never execute them"
    )
    run.add_argument(
        "--log-format", choices=("json", "console"), help="default: console on a TTY, else json"
    )
    run.add_argument("--log-level", choices=LEVELS, default="info", help="default: info")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate config, rule files, templates")
    argtypes.config_option(check)
    check.set_defaults(func=cmd_check)

    status = sub.add_parser("status", help="show a running daemon's status")
    from alerter.cli.silence import client_args

    client_args(status)
    status.add_argument("--json", action="store_true", help="print the API's JSON")
    status.set_defaults(func=cmd_status)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)

    from alerter.cli import bans as cli_bans
    from alerter.cli import completion as cli_completion
    from alerter.cli import routes as cli_routes
    from alerter.cli import rules as cli_rules
    from alerter.cli import silence as cli_silence

    cli_rules.register(sub)
    cli_silence.register(sub)
    cli_routes.register(sub)
    cli_bans.register(sub)
    cli_completion.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = int(args.func(args))
        sys.stdout.flush()  # (here, where a closed pipe is caught, not at exit)
        return rc
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `alerter ... | head`: the reader has gone. End as a program killed by SIGPIPE ends in
        # the shell (141), quietly: stdout goes nowhere, so the exit's flush has nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
