"""The silences filed under `=~` matchers on one label name, found for a label value in one pass.

All the patterns on one name go into an RE2 Set (google-re2's `re2.Set`, one DFA over every
pattern): matching a value returns the indices of every pattern that matches it, at a cost that
depends on the value and the DFA, not on the number of patterns. The Set is built lazily, at
the next match after enough changes: patterns added since the last build are offered as
candidates without the Set (`REBUILD_AFTER` of them at most), and patterns whose silences are
gone stay in the Set until enough are gone. Every candidate is still checked with all its
matchers by the caller, so the Set only has to answer *at least* what the matcher's own regex
answers; wherever that is not sure, the patterns concerned are offered for every value:

  * a Set whose match fails (RE2 runs out of DFA memory; seen by a pattern that always matches,
    at index 0, missing from the answer) or a value RE2 cannot take (a lone surrogate);
  * patterns that would not compile together within `MAX_MEM`: the group is split in halves
    down to `FLOOR` patterns, and a group that small that still fails is offered always;
  * `set_pattern` gives no Set text for a matcher whose regex runs in Python's `re` with a
    construct the two engines read differently (core/saferegex.py runs a user pattern in `re`
    when it proves it linear there): `\\s` (`re` counts `\\v`), `$` without `(?m)` (`re` also
    matches before a final newline), `{,n}` (a repeat in `re`, literal text in RE2), `[[:x:]]`
    (a POSIX class in RE2 only), negation under `(?i)` (RE2 folds case over all of Unicode).
    Those silences are scanned (alerter/dispatch/silenceindex.py).

Not thread-safe: the owner (alerter.dispatch.silences.Silences) holds its lock.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

import re2  # type: ignore[import-untyped]

from alerter.core.saferegex import is_re2
from alerter.rules.matchers import Matcher

_parser: Any = importlib.import_module("re._parser")

REBUILD_AFTER = 32  # patterns added since the last build, offered without the Set, at most
FLOOR = 32  # a group of patterns this small that will not compile in a Set is offered always
MAX_MEM = 64 << 20  # RE2's memory budget per Set (program and DFA cache); its default is 8 MiB
_ALWAYS = "(?s).*"  # index 0 of every Set: its absence from an answer means the match failed

# as core/saferegex.py hands a pattern to RE2: Python's \Z is RE2's \z
_END_Z = re.compile(r"(?<!\\)((?:\\\\)*)\\Z")
_RE2_FLAGS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))


class HasId(Protocol):
    @property
    def id(self) -> str: ...


S = TypeVar("S", bound=HasId)


def set_pattern(m: Matcher) -> str | None:
    """The text to add to a start-anchored RE2 Set so that it matches every value `m` (an `=~`
    matcher) matches, exactly as RE2 would run the matcher's own regex; None when `m` matches
    the empty string (it also matches alerts without the label) or when the Set might answer
    otherwise than the matcher (see the module docstring)."""
    rx = m.regex
    if m.op != "=~" or rx is None or m.matches({}):
        return None
    if not is_re2(rx) and not _same_in_re2(rx.pattern, rx.flags):
        return None
    return re2_text(rx.pattern, rx.flags)


def re2_text(pattern: str, flags: int) -> str:
    """A pattern as core/saferegex.py hands it to RE2."""
    prefix = "".join(f for bit, f in _RE2_FLAGS if flags & bit)
    text = _END_Z.sub(r"\1\\z", pattern)
    return f"(?{prefix}){text}" if prefix else text


def weight(m: Matcher) -> int:
    """How many literal characters every value `m` matches must hold (a rough measure of how
    few values it matches): of a silence's regex matchers, the heaviest is filed."""
    try:
        return _literal_count(list(_parser.parse(m.value)))
    except Exception:  # RE2-only syntax, or parser internals of another version
        return 0


def _literal_count(items: list[Any]) -> int:
    n = 0
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            n += 1
        elif name == "SUBPATTERN":
            n += _literal_count(list(arg[3]))
        elif name in ("MAX_REPEAT", "MIN_REPEAT") and int(arg[0]) >= 1:
            n += _literal_count(list(arg[2]))
        elif name == "BRANCH":
            n += min(_literal_count(list(alt)) for alt in arg[1])
    return n


def _same_in_re2(pattern: str, flags: int) -> bool:
    """Does RE2 read `pattern` (compiled in Python's `re` with `flags`) as `re` does, or
    more widely? False when unsure."""
    if "{," in pattern or "[:" in pattern:
        return False
    try:
        parsed = _parser.parse(pattern, flags)
        return _same_items(list(parsed), int(parsed.state.flags))
    except Exception:  # parser internals of another version: unsure
        return False


def _same_items(items: list[Any], flags: int) -> bool:
    folds = bool(flags & re.IGNORECASE)
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "ANY"):
            continue
        if name == "NOT_LITERAL":
            if folds:
                return False
        elif name == "IN":
            for iop, iarg in arg:
                iname = str(iop)
                if iname == "NEGATE" and folds:
                    return False
                if iname == "CATEGORY" and str(iarg) in ("CATEGORY_SPACE", "CATEGORY_NOT_SPACE"):
                    return False
                if iname not in ("LITERAL", "RANGE", "NEGATE", "CATEGORY"):
                    return False
        elif name == "AT":
            if str(arg) == "AT_END" and not flags & re.MULTILINE:
                return False
        elif name == "SUBPATTERN":
            if not _same_items(list(arg[3]), (flags | int(arg[1])) & ~int(arg[2])):
                return False
        elif name == "BRANCH":
            if not all(_same_items(list(alt), flags) for alt in arg[1]):
                return False
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            if not _same_items(list(arg[2]), flags):
                return False
        else:
            return False
    return True


def new_set() -> Any:
    """An empty start-anchored Set (as the matcher's `match`), quiet, within MAX_MEM."""
    opts = re2.Options()
    opts.log_errors = False
    opts.max_mem = MAX_MEM
    return re2.Set.MatchSet(opts)


class RegexBuckets(Generic[S]):
    """Silences by the Set text of the `=~` matcher they are filed under, on one label name."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, S]] = {}  # pattern -> its silences by id
        self._sets: list[tuple[Any, list[str]]] = []  # a Set, and its patterns from index 1
        self._built: set[str] = set()  # the patterns in _sets
        self._dead = 0  # patterns in _sets without silences
        self._new: dict[str, None] = {}  # patterns added since the last build
        self._loose: set[str] = set()  # patterns that would not compile in a Set

    def __len__(self) -> int:
        return sum(len(x) for x in self._items.values())

    @property
    def sets(self) -> int:
        """How many Sets are built (one, unless patterns would not compile together)."""
        return len(self._sets)

    def add(self, pattern: str, s: S) -> None:
        items = self._items.get(pattern)
        if items is None:
            items = self._items[pattern] = {}
            if pattern in self._built:
                self._dead -= 1
            elif pattern not in self._loose:
                self._new[pattern] = None
        items[s.id] = s

    def remove(self, pattern: str, sid: str) -> None:
        items = self._items[pattern]
        del items[sid]
        if items:
            return
        del self._items[pattern]
        if pattern in self._built:
            self._dead += 1
        self._new.pop(pattern, None)
        self._loose.discard(pattern)

    def candidates(self, value: str) -> Iterator[S]:
        """Every silence filed here whose pattern may match `value`, each once."""
        if len(self._new) > REBUILD_AFTER or self._dead > max(FLOOR, len(self._built) // 2):
            self._build()
        items = self._items
        for rs, patterns in self._sets:
            try:
                hits = rs.Match(value)
            except UnicodeEncodeError:  # a lone surrogate: RE2 takes UTF-8 only
                hits = None
            failed = not hits or hits[0] != 0  # then any of them may match
            chosen = patterns if failed else [patterns[i - 1] for i in hits[1:]]
            for p in chosen:
                got = items.get(p)
                if got:
                    yield from got.values()
        for p in (*self._new, *self._loose):
            yield from items[p].values()

    def _build(self) -> None:
        self._sets, self._loose = [], set()
        self._compile(list(self._items))
        self._built = {p for _, patterns in self._sets for p in patterns}
        self._new, self._dead = {}, 0

    def _compile(self, patterns: list[str]) -> None:
        if not patterns:
            return
        rs = new_set()
        rs.Add(_ALWAYS)
        added = []
        for p in patterns:
            try:
                rs.Add(p)
            except re2.error:  # not expected (the matcher compiled it): offered always
                self._loose.add(p)
                continue
            added.append(p)
        try:
            rs.Compile()
        except re2.error:  # too big for MAX_MEM together
            if len(added) <= FLOOR:
                self._loose.update(added)
                return
            half = len(added) // 2
            self._compile(added[:half])
            self._compile(added[half:])
            return
        self._sets.append((rs, added))
