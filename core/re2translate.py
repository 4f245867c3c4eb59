"""A Python `re` pattern (read with `re.ASCII`) rewritten for RE2 so that it means the same.

RE2 and `re` read the same text differently in places: `\\s` (RE2 leaves out `\\v`), `$`
(`re` also matches before a final newline), `{,n}` (literal text in RE2), `[[:alpha:]]` (a
POSIX class in RE2, a set and a `]` in `re`), `(?i)` (RE2 folds case over all of Unicode, so
`(?i)k` matches the Kelvin sign; `re.ASCII` folds A-Z only), `\\B` (RE2 matches the empty text),
`\\Z` (RE2's `\\z`). So the rewrite does not touch the text: it reads `re`'s own parse tree
(`re._parser`, where every escape, octal, `{,n}` and flag is already resolved) and writes each
node in terms RE2 reads one way only:

  * every character, set, category and `.` as an explicit set of code points, computed with
    `re.ASCII`'s meaning (categories are ASCII, case folding pairs A-Z with a-z only);
    `(?i)` is applied here, so RE2 never folds;
  * `^`, `\\A`, `\\Z`, `\\b`, `\\B` and `$` under `(?m)` as their RE2 equivalents;
  * `$` without `(?m)` where nothing follows it as `(?:\\z|(\\n)\\z)`: the group marks a final
    newline taken, and core/re2engine.py ends the match (and any group ending there) before
    it. Where something follows `$`, no rewrite is faithful: refused, with what to write;
  * groups unnamed, each Python group given its RE2 number (the markers add groups);
  * `\\B` as never matching in a second program for the empty text (Python's `\\B` fails
    there; since 3.14 it matches, and this follows the running Python).

Constructs RE2 lacks (back references, lookaround, conditionals, possessive and atomic
repeats) are refused before (core/saferegex.py). A repeat of more than one turn whose body can
match the empty string is refused too: `re` ends the repeat at an empty turn and RE2 goes on
(`(?::*|.)*` on ":0": `re` ":", RE2 ":0"; `(a|)*` on "aa": group 1 is "" in `re`, "a" in RE2).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from alerter.core.re2engine import Shape

_parser: Any = importlib.import_module("re._parser")
_MAXREPEAT = int(_parser.MAXREPEAT)
_TOP = 0x10FFFF

__all__ = ["DialectError", "Translation", "translate"]


class DialectError(ValueError):
    """A Python pattern with no faithful RE2 form; the message says what to write instead."""


Ranges = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive

_DIGIT: Ranges = ((0x30, 0x39),)
_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
_SPACE: Ranges = ((0x09, 0x0D), (0x20, 0x20))
_SURROGATES = (0xD800, 0xDFFF)
_B_ON_EMPTY = re.search(r"\B", "") is not None  # Python 3.14 changed it


def _norm(ranges: list[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(ranges: Ranges) -> Ranges:
    out, at = [], 0
    for lo, hi in ranges:
        if lo > at:
            out.append((at, lo - 1))
        at = hi + 1
    if at <= _TOP:
        out.append((at, _TOP))
    return tuple(out)


def _fold(ranges: Ranges) -> Ranges:
    """With each ASCII letter, its other case (what `re.ASCII | re.IGNORECASE` matches)."""
    extra = []
    for lo, hi in ranges:
        for a, b, shift in ((0x41, 0x5A, 32), (0x61, 0x7A, -32)):
            if lo <= b and hi >= a:
                extra.append((max(lo, a) + shift, min(hi, b) + shift))
    return _norm([*ranges, *extra])


_CATEGORIES: dict[str, Ranges] = {
    "CATEGORY_DIGIT": _DIGIT,
    "CATEGORY_NOT_DIGIT": _complement(_DIGIT),
    "CATEGORY_WORD": _WORD,
    "CATEGORY_NOT_WORD": _complement(_WORD),
    "CATEGORY_SPACE": _SPACE,
    "CATEGORY_NOT_SPACE": _complement(_SPACE),
}


def _char(c: int) -> str:
    ch = chr(c)
    return ch if ch.isascii() and ch.isalnum() else f"\\x{{{c:x}}}"


def _set_text(ranges: Ranges) -> str:
    parts = []
    for lo, hi in ranges:  # RE2 reads UTF-8, where surrogates cannot be: left out
        if lo <= _SURROGATES[1] and hi >= _SURROGATES[0]:
            if lo < _SURROGATES[0]:
                parts.append((lo, _SURROGATES[0] - 1))
            if hi > _SURROGATES[1]:
                parts.append((_SURROGATES[1] + 1, hi))
        else:
            parts.append((lo, hi))
    if not parts:
        return f"[^\\x00-\\x{{{_TOP:x}}}]"  # matches nothing
    if len(parts) == 1 and parts[0][0] == parts[0][1]:
        return _char(parts[0][0])
    inner = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in parts)
    return f"[{inner}]"


@dataclass(frozen=True, slots=True)
class Translation:
    """The RE2 text of a Python pattern, and how its groups stand for the pattern's."""

    text: str
    shape: Shape


def translate(pattern: str, flags: int = 0, *, ends_at_z: bool = False) -> Translation:
    """`pattern` as `re.compile(pattern, flags | re.ASCII)` reads it, in RE2 text. Raises
    DialectError (or re.error for a pattern `re` refuses). `ends_at_z`: `$` at the end
    as RE2's `\\z` (for a caller that wants the text and no markers)."""
    parsed = _parser.parse(pattern, flags | re.ASCII)
    state = parsed.state
    names = {num: name for name, num in state.groupdict.items()}
    w = _Writer(pattern, ends_at_z)
    text = w.seq(list(parsed), int(state.flags), final=True)
    own = state.groups - 1
    numbers = tuple(w.numbers[g] for g in range(1, own + 1))
    empty_text, whole = None, None
    if w.non_boundary and not _B_ON_EMPTY:
        empty = _Writer(pattern, ends_at_z, never_b=True)
        empty_text = empty.seq(list(parsed), int(state.flags), final=True)
    if w.markers:  # fullmatch: the whole text, so `$` at its very end
        t = translate(pattern, flags, ends_at_z=True)
        whole = (t.text, t.shape)
    shape = Shape(
        own,
        {name: num for num, name in names.items()},
        None if w.count == own else numbers,  # no group of its own: the same numbers
        tuple(w.markers),
        empty_text,
        whole,
    )
    return Translation(text, shape)


class _Writer:
    def __init__(self, pattern: str, ends_at_z: bool, never_b: bool = False) -> None:
        self.pattern = pattern
        self.ends_at_z = ends_at_z
        self.never_b = never_b
        self.count = 0  # RE2 groups written so far
        self.numbers: dict[int, int] = {}  # Python group -> RE2 group
        self.markers: list[int] = []
        self.non_boundary = False
        self.dollars = 0  # `$` nodes seen, to point at the one refused

    def seq(self, items: list[Any], flags: int, final: bool) -> str:
        last = len(items) - 1
        return "".join(
            self.item(str(op), arg, flags, final and i == last) for i, (op, arg) in enumerate(items)
        )

    def item(self, op: str, arg: Any, flags: int, final: bool) -> str:
        if op in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            return _set_text(_charset(op, arg, flags))
        if op == "AT":
            return self.at(str(arg), flags, final)
        if op == "SUBPATTERN":
            group, add, dele, sub = arg
            inner_flags = (flags | int(add)) & ~int(dele)
            if group is None:
                return f"(?:{self.seq(list(sub), inner_flags, final)})"
            self.count += 1
            self.numbers[int(group)] = self.count
            return f"({self.seq(list(sub), inner_flags, final)})"
        if op == "BRANCH":
            return "(?:" + "|".join(self.seq(list(a), flags, final) for a in arg[1]) + ")"
        if op in ("MAX_REPEAT", "MIN_REPEAT"):
            return self.repeat(op, arg, flags, final)
        raise DialectError(f"{op.lower().replace('_', ' ')} has no RE2 form")

    def repeat(self, op: str, arg: Any, flags: int, final: bool) -> str:
        lo, hi, sub = int(arg[0]), int(arg[1]), list(arg[2])
        if hi > 1 and _nullable(sub):
            raise DialectError(
                "a repeated part that can match the empty string (such as `(?:a|b?)*` or "
                "`(a*)+`) ends the repeat at an empty turn in Python's re and not in RE2: "
                "make the repeated part match at least one character, e.g. `(?:a|b)*` or `(a+)*`"
            )
        body = self.seq(sub, flags, final and hi <= 1)
        if hi == _MAXREPEAT:
            q = {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
        elif lo == hi:
            q = f"{{{lo}}}"
        else:
            q = "?" if (lo, hi) == (0, 1) else f"{{{lo},{hi}}}"
        return f"(?:{body}){q}{'?' if op == 'MIN_REPEAT' else ''}"

    def at(self, at: str, flags: int, final: bool) -> str:
        if at == "AT_BEGINNING":
            return "(?m:^)" if flags & re.MULTILINE else "\\A"
        if at == "AT_BEGINNING_STRING":
            return "\\A"
        if at == "AT_END_STRING":
            return "\\z"
        if at == "AT_BOUNDARY":
            return "\\b"
        if at == "AT_NON_BOUNDARY":
            self.non_boundary = True
            return "[^\\x00-\\x{10ffff}]" if self.never_b else "\\B"
        if at == "AT_END":
            self.dollars += 1
            if flags & re.MULTILINE:
                return "(?m:$)"
            if not final:
                raise DialectError(
                    f"`$`{_where(self.pattern, self.dollars)} is followed by more of the "
                    "pattern: Python's `$` also matches before a final newline, which RE2 "
                    "cannot do there; rewrite it as `\\Z` (the end of the text) or `(?m:$)` "
                    "(the end of any line)"
                )
            if self.ends_at_z:
                return "\\z"
            self.count += 1
            self.markers.append(self.count)
            return "(?:\\z|(\\n)\\z)"
        raise DialectError(f"the anchor {at} has no RE2 form")


def _charset(op: str, arg: Any, flags: int) -> Ranges:
    fold = bool(flags & re.IGNORECASE)
    if op == "ANY":
        return ((0, _TOP),) if flags & re.DOTALL else _complement(((10, 10),))
    if op in ("LITERAL", "NOT_LITERAL"):
        one: Ranges = ((arg, arg),)
        one = _fold(one) if fold else one
        return one if op == "LITERAL" else _complement(one)
    items = list(arg)
    negate = bool(items) and str(items[0][0]) == "NEGATE"
    acc: list[tuple[int, int]] = []
    for iop, iarg in items[1:] if negate else items:
        name = str(iop)
        if name == "LITERAL":
            acc.append((iarg, iarg))
        elif name == "RANGE":
            acc.append((iarg[0], iarg[1]))
        elif name == "CATEGORY":
            acc.extend(_CATEGORIES[str(iarg)])
        else:
            raise DialectError(f"the set item {name} has no RE2 form")
    ranges = _norm(acc)
    ranges = _fold(ranges) if fold else ranges
    return _complement(ranges) if negate else ranges


def _nullable(items: list[Any]) -> bool:
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            return False
        if name == "SUBPATTERN" and not _nullable(list(arg[3])):
            return False
        if name == "BRANCH" and not any(_nullable(list(a)) for a in arg[1]):
            return False
        if name in ("MAX_REPEAT", "MIN_REPEAT") and int(arg[0]) > 0 and not _nullable(list(arg[2])):
            return False
    return True


def _has_group(items: list[Any]) -> bool:
    for op, arg in items:
        name = str(op)
        if name == "SUBPATTERN" and (arg[0] is not None or _has_group(list(arg[3]))):
            return True
        if name == "BRANCH" and any(_has_group(list(a)) for a in arg[1]):
            return True
        if name in ("MAX_REPEAT", "MIN_REPEAT") and _has_group(list(arg[2])):
            return True
    return False


_DOLLAR = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]?|(\$)", re.DOTALL)  # sets skipped, roughly


def _where(pattern: str, nth: int) -> str:
    """ " (at offset N)" for the nth `$` of the text, when the text shows it."""
    at = [m.start(1) for m in _DOLLAR.finditer(pattern) if m.group(1)]
    return f" (at offset {at[nth - 1]})" if len(at) >= nth else ""
