"""Regexes written by users (rule files, collector parsers, matchers from config, the API and
silences), compiled so that no input can make a match take more than linear time.

Python's `re` backtracks: `(a+)+$` takes exponential time on 30 bytes, and even `\\s+x` takes
quadratic time on a long run of spaces (each start position rescans the run). RE2 never
backtracks (linear in the text) but costs 10-30x more per call from Python. So a user pattern
runs in `re` only when `linear_in_re` proves it linear there, and in RE2 otherwise; either way
its syntax is RE2's (a pattern RE2 refuses is refused) and `\\d \\w \\s \\b` are ASCII, as in RE2,
so a pattern means the same whichever engine runs it.

The proof (`linear_in_re`, over the parse tree of `re._parser`), conservative:
  * no back references, lookaround, possessive or atomic parts;
  * a repeat of variable length and more than one turn (`x*`, `x+`, `x{1,9}`) repeats a
    fixed-width body without alternation, and the next character the pattern must match after
    it cannot be one the body starts with: the repeat takes its longest run and giving any of
    it back fails at once, so each run is scanned O(1) times per attempt;
  * the product of the choices (alternatives, optional parts) is small;
  * the attempts from different start positions do not rescan the same text: the pattern is
    anchored at the text's start, or one of its leading characters (at a fixed offset) cannot
    be consumed by any unbounded repeat, so a position is covered by a bounded number of
    attempts. A final greedy `x*` is exempt: it is entered only by an attempt that succeeds.
Shipped packs are trusted (`trusted=True`: compiled in `re` as written) and their tests prove
each pattern with the same function.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, cast

import re2  # type: ignore[import-untyped]

_parser: Any = importlib.import_module("re._parser")
_MAXREPEAT = int(_parser.MAXREPEAT)
_BIG = 1000  # a bounded repeat longer than this counts as unbounded
_MAX_WAYS = 256  # choice points an attempt may try (alternatives x optional parts)

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

_TRUSTED: set[tuple[str, int]] = set()  # (pattern, flags) of shipped packs: derive() keeps re


def compile_pattern(
    pattern: str, flags: int = 0, *, trusted: bool = False, shift: int = 0
) -> re.Pattern[str]:
    """Compile a pattern for `search`/`match`/`finditer`/`findall`/`groupindex`: a `re`
    pattern when provably linear there (or `trusted`), else an RE2 one with the same interface
    (typed as `re.Pattern`: it serves the part of that interface the engine uses). Raises
    UnsafePatternError (a ValueError) saying what to change."""
    if trusted:
        rx = re.compile(pattern, flags)
        _TRUSTED.add((rx.pattern, rx.flags))
        return rx
    _refuse_unsupported(pattern, flags, shift)
    r2 = _re2_compile(pattern, flags)
    try:
        rx = re.compile(pattern, flags | re.ASCII)
    except re.error:  # RE2-only syntax (\z, \pL, [[:alpha:]]): RE2 runs it
        return cast(re.Pattern[str], r2)
    if linear_in_re(rx):
        return rx
    return cast(re.Pattern[str], r2)


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
        return  # RE2 judges it (and says what is wrong)
    ops = _ops(list(parsed))
    for op, what, where in _UNSUPPORTED:
        if op in ops:
            m = re.search(where, pattern)
            at = f" (at offset {m.start() - shift})" if m else ""
            raise UnsafePatternError(f"{what} is not supported{at}: {_RE2_HINT}")
    if parsed.state.flags & re.VERBOSE:
        raise UnsafePatternError(f"verbose mode (?x) is not supported: {_RE2_HINT}")


def _ops(items: list[Any]) -> set[str]:
    out: set[str] = set()
    for op, arg in items:
        name = str(op)
        out.add(name)
        if name == "SUBPATTERN":
            out |= _ops(list(arg[3]))
        elif name == "BRANCH":
            for alt in arg[1]:
                out |= _ops(list(alt))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            out |= _ops(list(arg[2]))
        elif name == "ATOMIC_GROUP":
            out |= _ops(list(arg))
        elif name in ("ASSERT", "ASSERT_NOT"):
            out |= _ops(list(arg[1]))
        elif name == "GROUPREF_EXISTS":
            out |= _ops(list(arg[1])) | (_ops(list(arg[2])) if arg[2] else set())
    return out


# \Z (Python: the very end) is RE2's \z; an escaped backslash before it is left alone
_END_Z = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")


def _re2_compile(pattern: str, flags: int) -> Re2Pattern:
    prefix = "".join(
        f for bit, f in ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s")) if flags & bit
    )
    text = _END_Z.sub(r"\1\\z", pattern)
    opts = re2.Options()
    opts.log_errors = False
    try:
        rx = re2.compile(f"(?{prefix}){text}" if prefix else text, opts)
    except re2.error as e:
        raise UnsafePatternError(f"invalid regex {pattern!r} for RE2 ({e}): {_RE2_HINT}") from None
    return Re2Pattern(pattern, flags, rx)


class Re2Pattern:
    """An RE2 pattern with the interface of `re.Pattern` the engine and parsers use; pickles
    (for the scan helper) by recompiling."""

    __slots__ = ("_rx", "flags", "groupindex", "groups", "pattern")

    def __init__(self, pattern: str, flags: int, rx: Any) -> None:
        self.pattern = pattern
        self.flags = flags
        self._rx = rx
        self.groupindex: dict[str, int] = dict(rx.groupindex)
        self.groups: int = rx.groups

    def search(self, string: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._rx.search(string, pos, endpos)

    def match(self, string: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._rx.match(string, pos, endpos)

    def fullmatch(self, string: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._rx.fullmatch(string, pos, endpos)

    def finditer(self, string: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._rx.finditer(string, pos, endpos)

    def findall(self, string: str, pos: int = 0, endpos: int | None = None) -> list[Any]:
        return list(self._rx.findall(string, pos, endpos))

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return (_re2_compile, (self.pattern, self.flags))

    def __repr__(self) -> str:
        return f"Re2Pattern({self.pattern!r})"


# --- the proof -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Info:
    first: frozenset[int]  # characters the part can start with
    nullable: bool  # it can match the empty string
    fixed: int | None  # its width when fixed, else None
    most: int | None  # its greatest width, None when unbounded
    ways: int  # choice points an attempt may try in it


@dataclass(frozen=True, slots=True)
class _Next:
    """What comes after a part: the characters it can start with, and the greatest width of
    the rest of the pattern (None: unbounded)."""

    first: frozenset[int]
    most: int | None


_END = _Next(frozenset(), 0)


def _add(a: int | None, b: int | None) -> int | None:
    return a + b if a is not None and b is not None else None


class _NotLinear(Exception):
    pass


class _Proof:
    def __init__(self, rx: re.Pattern[str]) -> None:
        lits: set[int] = set()
        _literals(list(_parser.parse(rx.pattern, rx.flags)), lits)
        # every character class decision is taken over this alphabet: Latin-1, the pattern's
        # own literals, and samples of Unicode letters, digits and spaces
        self.alphabet = frozenset(range(256)) | lits | {0x660, 0x3000, 0x4E00, 0x2028, 0x10FFFF}
        self.unbounded: set[int] = set()  # U: characters some unbounded repeat consumes
        self._cats: dict[tuple[str, int], frozenset[int]] = {}

    # character sets
    def charset(self, op: str, arg: Any, flags: int) -> frozenset[int]:
        if op == "LITERAL":
            base = frozenset({arg})
        elif op == "NOT_LITERAL":
            base = self.alphabet - {arg}
        elif op == "ANY":
            base = self.alphabet if flags & re.DOTALL else self.alphabet - {10}
        else:  # IN
            neg = bool(arg) and str(arg[0][0]) == "NEGATE"
            acc: set[int] = set()
            for iop, iarg in arg[1:] if neg else arg:
                iname = str(iop)
                if iname == "LITERAL":
                    acc.add(iarg)
                elif iname == "RANGE":
                    acc.update(c for c in self.alphabet if iarg[0] <= c <= iarg[1])
                elif iname == "CATEGORY":
                    acc |= self.category(str(iarg), flags)
                else:
                    raise _NotLinear
            base = self.alphabet - acc if neg else frozenset(acc)
        if flags & re.IGNORECASE:
            base = frozenset(
                c
                for c in self.alphabet
                if {c, ord(chr(c).lower()[0]), ord(chr(c).upper()[0])} & base
            )
        return base

    def category(self, name: str, flags: int) -> frozenset[int]:
        key = (name, flags & re.ASCII)
        got = self._cats.get(key)
        if got is None:
            esc = {
                "CATEGORY_DIGIT": r"\d",
                "CATEGORY_NOT_DIGIT": r"\D",
                "CATEGORY_SPACE": r"\s",
                "CATEGORY_NOT_SPACE": r"\S",
                "CATEGORY_WORD": r"\w",
                "CATEGORY_NOT_WORD": r"\W",
            }.get(name)
            if esc is None:
                raise _NotLinear
            one = re.compile(esc, flags & re.ASCII)
            got = self._cats[key] = frozenset(c for c in self.alphabet if one.match(chr(c)))
        return got

    # the parse tree, right to left, each part told what comes after it
    def seq(self, items: list[Any], nxt: _Next, flags: int) -> _Info:
        first: frozenset[int] = frozenset()
        nullable, ways = True, 1
        fixed: int | None = 0
        most: int | None = 0
        for op, arg in reversed(items):
            info = self.item(str(op), arg, nxt, flags)
            ways *= info.ways
            if ways > _MAX_WAYS:
                raise _NotLinear
            fixed = _add(fixed, info.fixed)
            most = _add(most, info.most)
            first = info.first | first if info.nullable else info.first
            nullable = nullable and info.nullable
            nxt = _Next(
                info.first | nxt.first if info.nullable else info.first, _add(info.most, nxt.most)
            )
        return _Info(first, nullable, fixed, most, ways)

    def item(self, op: str, arg: Any, nxt: _Next, flags: int) -> _Info:
        if op in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            return _Info(self.charset(op, arg, flags), False, 1, 1, 1)
        if op == "AT":
            return _Info(frozenset(), True, 0, 0, 1)
        if op == "SUBPATTERN":
            _, add, dele, sub = arg
            return self.seq(list(sub), nxt, (flags | add) & ~dele)
        if op == "BRANCH":
            alts = [self.seq(list(alt), nxt, flags) for alt in arg[1]]
            widths = {a.fixed for a in alts}
            mosts = [a.most for a in alts]
            return _Info(
                frozenset().union(*(a.first for a in alts)),
                any(a.nullable for a in alts),
                widths.pop() if len(widths) == 1 else None,
                None if None in mosts else max(m or 0 for m in mosts),
                sum(a.ways for a in alts),
            )
        if op in ("MAX_REPEAT", "MIN_REPEAT"):
            return self.repeat(arg, nxt, flags)
        raise _NotLinear  # back references, lookaround, possessive, atomic, conditionals

    def repeat(self, arg: Any, nxt: _Next, flags: int) -> _Info:
        lo, hi, sub = int(arg[0]), int(arg[1]), list(arg[2])
        if hi == 0:
            return _Info(frozenset(), True, 0, 0, 1)
        if hi == 1:  # optional: one more choice
            body = self.seq(sub, nxt, flags)
            return _Info(
                body.first,
                True if lo == 0 else body.nullable,
                body.fixed if lo == 1 else None,
                body.most,
                body.ways + (1 - lo),
            )
        if lo == hi and hi <= _BIG:  # a fixed count: the body again, then what follows
            alone = self.seq(sub, _END, flags)
            again = _Next(
                alone.first | nxt.first if alone.nullable else alone.first,
                _add(_mul(alone.most, hi - 1), nxt.most),
            )
            body = self.seq(sub, again, flags)
            ways = body.ways**hi
            if ways > _MAX_WAYS:
                raise _NotLinear
            return _Info(body.first, body.nullable, _mul(body.fixed, hi), _mul(body.most, hi), ways)
        # variable length, more than one turn: a fixed-width, choice-free body, and either
        # the next character cannot be one the body starts with (the longest run is the only
        # one that can go on), or the rest of the pattern is bounded (each shorter run is
        # tried against a bounded rest)
        if _has_choice(sub):
            raise _NotLinear
        body = self.seq(sub, _END, flags)
        if not body.fixed:
            raise _NotLinear
        if nxt.first & body.first and nxt.most is None:
            raise _NotLinear
        if hi > _BIG:
            self.unbounded |= self.consumed(sub, flags)
        return _Info(body.first, lo == 0, None, body.fixed * hi if hi <= _BIG else None, 1)

    def consumed(self, items: list[Any], flags: int) -> set[int]:
        out: set[int] = set()
        for op, arg in items:
            name = str(op)
            if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
                out |= self.charset(name, arg, flags)
            elif name == "SUBPATTERN":
                out |= self.consumed(list(arg[3]), (flags | arg[1]) & ~arg[2])
            elif name in ("MAX_REPEAT", "MIN_REPEAT"):
                out |= self.consumed(list(arg[2]), flags)
        return out

    def prefix(self, items: list[Any], flags: int) -> list[frozenset[int]] | None:
        """The sets of the leading fixed characters, each at a fixed offset (an `^` branch
        adds the newline); None when the pattern is anchored at the text's start."""
        out: list[frozenset[int]] = []
        for op, arg in items:
            name = str(op)
            if name == "AT":
                at = str(arg)
                if not out and (
                    at == "AT_BEGINNING_STRING"
                    or (at == "AT_BEGINNING" and not flags & re.MULTILINE)
                ):
                    return None
                if not out and at == "AT_BEGINNING":
                    out.append(frozenset({10}))  # multiline ^: after a newline (or at 0)
                continue
            if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
                out.append(self.charset(name, arg, flags))
                continue
            if name == "SUBPATTERN" and not arg[1] and not arg[2]:
                inner = self.prefix(list(arg[3]), flags)
                if inner is None:
                    return out if out else None
                out.extend(inner)
                if self.seq(list(arg[3]), _END, flags).fixed is None:
                    break
                continue
            if name == "BRANCH":
                acc: set[int] = set()
                for alt in arg[1]:
                    alt = list(alt)
                    if (
                        len(alt) == 1
                        and str(alt[0][0]) == "AT"
                        and str(alt[0][1]) in ("AT_BEGINNING", "AT_BEGINNING_STRING")
                    ):
                        acc.add(10)  # at a line's start: one more attempt, or after \n
                    elif len(alt) == 1 and str(alt[0][0]) in (
                        "LITERAL",
                        "NOT_LITERAL",
                        "ANY",
                        "IN",
                    ):
                        acc |= self.charset(str(alt[0][0]), alt[0][1], flags)
                    else:
                        return out
                out.append(frozenset(acc))
                if any(len(alt) == 1 and str(alt[0][0]) == "AT" for alt in map(list, arg[1])):
                    break  # an empty alternative: what follows sits at two offsets
                continue
            break
        return out


def _mul(a: int | None, k: int) -> int | None:
    return a * k if a is not None else None


def _has_choice(items: list[Any]) -> bool:
    return "BRANCH" in _ops(items) or "MAX_REPEAT" in _ops(items) or "MIN_REPEAT" in _ops(items)


def _literals(items: list[Any], out: set[int]) -> None:
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL"):
            out.add(arg)
        elif name == "IN":
            for iop, iarg in arg:
                if str(iop) == "LITERAL":
                    out.add(iarg)
        elif name == "SUBPATTERN":
            _literals(list(arg[3]), out)
        elif name == "BRANCH":
            for alt in arg[1]:
                _literals(list(alt), out)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _literals(list(arg[2]), out)


def linear_in_re(rx: re.Pattern[str]) -> bool:
    """Is every search of `rx` in Python's `re` linear in the text's length? False when unsure
    (see the module docstring for the argument)."""
    try:
        parsed = _parser.parse(rx.pattern, rx.flags)
        flags = parsed.state.flags
        items = list(parsed)
        proof = _Proof(rx)
        body = items
        last = items[-1] if items else None
        if (
            last is not None
            and str(last[0]) == "MAX_REPEAT"
            and int(last[1][0]) == 0
            and not _has_choice(list(last[1][2]))
        ):
            body = items[:-1]  # a final greedy x*: entered only by an attempt that succeeds
        proof.seq(body, _END, flags)
        if not proof.unbounded:
            return True
        prefix = proof.prefix(items, flags)
        if prefix is None:  # anchored at the text's start: one attempt
            return True
        return any(not (s & proof.unbounded) for s in prefix)
    except (_NotLinear, re.error, RecursionError):
        return False
    except Exception:  # parser internals differ across versions: unsure
        return False
