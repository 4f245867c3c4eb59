"""Is a regex linear-time in Python's `re`? A conservative proof over `re._parser`'s tree.

The argument (core/saferegex.py runs a user pattern in `re` only when it holds):
  * no back references, lookaround, possessive or atomic parts;
  * a repeat of variable length and more than one turn (`x*`, `x+`, `x{1,9}`) repeats a
    fixed-width body without alternation, and the next character the pattern must match after
    it cannot be one the body starts with: the repeat takes its longest run and giving any of
    it back fails at once, so each run is scanned O(1) times per attempt;
  * the product of the choices (alternatives, optional parts) is small;
  * the attempts from different start positions do not rescan the same text: the pattern is
    anchored at the text's start, or one of its leading characters (at a fixed offset) cannot
    be consumed by any unbounded repeat, so a position is covered by a bounded number of
    attempts. A final `x*` is exempt (also inside final groups, `(?P<msg>.*)`): it is entered
    only by an attempt that succeeds.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

_parser: Any = importlib.import_module("re._parser")
_BIG = 1000  # a bounded repeat longer than this counts as unbounded
_MAX_WAYS = 256  # choice points an attempt may try (alternatives x optional parts)

__all__ = ["linear_in_re", "ops"]


def ops(items: list[Any]) -> set[str]:
    """The parse tree's node kinds, nested ones included."""
    out: set[str] = set()
    for op, arg in items:
        name = str(op)
        out.add(name)
        if name == "SUBPATTERN":
            out |= ops(list(arg[3]))
        elif name == "BRANCH":
            for alt in arg[1]:
                out |= ops(list(alt))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            out |= ops(list(arg[2]))
        elif name == "ATOMIC_GROUP":
            out |= ops(list(arg))
        elif name in ("ASSERT", "ASSERT_NOT"):
            out |= ops(list(arg[1]))
        elif name == "GROUPREF_EXISTS":
            out |= ops(list(arg[1])) | (ops(list(arg[2])) if arg[2] else set())
    return out


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


def _without_final_repeats(items: list[Any]) -> list[Any]:
    """The items without the end that matches whenever it is reached: a final `x*` or `x*?`
    whose body has no choice (greedy, it takes its longest run and the pattern has ended;
    lazy, it takes none), also inside final groups that set no flags (`(?P<msg>.*)`, which
    a pattern written for a log line often ends with), one within another."""
    body = list(items)
    while body:
        op, arg = body[-1]
        name = str(op)
        if (
            name in ("MAX_REPEAT", "MIN_REPEAT")
            and int(arg[0]) == 0
            and not _has_choice(list(arg[2]))
        ):
            body.pop()
        elif name == "SUBPATTERN" and not arg[1] and not arg[2]:
            body[-1:] = list(arg[3])
        else:
            break
    return body


def _has_choice(items: list[Any]) -> bool:
    return "BRANCH" in ops(items) or "MAX_REPEAT" in ops(items) or "MIN_REPEAT" in ops(items)


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
        body = _without_final_repeats(items)
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
