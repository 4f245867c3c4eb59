"""Argument types of the client commands: a value the command line cannot take is refused by
argparse before anything is sent, naming its option, with the usage and exit status 2 (as a
missing argument is), in the words the config's checks use for the same mistake."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

from alerter.core.values import parse_duration
from alerter.rules.matchers import Matcher, parse_matcher

T = TypeVar("T")


def _told(parse: Callable[[str], T], name: str) -> Callable[[str], T]:
    """`parse` with its ValueError's message kept (argparse would say `invalid ... value`)."""

    def typed(text: str) -> T:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    typed.__name__ = name
    return typed


def _positive_duration(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r}: must be more than 0s")
    return seconds


def _ban_duration(text: str) -> float:
    from alerter.actions.banconfig import ban_seconds

    seconds = parse_duration(text)
    try:
        return ban_seconds(seconds)
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None


def _time(text: str) -> float:
    from alerter.dispatch.silences import parse_time

    try:
        return parse_time(text, "time")
    except ValueError as e:  # (said of --start or --end: argparse names the option)
        raise ValueError(str(e).removeprefix("time: ")) from None


def _port(text: str) -> int:
    from alerter.actions.banconfig import port_number

    return port_number(int(text) if text.isascii() and text.isdigit() else text)


def _address(text: str) -> str:
    from alerter.actions.banaddr import parse_address

    parse_address(text)
    return text


duration = _told(_positive_duration, "duration")
ban_duration = _told(_ban_duration, "duration")
time = _told(_time, "time")
matcher: Callable[[str], Matcher] = _told(parse_matcher, "matcher")
port = _told(_port, "port")
address = _told(_address, "address")


CONFIG_HELP = "config file (default /etc/alerter/config.yaml, else the built-in one)"


def config_option(p: argparse.ArgumentParser, required: bool = False) -> None:
    """`-c/--config FILE`, the one spelling every command has (DESIGN: `-c FILE`)."""
    p.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        required=required,
        help="config file" if required else CONFIG_HELP,
    )
