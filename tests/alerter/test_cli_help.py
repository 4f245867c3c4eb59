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
