"""`alerter silence add|ls|expire` and `alerter alerts`: clients of a running daemon's API
(Alertmanager's /api/v2 silences, Prometheus' /api/v1/alerts with the alerts' status from
/api/v2/alerts)."""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alerter.cli import argtypes
from alerter.cli.apiclient import APIClient, APIClientError
from alerter.core.yamlload import decode_source
from alerter.core.yamlsource import SourceError
from alerter.notifiers.console import printable
from alerter.notifiers.model import rfc3339

DEFAULT_URL = "http://127.0.0.1:9753"


def register(sub: Any) -> None:
    alerts = sub.add_parser("alerts", help="list a running daemon's alerts")
    client_args(alerts)
    alerts.add_argument(
        "matchers",
        nargs="*",
        type=argtypes.matcher,
        metavar="MATCHER",
        help='filter, e.g. severity="critical"',
    )
    alerts.add_argument("--json", action="store_true", help="print the API's JSON")
    alerts.set_defaults(func=cmd_alerts)

    silence = sub.add_parser("silence", help="add, list and expire silences")
    ssub = silence.add_subparsers(dest="silence_command", required=True, metavar="SUBCOMMAND")

    add = ssub.add_parser("add", help="silence the alerts all MATCHERs match")
    client_args(add)
    add.add_argument(
        "matchers",
        nargs="+",
        type=argtypes.matcher,
        metavar="MATCHER",
        help='e.g. alertname="HighCPU" host=~"web.*"',
    )
    add.add_argument("-m", "--comment", required=True, help="why (required)")
    add.add_argument("-a", "--author", default=_default_author(), help="who (default: user@host)")
    add.add_argument(
        "-d",
        "--duration",
        type=argtypes.duration,
        default="1h",
        help="how long (default 1h), e.g. 30m, 2h, 1d",
    )
    add.add_argument("--start", type=argtypes.time, help="RFC 3339 start time (default now)")
    add.add_argument("--end", type=argtypes.time, help="RFC 3339 end time (instead of --duration)")
    add.set_defaults(func=cmd_silence_add)

    ls = ssub.add_parser("ls", help="list silences")
    client_args(ls)
    ls.add_argument("--expired", action="store_true", help="include expired silences")
    ls.add_argument("-q", "--quiet", action="store_true", help="print IDs only")
    ls.add_argument("--json", action="store_true", help="print the API's JSON")
    ls.set_defaults(func=cmd_silence_ls)

    expire = ssub.add_parser("expire", help="end silences now")
    client_args(expire)
    expire.add_argument(
        "ids", nargs="+", metavar="ID", help="a silence's ID, as silence ls shows it"
    )
    expire.set_defaults(func=cmd_silence_expire)


def client_args(p: argparse.ArgumentParser) -> None:
    """--url, --token-file and -c/--config."""
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="the daemon's config: its server.listen and server.token_file say where and how",
    )
    p.add_argument("--url", help=f"the daemon's API (default {DEFAULT_URL}, or the config's)")
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="file holding the API bearer token (server.token_file)",
    )


def _default_author() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return "alerter-cli"


def client(args: argparse.Namespace) -> APIClient:
    url, token = args.url, None
    if args.config:
        url_c, token = client_settings(args.config)
        url = url or url_c
    if args.token_file:
        try:
            token = decode_source(Path(args.token_file).read_bytes(), args.token_file).strip()
        except OSError as e:
            raise APIClientError(
                f"cannot read --token-file {args.token_file}: {e.strerror}"
            ) from None
        except SourceError as e:
            raise APIClientError(f"--token-file {e}") from None
    return APIClient(url or DEFAULT_URL, token)


def client_settings(path: str) -> tuple[str, str | None]:
    """The API's URL and token as the daemon running with this config has them (its `server:`
    section: the rest of the file and its rule files need not be valid)."""
    from alerter.config.load import load_server_config
    from alerter.errors import ConfigError

    if Path(path).is_dir():
        raise APIClientError(f"-c {path}: a directory; give the daemon's config file")
    if not Path(path).exists():
        hint = (
            " (the comment of `silence add` is -m/--comment)"
            if not path.endswith((".yaml", ".yml"))
            else ""
        )
        raise APIClientError(f"-c {path}: no such config file{hint}")
    try:
        server = load_server_config(path)
    except ConfigError as e:
        raise APIClientError(
            f"-c {path}: cannot tell the daemon's address and token ({e.problems[0]}); "
            "give --url and --token-file instead"
        ) from None
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(server.host, server.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{server.port}", server.token


def _fail(e: Exception) -> int:
    print(f"alerter: {e}", file=sys.stderr)
    return 1


def cmd_silence_add(args: argparse.Namespace) -> int:
    matchers = args.matchers
    start = args.start if args.start is not None else time.time()
    end = args.end if args.end is not None else start + args.duration
    if end <= start:
        print(
            f"alerter silence add: --end {rfc3339(end)} is not after the start {rfc3339(start)}",
            file=sys.stderr,
        )
        return 2
    body = {
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in matchers
        ],
        "startsAt": rfc3339(start),
        "endsAt": rfc3339(end),
        "createdBy": args.author,
        "comment": args.comment,
    }
    try:
        out = client(args).post("/api/v2/silences", body, "silenceID")
    except APIClientError as e:
        return _fail(e)
    print(out["silenceID"])
    return 0


def cmd_silence_ls(args: argparse.Namespace) -> int:
    try:
        silences: list[dict[str, Any]] = client(args).get("/api/v2/silences", list)
    except APIClientError as e:
        return _fail(e)
    if not args.expired:
        silences = [s for s in silences if s["status"]["state"] != "expired"]
    if args.json:
        print(json.dumps(silences, indent=2))
        return 0
    if args.quiet:
        for s in silences:
            print(s["id"])
        return 0
    rows = [("ID", "STATE", "MATCHERS", "ENDS", "CREATED BY", "COMMENT")]
    for s in silences:
        rows.append(
            (
                s["id"],
                s["status"]["state"],
                _matchers_text(s["matchers"]),
                s["endsAt"],
                s["createdBy"],
                s["comment"],
            )
        )
    table(rows)
    return 0


def cmd_silence_expire(args: argparse.Namespace) -> int:
    try:
        api = client(args)
    except APIClientError as e:
        return _fail(e)
    rc = 0
    for sid in args.ids:
        try:
            api.delete(f"/api/v2/silence/{_quote(sid)}")
        except APIClientError as e:
            rc = _fail(e)
    return rc


def cmd_alerts(args: argparse.Namespace) -> int:
    from alerter.rules.alert import fingerprint
    from alerter.rules.matchers import matches_all

    matchers = args.matchers
    try:
        api = client(args)
        body: dict[str, Any] = api.get("/api/v1/alerts", "data")
        held: list[dict[str, Any]] = api.get("/api/v2/alerts", list)
    except APIClientError as e:
        return _fail(e)
    status = {a["fingerprint"]: a["status"] for a in held}
    alerts = [a for a in body["data"]["alerts"] if matches_all(matchers, a["labels"])]
    for a in alerts:
        st = status.get(fingerprint(a["labels"]), {})
        a["silencedBy"] = st.get("silencedBy", [])
        a["inhibitedBy"] = st.get("inhibitedBy", [])
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    rows = [("ALERTNAME", "STATE", "SINCE", "LABELS", "SUMMARY")]
    for a in alerts:
        state = (
            a["state"]
            + (" silenced" if a["silencedBy"] else "")
            + (" inhibited" if a["inhibitedBy"] else "")
        )
        labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()) if k != "alertname")
        rows.append(
            (
                a["labels"].get("alertname", ""),
                state,
                a["activeAt"],
                labels,
                a["annotations"].get("summary", ""),
            )
        )
    table(rows)
    return 0


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _matchers_text(ms: list[dict[str, Any]]) -> str:
    ops = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}
    return " ".join(
        f"{m['name']}{ops[(bool(m['isRegex']), bool(m.get('isEqual', True)))]}{json.dumps(m['value'])}"
        for m in ms
    )


def table(rows: Sequence[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell. Cells are log text and what API clients wrote
    (labels, summaries, comments): their control characters are shown escaped, so a terminal
    never interprets an escape sequence a log line carried."""
    rows = [tuple(printable(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
