"""`alerter test` (rule unit tests), and the registration of `alerter replay` (its own module,
alerter/cli/replay.py). Both drive the same pure engine as the daemon."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from alerter.cli import replay
from alerter.config.rulefiles import no_pack, shipped_patterns
from alerter.core.values import counted
from alerter.core.yamlload import decode_source
from alerter.core.yamlsource import MapReader, Node, SourceError
from alerter.rules.ruletest import LineParser, run_test_file


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = sub.add_parser("test", help="run rule unit tests (promtool's format plus input_logs)")
    test.add_argument(
        "files", nargs="+", metavar="FILE", help="a rule test file (rule_files:, tests:)"
    )
    test.set_defaults(func=cmd_test)

    replay.register(sub)


# --- alerter test ------------------------------------------------------------------------------


def _rule_file_reader(base: Path) -> Any:
    def read(name: str) -> tuple[str, str]:
        if name.startswith("builtin:"):
            pack = name.removeprefix("builtin:")
            res = resources.files("alerter.rules").joinpath("packs", f"{pack}.yaml")
            if not res.is_file():
                raise ValueError(no_pack(pack))
            return name, res.read_text()
        path = Path(name) if Path(name).is_absolute() else base / name
        return str(path), decode_source(path.read_bytes(), str(path))

    return read


def _parse_line(r: MapReader) -> LineParser | None:
    """`parser:` of input_logs as a file collector reads it: a type (`parser: syslog`), or the
    mapping with its options (`{type: regex, pattern: ..., time_field: ..., time_format: ...}`)."""
    from alerter.collectors.parsers import PARSER_TYPES, make_parser
    from alerter.config.collectors import read_parser

    node = r.raw("parser")
    if node is not None and isinstance(node.value, dict):
        cfg = read_parser(r.map("parser"))
    else:
        ptype = r.choice("parser", PARSER_TYPES)
        if ptype is None:
            return None
        mark = node.mark if node is not None else r.mark
        holder = Node({"type": Node(ptype, mark)}, mark)
        cfg = read_parser(MapReader(holder, r.problems, "parser"))
    if cfg is None:
        return None
    parser = make_parser(cfg)
    return lambda line: parser.parse(line)[0]


def cmd_test(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = sys.stdout if out is None else out  # (looked up at the call: a test may replace it)
    ok = True
    total = 0
    for f in args.files:
        try:
            text = decode_source(Path(f).read_bytes(), f)
            result = run_test_file(
                f, text, _rule_file_reader(Path(f).parent), _parse_line, shipped_patterns()
            )
        except SourceError as e:
            print(str(e), file=out)
            ok = False
            continue
        except OSError as e:
            print(f"{f}: cannot read test file: {e.strerror}", file=out)
            ok = False
            continue
        total += result.tests
        for failure in result.failures:
            print(failure, file=out)
        ok = ok and result.ok
        status = "SUCCESS" if result.ok else f"FAILED ({counted(len(result.failures), 'check')})"
        print(f"{f}: {counted(result.tests, 'test')}: {status}", file=out)
    return 0 if ok else 1
