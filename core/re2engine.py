"""RE2 (google-re2) behind the part of `re.Pattern` and `re.Match` this project uses.

A pattern handed here is RE2 text: the Alertmanager dialect of matchers, RE2-only syntax in a
rule, or a Python `re` pattern rewritten by core/re2translate.py. This module runs it with
Python's conventions: `search(string, pos, endpos)` reads the string as if it were `endpos`
characters long (RE2 would still see what follows), and spans count characters.

google-re2's own Python layer costs 1.5-16 us a call (a generator, a dict of offsets per match:
16 us for an nginx line and its six groups); this one calls its extension (`re2._re2`, whose
own call is ~0.5 us) directly: ~1 us for a label value, 3.6 us for that nginx line, byte
offsets converted only when the text is not ASCII. (`_re2` and `_Anchor` are google-re2's
internals: a release that moves them fails at import, in every test.)

What a rewritten pattern needs besides its text (`Shape`): group numbers (the rewrite adds
groups of its own, so each Python group has its RE2 number), the groups that mark a `$` taken
before a final newline (the span of the match and of any group ending there stops before the
newline), and a second program for the empty text (Python's `\\B` never matches there).

RE2 reads UTF-8: a lone surrogate (Python can hold one, e.g. from a JSON `"\\ud800"`; no
collector produces one from log bytes) is matched as U+FFFD, as Go's JSON decoder would have
stored it; spans and groups still come from the original string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import re2  # type: ignore[import-untyped]
from re2 import _re2

__all__ = ["Re2Match", "Re2Pattern", "Shape", "build", "compile_re2", "re2_error"]

_UNANCHORED = re2._Anchor.UNANCHORED
_ANCHOR_START = re2._Anchor.ANCHOR_START
_ANCHOR_BOTH = re2._Anchor.ANCHOR_BOTH
_NULL = (-1, -1)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _options() -> Any:
    opts = re2.Options()
    opts.log_errors = False
    return opts


_OPTIONS = _options()


def re2_error(text: str) -> str | None:
    """Why RE2 refuses `text`, or None when it compiles."""
    rx = _re2.RE2(text.encode("utf-8", "surrogatepass"), _OPTIONS)
    return None if rx.ok() else rx.error().decode("utf-8", "replace")


def _program(text: str) -> Any:
    rx = _re2.RE2(text.encode("utf-8", "surrogatepass"), _OPTIONS)
    if not rx.ok():
        raise ValueError(rx.error().decode("utf-8", "replace"))
    return rx


@dataclass(frozen=True, slots=True)
class Shape:
    """How the RE2 program's groups stand for the pattern's (see the module docstring)."""

    groups: int  # the pattern's own groups
    groupindex: dict[str, int] = field(default_factory=dict)
    numbers: tuple[int, ...] | None = None  # RE2 group of each own group 1..n; None: the same
    markers: tuple[int, ...] = ()  # RE2 groups that match a final newline taken by `$`
    empty_text: str | None = None  # the program for the empty text, when it differs
    whole: tuple[str, Shape] | None = None  # for fullmatch, when markers: `$` as `\\z`


def compile_re2(text: str, pattern: str | None = None, flags: int = 0) -> Re2Pattern:
    """RE2 text as is (its own group numbers and names). Raises ValueError with RE2's reason."""
    rx = _program(text)
    names = {k.decode("utf-8"): int(v) for k, v in rx.NamedCapturingGroups()}
    shape = Shape(int(rx.NumberOfCapturingGroups()), names)
    return Re2Pattern(text if pattern is None else pattern, flags, text, shape, rx)


class Re2Pattern:
    """An RE2 program with `re.Pattern`'s interface for search, match and fullmatch (and
    iteration, which after an empty match does not try a longer one at the same place)."""

    __slots__ = (
        *("_empty", "_numbers", "_plain", "_rx", "_shape", "_whole"),
        *("flags", "groupindex", "groups", "pattern", "text"),
    )

    def __init__(self, pattern: str, flags: int, text: str, shape: Shape, rx: Any) -> None:
        rx = _program(text) if rx is None else rx
        self.pattern = pattern  # as the user wrote it
        self.flags = flags
        self.text = text  # what RE2 runs
        self._shape = shape
        self._rx = rx
        self._empty = _program(shape.empty_text) if shape.empty_text is not None else rx
        self._whole: Re2Pattern | None = None
        self._numbers = shape.numbers
        self._plain = shape.numbers is None and not shape.markers  # RE2's groups are its own
        self.groups = shape.groups
        self.groupindex = dict(shape.groupindex)

    @property
    def programsize(self) -> int:
        return int(self._rx.ProgramSize())

    def search(self, string: str, pos: int = 0, endpos: int | None = None) -> Re2Match | None:
        return self._run(_UNANCHORED, string, pos, endpos)

    def match(self, string: str, pos: int = 0, endpos: int | None = None) -> Re2Match | None:
        return self._run(_ANCHOR_START, string, pos, endpos)

    def fullmatch(self, string: str, pos: int = 0, endpos: int | None = None) -> Re2Match | None:
        whole = self._shape.whole
        if whole is None:
            return self._run(_ANCHOR_BOTH, string, pos, endpos)
        if self._whole is None:  # a `$` before a final newline cannot end the whole text
            self._whole = Re2Pattern(self.pattern, self.flags, *whole, None)
        m = self._whole._run(_ANCHOR_BOTH, string, pos, endpos)
        return None if m is None else Re2Match(self, string, m.pos, m.endpos, m._spans)

    def finditer(self, string: str, pos: int = 0, endpos: int | None = None) -> Iterator[Re2Match]:
        end = len(string) if endpos is None else max(0, min(endpos, len(string)))
        while pos <= end:
            m = self._run(_UNANCHORED, string, pos, endpos)
            if m is None:
                return
            yield m
            pos = m.end() + (m.end() == m.start())

    def findall(self, string: str, pos: int = 0, endpos: int | None = None) -> list[Any]:
        out: list[Any] = []
        for m in self.finditer(string, pos, endpos):
            if self.groups == 0:
                out.append(m.group())
            elif self.groups == 1:
                out.append(m.group(1) or "")
            else:
                out.append(tuple(g or "" for g in m.groups()))
        return out

    def _run(self, anchor: Any, string: str, pos: int, endpos: int | None) -> Re2Match | None:
        if not pos and endpos is None and string:  # the common case, kept short
            try:
                data = string.encode("utf-8")
            except UnicodeEncodeError:
                data = b""
            if len(data) == len(string):  # ASCII: byte offsets are character offsets
                spans = self._rx.Match(anchor, data, 0, len(data))
                if spans[0] == _NULL:
                    return None
                if self._plain:
                    return Re2Match(self, string, 0, len(string), spans)
                return self._shaped(string, 0, len(string), spans)
        return self._run_any(anchor, string, pos, endpos)

    def _run_any(self, anchor: Any, string: str, pos: int, endpos: int | None) -> Re2Match | None:
        n = len(string)
        endpos = n if endpos is None else max(0, min(endpos, n))
        pos = max(0, min(pos, n))
        if pos > endpos:
            return None
        text = string if endpos == n else string[:endpos]
        rx = self._empty if not text else self._rx
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            text = _SURROGATE.sub("\ufffd", text)  # as long, in characters
            data = text.encode("utf-8")
        ascii_only = len(data) == len(text)
        bpos = pos if ascii_only else len(text[:pos].encode("utf-8"))
        spans = rx.Match(anchor, data, bpos, len(data))
        while not ascii_only and _inside_a_character(data, spans[0]):
            # an empty match between the bytes of one character (RE2 steps bytes, and `\\B`
            # holds there): a Python search goes on from the next character
            bpos = spans[0][0] + 1
            while bpos < len(data) and data[bpos] & 0xC0 == 0x80:
                bpos += 1
            spans = rx.Match(anchor, data, bpos, len(data))
        if spans[0] == _NULL:
            return None
        if not ascii_only:
            spans = _char_spans(data, spans)
        return self._shaped(string, pos, endpos, spans)

    def _shaped(self, string: str, pos: int, endpos: int, spans: list[tuple[int, int]]) -> Re2Match:
        """The match with the pattern's own groups (see Shape)."""
        shape = self._shape
        if shape.markers and any(spans[i] != _NULL for i in shape.markers):
            last = endpos  # `$` took the final newline: what ended after it ends before it
            spans = [(s, last - 1 if e == last else e) if s != -1 else _NULL for s, e in spans]
        numbers = self._numbers
        if numbers is not None:
            spans = [spans[0], *(spans[i] for i in numbers)]
        return Re2Match(self, string, pos, endpos, spans)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # pickles (for the scan helper)
        return (build, (self.pattern, self.flags, self.text, self._shape))

    def __eq__(self, other: object) -> bool:  # as re.Pattern: by what it runs
        if not isinstance(other, Re2Pattern):
            return NotImplemented
        return (self.pattern, self.flags, self.text) == (other.pattern, other.flags, other.text)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags, self.text))

    def __repr__(self) -> str:
        return f"Re2Pattern({self.pattern!r})"


def any_of(literals: Iterable[str]) -> Callable[[bytes, int], tuple[int, int]]:
    """A search of UTF-8 bytes from a byte offset for the first place one of `literals`
    occurs: its (start, end) byte offsets, (-1, -1) when none does (RE2: one DFA scan however
    many they are). Raises ValueError past RE2's memory budget."""
    match = _program("|".join(map(re2.escape, literals))).Match

    def search(data: bytes, pos: int) -> tuple[int, int]:
        return match(_UNANCHORED, data, pos, len(data))[0]  # type: ignore[no-any-return]

    return search


def build(pattern: str, flags: int, text: str, shape: Shape) -> Re2Pattern:
    return Re2Pattern(pattern, flags, text, shape, _program(text))


def _inside_a_character(data: bytes, span: tuple[int, int]) -> bool:
    start = span[0]
    return 0 < start < len(data) and data[start] & 0xC0 == 0x80


def _char_spans(data: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Byte offsets of a UTF-8 text as character offsets (one pass over the text)."""
    chars = {-1: -1, 0: 0}
    last = 0
    for off in sorted({o for span in spans for o in span if o > 0}):
        chars[off] = chars[last] + int(_re2.BytesToCharLen(data, last, off))
        last = off
    return [(chars[s], chars[e]) for s, e in spans]


class Re2Match:
    """A match with `re.Match`'s interface (groups by number or name, spans in characters)."""

    __slots__ = ("_spans", "endpos", "pos", "re", "string")

    def __init__(
        self, pattern: Re2Pattern, string: str, pos: int, endpos: int, spans: list[tuple[int, int]]
    ) -> None:
        self.re = pattern
        self.string = string
        self.pos = pos
        self.endpos = endpos
        self._spans = spans

    def _index(self, g: int | str) -> int:
        if isinstance(g, str):
            try:
                return self.re.groupindex[g]
            except KeyError:
                raise IndexError("no such group") from None
        if not 0 <= g < len(self._spans):
            raise IndexError("no such group")
        return g

    def span(self, g: int | str = 0) -> tuple[int, int]:
        return self._spans[self._index(g)]

    def start(self, g: int | str = 0) -> int:
        return self.span(g)[0]

    def end(self, g: int | str = 0) -> int:
        return self.span(g)[1]

    def _text(self, i: int, default: Any = None) -> Any:
        s, e = self._spans[i]
        return default if s == -1 else self.string[s:e]

    def group(self, *gs: int | str) -> Any:
        if not gs:
            return self._text(0)
        if len(gs) == 1:
            return self._text(self._index(gs[0]))
        return tuple(self._text(self._index(g)) for g in gs)

    def __getitem__(self, g: int | str) -> Any:
        return self._text(self._index(g))

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return tuple(self._text(i, default) for i in range(1, len(self._spans)))

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        return {k: self._text(i, default) for k, i in self.re.groupindex.items()}

    @property
    def regs(self) -> tuple[tuple[int, int], ...]:
        return tuple(self._spans)

    def __repr__(self) -> str:
        return f"<Re2Match span={self.span()!r} match={self.group()!r}>"
