"""`alerter --help` names every command it has (its description is the module's docstring)."""

from __future__ import annotations

import argparse

from alerter.cli.main import build_parser


def test_help_names_every_command() -> None:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    described = parser.description or ""
    missing = [name for name in sub.choices if name not in described]
    assert len(sub.choices) >= 10
    assert missing == [], missing


def _parsers(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    out = {path: parser}
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                out.update(_parsers(sub, f"{path} {name}".strip()))
    return out


def test_every_config_option_is_spelt_and_told_alike() -> None:
    # DESIGN writes `-c FILE`; run and check showed CONFIG, and check, routes, notify and
    # replay said nothing of it
    shown = {
        path: (a.metavar, bool(a.help))
        for path, p in _parsers(build_parser()).items()
        for a in p._actions
        if "-c" in a.option_strings
    }
    assert len(shown) >= 12
    assert {path: v for path, v in shown.items() if v != ("FILE", True)} == {}


def test_every_option_and_argument_says_what_it_is() -> None:
    # `alerter run --help` listed --log-level bare; so were silence expire's ID, routes test's
    # LABEL=VALUE, bans del's ADDRESS and completion's shell
    bare = [
        f"{path} {a.option_strings or a.dest}"
        for path, p in _parsers(build_parser()).items()
        for a in p._actions
        if not a.help and not isinstance(a, argparse._SubParsersAction)
    ]
    assert bare == []
