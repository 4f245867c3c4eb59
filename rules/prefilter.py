"""The per-line pre-filter: a literal substring that every match of a rule's regex contains,
and the other forms of a rule's regex the batch plans (rules/plans/) run.

`literal in line` is a C substring search, several times cheaper than running the regex, and
most lines of a busy log match no rule: the engine skips a rule when its literal is absent.

Every derivation here reads the parse tree of CPython's private regex parser (`re._parser`,
3.11+): there is no public one. Its shape is checked once, at import, against a probe pattern
(`PROBE`, `PROBE_SHAPE`). When the module is missing or parses the probe otherwise,
`PARSER_PROBLEM` says how, and every derivation answers "none" instead of reading a tree it
does not know (a wrong literal would lose alerts): rules then get the plans that need no
derivation, each saying why (`alerter.rules.plans`), and tests/rules/test_plans.py fails, so a Python
upgrade that changes the parser fails the suite rather than costing throughput unnoticed.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from alerter.core.saferegex import derive

# a pattern using every part of the parse tree this module (and alerter.core.saferegex) reads, and
# the tree that re._parser (CPython 3.11-3.13) gives for it, op codes by name
PROBE = r"^ab(?P<g>c)+[^\n\d]x*?(?=e)\1[0-9][^a]|(?i:f)(?:d\w.)\b(?!g)(?>h)i++(?(g)j|k)\A"
PROBE_SHAPE: list[Any] = [
    ("BRANCH", (None, [
        [
            ("AT", "AT_BEGINNING"), ("LITERAL", 97), ("LITERAL", 98),
            ("MAX_REPEAT", (1, "MAXREPEAT", [("SUBPATTERN", (1, 0, 0, [("LITERAL", 99)]))])),
            ("IN", [("NEGATE", None), ("LITERAL", 10), ("CATEGORY", "CATEGORY_DIGIT")]),
            ("MIN_REPEAT", (0, "MAXREPEAT", [("LITERAL", 120)])),
            ("ASSERT", (1, [("LITERAL", 101)])), ("GROUPREF", 1),
            ("IN", [("RANGE", (48, 57))]), ("NOT_LITERAL", 97),
        ],
        [
            ("SUBPATTERN", (None, 2, 0, [("LITERAL", 102)])), ("LITERAL", 100),
            ("IN", [("CATEGORY", "CATEGORY_WORD")]), ("ANY", None), ("AT", "AT_BOUNDARY"),
            ("ASSERT_NOT", (1, [("LITERAL", 103)])), ("ATOMIC_GROUP", [("LITERAL", 104)]),
            ("POSSESSIVE_REPEAT", (1, "MAXREPEAT", [("LITERAL", 105)])),
            ("GROUPREF_EXISTS", (1, [("LITERAL", 106)], [("LITERAL", 107)])),
            ("AT", "AT_BEGINNING_STRING"),
        ],
    ])),
]  # fmt: skip


def named(tree: Any) -> Any:
    """A parse tree as plain lists and tuples, op codes and other named constants by name."""
    if isinstance(tree, list | tuple) or type(tree).__name__ == "SubPattern":
        items = [named(x) for x in tree]
        return tuple(items) if isinstance(tree, tuple) else items
    if isinstance(tree, int) and type(tree) is not int and type(tree) is not bool:
        return str(tree)  # re._constants._NamedIntConstant
    return tree


def parser_problem(parser: Any) -> str | None:
    """None when `parser` (re._parser) parses the probe as this module reads trees; else how
    it fails to."""
    try:
        got = named(list(parser.parse(PROBE, 0)))
    except Exception as e:  # it fails on a pattern `re` accepts
        return f"re._parser unusable: {type(e).__name__}: {e}"
    if got != PROBE_SHAPE:
        return f"re._parser parses the probe differently: {got!r}"
    return None


def _load_parser() -> tuple[Any, str | None]:
    try:
        parser = importlib.import_module("re._parser")
    except ImportError as e:
        return None, f"no re._parser: {e}"
    problem = parser_problem(parser)
    return (None, problem) if problem is not None else (parser, None)


_parser, PARSER_PROBLEM = _load_parser()
_LITERAL = getattr(_parser, "LITERAL", None)
_SUBPATTERN = getattr(_parser, "SUBPATTERN", None)
_MAX_REPEAT = getattr(_parser, "MAX_REPEAT", None)
_MIN_REPEAT = getattr(_parser, "MIN_REPEAT", None)


class NotParsed(ValueError):
    """The pattern has no parse tree here: why (an RE2-only pattern, or no usable parser)."""


def parse(pattern: re.Pattern[str]) -> list[Any]:
    """The parse tree of a compiled pattern (a `re` one, or an RE2 one from
    alerter.core.saferegex with its source and flags). Raises NotParsed when there is none."""
    if _parser is None:
        raise NotParsed(PARSER_PROBLEM)
    try:
        return list(_parser.parse(pattern.pattern, pattern.flags))
    except re.error as e:  # RE2-only syntax (\z, \pL, [[:alpha:]]): no literal derived
        raise NotParsed(f"not Python regex syntax ({e})") from None


def literal_or_why(pattern: re.Pattern[str]) -> tuple[str | None, str]:
    """The longest literal every match must contain (None when there is none worth using),
    and, when None, why."""
    if pattern.flags & re.IGNORECASE:
        return None, "case-insensitive: no literal to search for"
    try:
        parsed = parse(pattern)
    except NotParsed as e:
        return None, str(e)
    runs: list[str] = []
    _collect(parsed, runs)
    best = max(runs, key=_rarity, default="")
    if len(best) < 2:
        return None, "no literal of 2 or more characters in every match"
    return best, ""


def required_literal(pattern: re.Pattern[str]) -> str | None:
    """The longest literal every match must contain, or None when there is none worth using."""
    return literal_or_why(pattern)[0]


def _rarity(s: str) -> int:
    """Letters and digits are rarer in log lines than spaces and punctuation."""
    return sum(2 if c.isalnum() else 1 for c in s)


# letters from common to rare in log text (English frequencies); capitals rarer than any small
# letter; then other characters, the punctuation of log lines last; spaces never
_LETTERS = "etaoinsrhldcumfpgwybvkxjqz"
_COMMON = "0123456789.,:;-_/\\[](){}<>=\"'|#@%+*&!?~^$`"


def rare_chars(literal: str) -> str:
    """The literal's characters (but spaces), rarest first: a batch that lacks one of them
    cannot hold the literal, and `c in text` is a C memchr, many times quicker than searching
    for the whole literal in a batch that lacks it (about 1 ns a line when it scans the whole
    batch; a character that is there stops it at its first place, mostly within the first
    lines). A literal with no character the batch lacks is then searched for."""

    def rarity(c: str) -> int:
        low = c.lower()
        if low in _LETTERS:
            return len(_COMMON) + _LETTERS.index(low) + (len(_LETTERS) if c.isupper() else 0)
        return len(_COMMON) - _COMMON.index(c) if c in _COMMON else 3 * len(_LETTERS)

    return "".join(sorted(set(literal) - {" ", "\t"}, key=rarity, reverse=True))


def batch_pattern(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern in MULTILINE mode, for searching a whole batch of lines joined by newlines
    at once, when that finds exactly what searching each line would: the pattern starts with
    a literal (so the regex engine skips ahead between candidates) and nothing in it depends
    on the string's ends or on text before the match.

    A match that spans a newline is re-checked against its own line by the caller.
    """
    src = pattern.pattern
    if pattern.flags & re.IGNORECASE or any(x in src for x in ("\\A", "\\Z", "(?<", "(?=", "(?!")):
        return None
    try:
        parsed = parse(pattern)
    except NotParsed:  # search line by line
        return None
    if not parsed or parsed[0][0] is not _LITERAL:
        return None
    return derive(pattern, src, pattern.flags | re.MULTILINE)


def line_pattern(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """A batch pattern that also consumes the rest of its line, so that a finditer over a
    batch yields at most one match per line (the first, as a search of the line would).
    None when the pattern cannot be wrapped (global flags written inside it)."""
    return derive(pattern, f"(?:{pattern.pattern})[^\\n]*", pattern.flags)


def bounded_pattern(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern for searching one line of a batch in place, without slicing it out:
    `rx.search(text, start, end)` with start..end a line's bounds in the newline-joined batch
    finds what `pattern.search(line)` finds (MULTILINE: `^` holds at the line's start; nothing
    in it may look before the match or at the string's true ends), and the match ends at the
    line's end. None when that cannot be guaranteed."""
    if not line_local(pattern):
        return None
    return derive(pattern, f"(?:{_body(pattern)})[^\\n]*", pattern.flags | re.MULTILINE)


def line_local(pattern: re.Pattern[str]) -> bool:
    """Whether the pattern finds in a line what it finds there within a longer text: nothing
    in it looks before the match or at the string's true ends (`\\A`, `\\Z`, lookbehind)."""
    return not any(x in pattern.pattern for x in ("\\A", "\\Z", "(?<"))


_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _body(pattern: re.Pattern[str]) -> str:
    """The pattern's text to wrap in a group: its leading global flags (`(?x)`) left out, as
    `pattern.flags` carries them, and in verbose mode a newline ending a trailing comment."""
    src = pattern.pattern
    if m := _GLOBAL_FLAGS.match(src):
        src = src[m.end() :]
    return src + "\n" if pattern.flags & re.VERBOSE else src


_CLASS_ESCAPES = {"s": "[^\\S\\n]", "W": "[^\\w\\n]", "D": "[^\\d\\n]"}


def line_confined(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern rewritten so that no match can hold a newline, yet matching exactly as
    before in any text without one (a line): negated sets get `\\n` (`[^"]` becomes
    `[^\\n"]`), and `\\s`, `\\W`, `\\D` outside sets lose it. None when that is not enough
    (`.` with DOTALL, a set that names a newline, verbose mode...)."""
    if not may_match_newline(pattern):
        return pattern
    src = pattern.pattern
    if pattern.flags & (re.VERBOSE | re.DOTALL) or "(?#" in src:
        return None
    out: list[str] = []
    i, n, in_set = 0, len(src), False
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n:
            e = src[i + 1]
            if in_set and e in "sWDn":
                return None  # a set that holds a newline: leave it alone
            out.append(_CLASS_ESCAPES.get(e, c + e) if not in_set else c + e)
            i += 2
            continue
        if in_set:
            if c == "]":
                in_set = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_set = True
            j = i + 1
            if src.startswith("^", j):
                out.append("[^\\n")
                j += 1
            else:
                out.append("[")
            if src.startswith("]", j):  # a leading ] is a member, not the end
                out.append("\\]")
                j += 1
            i = j
            continue
        out.append(c)
        i += 1
    confined = derive(pattern, "".join(out), pattern.flags)
    if confined is None:
        return None
    if confined.groupindex != pattern.groupindex or may_match_newline(confined):
        return None
    return confined


def match_shape(pattern: re.Pattern[str]) -> str | None:
    """A key equal for patterns that match at the same places: they differ only in which
    groups capture (so a count of one's matches is a count of the other's). None when the
    pattern refers back to a group or cannot be parsed."""
    try:
        return f"{pattern.flags}:{_uncaptured(parse(pattern))!r}"
    except ValueError:  # no tree (NotParsed), or a back reference
        return None


def _uncaptured(items: list[Any]) -> list[Any]:
    """Parsed items with every plain group's items inlined (non-capturing groups already
    are), recursively."""
    out: list[Any] = []
    for op, arg in items:
        name = str(op)
        if name.startswith("GROUPREF"):
            raise ValueError("back reference")
        if name == "SUBPATTERN":
            _, add_flags, del_flags, sub = arg
            if not add_flags and not del_flags:
                out.extend(_uncaptured(list(sub)))
                continue
            arg = (None, add_flags, del_flags, _uncaptured(list(sub)))
        elif name == "BRANCH":
            arg = (None, [_uncaptured(list(alt)) for alt in arg[1]])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            arg = (arg[0], arg[1], _uncaptured(list(arg[2])))
        elif name == "ATOMIC_GROUP":
            arg = _uncaptured(list(arg))
        elif name in ("ASSERT", "ASSERT_NOT"):
            arg = (arg[0], _uncaptured(list(arg[1])))
        out.append((op, arg))
    return out


def _collect(items: list[Any], runs: list[str]) -> None:
    """Append to runs every maximal sequence of consecutive literals in items (recursing into
    groups and into repeats that must occur at least once)."""
    cur: list[str] = []
    for op, arg in items:
        if op is _LITERAL:
            cur.append(chr(arg))
            continue
        if cur:
            runs.append("".join(cur))
            cur = []
        if op is _SUBPATTERN:
            _, add_flags, _del, sub = arg
            if not add_flags & re.IGNORECASE:
                _collect(list(sub), runs)
        elif op in (_MAX_REPEAT, _MIN_REPEAT) and arg[0] >= 1:
            _collect(list(arg[2]), runs)
    if cur:
        runs.append("".join(cur))


_SAFE_CATEGORIES = ("CATEGORY_DIGIT", "CATEGORY_WORD", "CATEGORY_NOT_SPACE")


def may_match_newline(pattern: re.Pattern[str]) -> bool:
    """Could some match of the pattern contain a newline? Conservative: True when unsure.
    When False, a search over lines joined by newlines never sees a match span two lines."""
    try:
        parsed = parse(pattern)
    except NotParsed:
        return True
    return _newline_in(parsed, bool(pattern.flags & re.DOTALL))


def _newline_in(items: list[Any], dotall: bool) -> bool:
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            if arg == 10:
                return True
        elif name == "NOT_LITERAL":
            if arg != 10:
                return True
        elif name == "ANY":
            if dotall:
                return True
        elif name == "IN":
            if str(arg[0][0]) == "NEGATE":  # [^...]: safe only when it names the newline
                if not any(
                    (str(iop) == "LITERAL" and iarg == 10)
                    or (str(iop) == "RANGE" and iarg[0] <= 10 <= iarg[1])
                    for iop, iarg in arg[1:]
                ):
                    return True
                continue
            for iop, iarg in arg:
                iname = str(iop)
                if iname == "LITERAL" and iarg == 10:
                    return True
                if iname == "RANGE" and iarg[0] <= 10 <= iarg[1]:
                    return True
                if iname == "CATEGORY" and str(iarg) not in _SAFE_CATEGORIES:
                    return True
        elif name == "SUBPATTERN":
            _, add, _del, sub = arg
            if _newline_in(list(sub), (dotall or bool(add & re.DOTALL)) and not _del & re.DOTALL):
                return True
        elif name == "BRANCH":
            if any(_newline_in(list(alt), dotall) for alt in arg[1]):
                return True
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            if _newline_in(list(arg[2]), dotall):
                return True
        elif name == "ATOMIC_GROUP":
            if _newline_in(list(arg), dotall):
                return True
        elif name not in ("AT", "GROUPREF", "ASSERT", "ASSERT_NOT"):
            return True
    return False
