"""YAML with positions: nodes that remember FILE:LINE:COL (a document is loaded into them by
alerter.core.yamlload), read into validated values while collecting every problem (not just the
first).

Both the daemon config and rule files are read through this module, so every error a user
sees has the same `FILE:LINE:COL: message` form. Pure: the caller passes the text in.
"""

from __future__ import annotations

import builtins
import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

from alerter.core.values import expand_env, format_duration, label_name_problem, parse_duration

T = TypeVar("T")


@dataclass(frozen=True, slots=True, order=True)
class Mark:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


def in_file_order(problems: Iterable[Problem]) -> list[Problem]:
    """By file, line and column (the order `alerter check` tells them in)."""
    return sorted(problems, key=attrgetter("mark"))


class SourceError(ValueError):
    """One or more problems in a YAML source; `str()` is one `FILE:LINE:COL: message` per line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = in_file_order(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value with its position. `value` is dict[str, Node], list[Node] or a scalar."""

    value: Any
    mark: Mark
    key_marks: Mapping[str, Mark] = field(default_factory=dict)

    def plain(self) -> Any:
        """The value with positions stripped, recursively."""
        if isinstance(self.value, dict):
            return {k: v.plain() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.plain() for v in self.value]
        return self.value


# --- reading nodes into values ---------------------------------------------------------------


class Problems:
    """Collects problems while a whole source is read, so all are reported at once."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.items: list[Problem] = []
        self.env = env  # None: no ${VAR} expansion (rule files)

    def add(self, where: Node | Mark, message: str) -> Problem:
        problem = Problem(where.mark if isinstance(where, Node) else where, message)
        self.items.append(problem)
        return problem

    def raise_if_any(self) -> None:
        if self.items:
            raise SourceError(self.items)


_MISSING: Any = object()


class MapReader:
    """Reads typed fields from a mapping node; unknown keys are reported by `done()`.

    Every getter returns the default (or None) after recording a problem, so a reader goes on
    and reports all problems of a file in one pass.
    """

    def __init__(self, node: Node, problems: Problems, what: builtins.str = "this section") -> None:
        self.node = node
        self.problems = problems
        self.what = what
        self.seen: set[builtins.str] = set()
        self.missing: dict[builtins.str, Problem] = {}  # required keys told missing
        self.ok = isinstance(node.value, dict)
        if not self.ok:
            problems.add(node, f"{what} must be a mapping, got {_kind(node.value)}")

    @property
    def mark(self) -> Mark:
        return self.node.mark

    def keys(self) -> builtins.list[builtins.str]:
        return list(self.node.value) if self.ok else []

    def has(self, key: builtins.str) -> builtins.bool:
        return self.ok and key in self.node.value

    def raw(self, key: builtins.str) -> Node | None:
        self.seen.add(key)
        if not self.ok:
            return None
        n: Node | None = self.node.value.get(key)
        return n

    def key_mark(self, key: builtins.str) -> Mark:
        return self.node.key_marks.get(key, self.node.mark)

    def _get(self, key: builtins.str, required: builtins.bool) -> Node | None:
        n = self.raw(key)
        if n is None or n.value is None:
            if required and self.ok:
                told = self.problems.add(self.node, f"{self.what}: missing required key {key!r}")
                self.missing[key] = told
            return None
        return n

    def str(
        self, key: builtins.str, default: Any = None, *, required: builtins.bool = False
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        return self.as_str(n, key, default)

    def as_str(self, n: Node, key: builtins.str, default: Any = None) -> Any:
        v = n.value
        if v is None:  # (str(None) made a label value "None")
            self.problems.add(n, f"{key}: expected a string, got nothing (write '' for empty)")
            return default
        if isinstance(v, (bool, dict, list)):
            self.problems.add(n, f"{key}: expected a string, got {_kind(v)}")
            return default
        s = v if isinstance(v, str) else str(v)
        if self.problems.env is not None and "${" in s:
            try:
                s = expand_env(s, self.problems.env)
            except KeyError as e:
                self.problems.add(
                    n,
                    f"{key}: environment variable {e.args[0]} is not set and has no default "
                    f"(set it, or write ${{{e.args[0]}:-default}})",
                )
                return default
        return s

    def int(
        self,
        key: builtins.str,
        default: Any = None,
        *,
        required: builtins.bool = False,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        v = n.value
        if isinstance(v, str) and self.problems.env is not None:
            v = self.as_str(n, key, None)
            with contextlib.suppress(ValueError):
                v = int(v) if v is not None else None
        if isinstance(v, bool) or not isinstance(v, int):
            self.problems.add(n, f"{key}: expected an integer, got {_kind(v)}")
            return default
        if minimum is not None and v < minimum:
            self.problems.add(n, f"{key}: must be >= {minimum}, got {v}")
            return default
        if maximum is not None and v > maximum:
            self.problems.add(n, f"{key}: must be <= {maximum}, got {v}")
            return default
        return v

    def float(
        self, key: builtins.str, default: Any = None, *, required: builtins.bool = False
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        v = n.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.problems.add(n, f"{key}: expected a number, got {_kind(v)}")
            return default
        return float(v)

    def bool(
        self, key: builtins.str, default: Any = None, *, required: builtins.bool = False
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        if not isinstance(n.value, bool):
            self.problems.add(n, f"{key}: expected true or false, got {_kind(n.value)}")
            return default
        return n.value

    def duration(
        self,
        key: builtins.str,
        default: Any = None,
        *,
        required: builtins.bool = False,
        maximum: builtins.float | None = None,
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        v = self.as_duration(n, key, default)
        if maximum is not None and v is not None and v > maximum:
            longest, got = format_duration(maximum), format_duration(v)
            self.problems.add(n, f"{key}: must be <= {longest}, got {got}")
            return default
        return v

    def as_duration(self, n: Node, key: builtins.str, default: Any = None) -> Any:
        v = n.value
        if isinstance(v, int) and not isinstance(v, bool) and v == 0:
            return 0.0
        s = self.as_str(n, key, None)
        if s is None:
            return default
        try:
            return parse_duration(s)
        except ValueError as e:
            self.problems.add(n, f"{key}: {e}")
            return default

    def choice(
        self,
        key: builtins.str,
        choices: tuple[builtins.str, ...],
        default: Any = None,
        *,
        required: builtins.bool = False,
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        s = self.as_str(n, key, None)
        if s is None:
            return default
        if s not in choices:
            self.problems.add(
                n, f"{key}: unknown value {s!r}; expected one of {', '.join(choices)}"
            )
            return default
        return s

    def str_list(
        self,
        key: builtins.str,
        default: Any = None,
        *,
        required: builtins.bool = False,
        allow_scalar: builtins.bool = False,
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        if allow_scalar and not isinstance(n.value, list):
            s = self.as_str(n, key, None)
            return default if s is None else (s,)
        if not isinstance(n.value, list):
            self.problems.add(n, f"{key}: expected a list, got {_kind(n.value)}")
            return default
        out = []
        for item in n.value:
            s = self.as_str(item, key, None)
            if s is not None:
                out.append(s)
        return tuple(out)

    def str_map(
        self, key: builtins.str, default: Any = None, *, required: builtins.bool = False
    ) -> Any:
        n = self._get(key, required)
        if n is None:
            return default
        if not isinstance(n.value, dict):
            self.problems.add(n, f"{key}: expected a mapping, got {_kind(n.value)}")
            return default
        out = {}
        for k, item in n.value.items():
            s = self.as_str(item, f"{key}.{k}", None)
            if s is not None:
                out[k] = s
        return out

    def label_map(self, key: builtins.str) -> dict[builtins.str, builtins.str]:
        """`str_map` whose keys are label (or annotation) names, each checked."""
        out: dict[builtins.str, builtins.str] = self.str_map(key, {})
        n = self.raw(key)
        for k in out:
            problem = label_name_problem(k)
            if problem is not None and n is not None:
                self.problems.add(n.key_marks.get(k, n.mark), f"{key}: {problem}")
        return out

    def label_list(self, key: builtins.str) -> tuple[builtins.str, ...]:
        """`str_list` of label names, each checked."""
        out = tuple(self.str_list(key, ()))
        n = self.raw(key)
        for i, k in enumerate(out):
            problem = label_name_problem(k)
            if problem is not None and n is not None:
                at = n.value[i] if isinstance(n.value, list) and i < len(n.value) else n
                self.problems.add(at, f"{key}: {problem}")
        return out

    def map(
        self,
        key: builtins.str,
        what: builtins.str | None = None,
        *,
        required: builtins.bool = False,
    ) -> MapReader | None:
        n = self._get(key, required)
        if n is None:
            return None
        return MapReader(n, self.problems, what or key)

    def list(self, key: builtins.str, *, required: builtins.bool = False) -> builtins.list[Node]:
        n = self._get(key, required)
        if n is None:
            return []
        if not isinstance(n.value, list):
            self.problems.add(n, f"{key}: expected a list, got {_kind(n.value)}")
            return []
        return list(n.value)

    def items(self, key: builtins.str) -> Iterator[MapReader]:
        for i, n in enumerate(self.list(key)):
            yield MapReader(n, self.problems, f"{key}[{i}]")

    def check(self, key: builtins.str, fn: Callable[[Any], T], value: Any) -> T | None:
        """Run a validating constructor (e.g. re.compile); its ValueError becomes a problem at key."""
        try:
            return fn(value)
        except (ValueError, re.error, TypeError) as e:
            n = self.raw(key)
            self.problems.add(n if n is not None else self.node, f"{key}: {e}")
            return None

    def done(self, extra_known: tuple[builtins.str, ...] = ()) -> None:
        """Report every key that no getter asked for. A misspelt required key (`nme:`) is told
        once, as the unknown key it is with the name it misses, not also as the key missing;
        so even when `extra_known` takes every key (a reader that stopped early)."""
        if not self.ok:
            return
        known = self.seen | set(extra_known)
        for k in self.node.value:
            if k in self.seen:
                continue
            missed = _closest(k, set(self.missing))
            if missed is None and k in known:
                continue
            hint = missed or _closest(k, known)
            if missed is not None:
                self.problems.items.remove(self.missing.pop(missed))
            self.problems.add(
                self.key_mark(k),
                f"{self.what}: unknown key {k!r}" + (f" (did you mean {hint!r}?)" if hint else ""),
            )


def _closest(key: str, known: set[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
    if m:
        return m[0]
    swapped = [k for k in sorted(known) if sorted(k) == sorted(key)]  # fro: for
    return swapped[0] if swapped else None


def _kind(v: Any) -> str:
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"a boolean ({str(v).lower()})"
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, (int, float)):
        return f"a number ({v})"
    return f"a string ({v!r})"
