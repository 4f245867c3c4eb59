"""Regexes written by users (rule files, collector parsers, matchers from config, the API and
silences), compiled so that no input can make a match take more than linear time, and so that
a pattern means one thing whichever engine runs it.

Python's `re` backtracks: `(a+)+$` takes exponential time on 30 bytes, and even `\\s+x` takes
quadratic time on a long run of spaces (each start position rescans the run). RE2 never
backtracks (linear in the text) but costs more per call from Python (~1 us against ~0.15 us
for a short value, 3.6 us against 0.9 us for an nginx line; core/re2engine.py). So a pattern runs in `re` only when `linear_in_re`
proves it linear there, and in RE2 otherwise.

Two dialects, each meaning one thing:
  * a rule's `match`/`exclude`, a parser's `pattern`, a multiline `start`, an http
    `body_regex`: Python's `re`, read with `re.ASCII` (`\\d \\w \\s \\b` and `(?i)` cover
    ASCII only). In RE2 such a pattern runs as core/re2translate.py rewrites it from `re`'s
    own parse tree, with the same matches and groups; where no rewrite is faithful the pattern
    is refused with what to write instead. A pattern `re` cannot read but RE2 can (`\\pL`,
    `\\z`) is RE2's, and only RE2 runs it. Refused in any engine: back references,
    lookaround, conditionals, possessive and atomic parts (RE2 has none), `(?u)`, and
    `[[:alpha:]]` (a POSIX class in RE2, a set and a `]` in Python: a trap either way).
  * matchers (`=~`, `!~`): Alertmanager's, Go's RE2 syntax anchored as `^(?:value)$`, and
    only RE2 runs them (rules/matchers.py).

The proof that a pattern is linear in `re` is core/linearity.py.
Shipped packs are trusted (`trusted=True`: compiled in `re` as written, without `re.ASCII`)
and their tests prove each pattern with the same function.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, cast

from alerter.core.linearity import linear_in_re, ops
from alerter.core.re2engine import Re2Pattern, build, compile_re2
from alerter.core.re2translate import DialectError, translate

_parser: Any = importlib.import_module("re._parser")

__all__ = ["UnsafePatternError", "compile_pattern", "derive", "is_re2", "linear_in_re"]


class UnsafePatternError(ValueError):
    """A pattern that cannot run in linear time; the message says what to change."""


_RE2_HINT = "patterns from config run in RE2 (linear time); rewrite without it"
_UNSUPPORTED = (  # (parse tree op, what the user wrote, how to find it in the text)
    ("GROUPREF", "backreference (\\1 or (?P=name))", r"\\[1-9]|\(\?P="),
    ("GROUPREF_EXISTS", "conditional group (?(name)...)", r"\(\?\("),
    ("ASSERT", "lookaround (?=...), (?<=...)", r"\(\?<?="),
    ("ASSERT_NOT", "negative lookaround (?!...), (?<!...)", r"\(\?<?!"),
    ("POSSESSIVE_REPEAT", "possessive quantifier (*+, ++, ?+, {m,n}+)", r"[*+?}]\+"),
    ("ATOMIC_GROUP", "atomic group (?>...)", r"\(\?>"),
)

# (pattern, flags) of shipped packs and of users' unchanged copies of theirs: derive() keeps re
_TRUSTED: set[tuple[str, int]] = set()


def compile_pattern(
    pattern: str, flags: int = 0, *, trusted: bool = False, linear: bool = False, shift: int = 0
) -> re.Pattern[str]:
    """Compile a Python-dialect pattern (see the module docstring) for `search`/`match`/
    `groupindex`: a `re` pattern when provably linear there (or `trusted`), else an RE2 one
    with the same meaning and interface (typed as `re.Pattern`: it serves the part of that
    interface the engine uses). `linear`: the pattern is known to be linear in `re` though
    `linear_in_re` cannot prove it (a shipped pack's, copied unchanged into a user's rule); it
    runs there, in this dialect (`re.ASCII`). Raises UnsafePatternError (a ValueError) saying
    what to change; `shift` is subtracted from the offsets it names."""
    if trusted:
        rx = re.compile(pattern, flags)
        _TRUSTED.add((rx.pattern, rx.flags))
        return rx
    _refuse_unsupported(pattern, flags, shift)
    try:
        rx = re.compile(pattern, flags | re.ASCII)
    except re.error as e:
        return cast(re.Pattern[str], _re2_only(pattern, flags, e))
    except ValueError:  # "ASCII and UNICODE flags are incompatible"
        raise UnsafePatternError(
            "(?u) is not supported: \\d \\w \\s \\b and (?i) cover ASCII only here; "
            "list other characters in a set, e.g. `[\\w\\u00c0-\\u024f]`"
        ) from None
    if linear:  # as a pack's: the forms the batch paths derive from it run in `re` too
        _TRUSTED.add((rx.pattern, rx.flags))
        return rx
    if linear_in_re(rx):
        return rx
    return cast(re.Pattern[str], python_in_re2(pattern, rx.flags))


def python_in_re2(pattern: str, flags: int = 0) -> Re2Pattern:
    """A Python-dialect pattern run by RE2 with `re`'s meaning (core/re2translate.py), whether
    or not `re` could run it in linear time. Raises UnsafePatternError."""
    try:
        t = translate(pattern, flags)
    except DialectError as e:
        raise UnsafePatternError(f"{e}. {_WHY_RE2}") from None
    try:
        return build(pattern, flags | re.ASCII, t.text, t.shape)
    except ValueError as e:
        raise UnsafePatternError(
            f"RE2 refuses the pattern {pattern!r} ({e}): rewrite it within RE2's limits "
            f"(repeat counts up to 1000). {_WHY_RE2}"
        ) from None


_WHY_RE2 = "(It runs in RE2 because Python's re could take more than linear time on it.)"


def is_re2(pattern: object) -> bool:
    return isinstance(pattern, Re2Pattern)


def derive(original: re.Pattern[str], pattern: str, flags: int) -> re.Pattern[str] | None:
    """A pattern derived from `original` for the engine's batch paths (the same with other
    flags, `[^\\n]*` appended, sets narrowed), or None when it must not run in `re`: the
    original runs in RE2, or the derived form is not provably linear."""
    if not isinstance(original, re.Pattern):
        return None
    try:
        rx = re.compile(pattern, flags)
    except re.error:
        return None
    if (original.pattern, original.flags) in _TRUSTED:
        _TRUSTED.add((rx.pattern, rx.flags))
        return rx
    return rx if linear_in_re(rx) else None


def _refuse_unsupported(pattern: str, flags: int, shift: int) -> None:
    try:
        parsed = _parser.parse(pattern, flags)
    except re.error:
        return  # not Python syntax: RE2 may read it (\pL), else re's error is reported
    found = ops(list(parsed))
    for op, what, where in _UNSUPPORTED:
        if op in found:
            m = re.search(where, pattern)
            at = f" (at offset {m.start() - shift})" if m else ""
            raise UnsafePatternError(f"{what} is not supported{at}: {_RE2_HINT}")
    posix = _posix_class(pattern)
    if posix is not None:
        name, offset = posix
        inner = _POSIX.get(name, "the characters meant")
        raise UnsafePatternError(
            f"`[:{name}:]` (at offset {offset - shift}) is not a class in Python's re, which "
            f"reads `[[:{name}:]]` as a set of the characters `[:{name}` followed by `]`: "
            f"write `{inner}` in its place, e.g. `[{inner}]`"
        )


# POSIX classes, as the ASCII ranges to write in a Python set
_POSIX = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": "\\s",
    "blank": " \\t",
    "xdigit": "0-9A-Fa-f",
    "word": "\\w",
    "punct": "!-/:-@\\[-`{-~",
    "cntrl": "\\x00-\\x1f\\x7f",
    "print": " -~",
    "graph": "!-~",
    "ascii": "\\x00-\\x7f",
}
_SETS = re.compile(r"\\.|\[\^?\]?((?:\\.|[^\]\\])*)\]", re.DOTALL)  # escapes, sets
_POSIX_TAIL = re.compile(r"\[:\^?([a-z]+):\Z")


def _posix_class(pattern: str) -> tuple[str, int] | None:
    """A set ending in `[:name:` (then closed by the `]` meant to close the POSIX class)."""
    for m in _SETS.finditer(pattern):
        body = m.group(1)
        p = _POSIX_TAIL.search(body) if body else None
        if p is not None:
            return p.group(1), m.start(1) + p.start()
    return None


# \Z (Python: the very end) is RE2's \z; an escaped backslash before it is left alone
_END_Z = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")
_RE2_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


def _re2_only(pattern: str, flags: int, why: re.error) -> Re2Pattern:
    """A pattern Python's re cannot read: RE2's, if RE2 reads it (not one naming a group
    twice, or with a name that is not one: RE2 takes those, and the labels would be wrong)."""
    if "group name" in why.msg:
        raise UnsafePatternError(f"invalid regex {pattern!r}: {why}")
    prefix = "".join(f for bit, f in _RE2_FLAGS if flags & bit)
    text = _END_Z.sub(r"\1\\z", pattern)
    try:
        return compile_re2(f"(?{prefix}){text}" if prefix else text, pattern, flags)
    except ValueError:
        raise UnsafePatternError(f"invalid regex {pattern!r}: {why}") from None
