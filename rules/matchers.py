"""Prometheus/Alertmanager matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.

One syntax for rule `where`, routes, inhibit rules and silences. A regex means what it means
to Alertmanager: Go's RE2 syntax, fully anchored as `^(?:value)$` (so `.` does not match a
newline unless the regex says `(?s)`), and only RE2 runs it (linear time: a hostile API filter
cannot stall; one engine: no answer depends on which ran). Alertmanager pastes the value in
unchecked, so `a)|(b` means "starts with a, or ends with b" there; here a value must be a regex
on its own, and such a value is refused. A missing label matches as the empty string, as in
Alertmanager.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

from alerter.core.re2engine import compile_re2, re2_error

Op = Literal["=", "!=", "=~", "!~"]

_MATCHER_RE = re.compile(
    r"""^\s*(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,}"']*?)\s*$"""
)


def value_matches(matcher: Matcher, v: str) -> bool:
    """The matcher against one value (`matches` without a label mapping)."""
    op = matcher.op
    if op == "=":
        return v == matcher.value
    if op == "!=":
        return v != matcher.value
    seen = matcher.seen
    hit = seen.get(v)
    if hit is None:
        assert matcher.regex is not None
        hit = matcher.regex.match(v) is not None
        if len(v) <= _SEEN_LENGTH:
            if len(seen) >= _SEEN_VALUES:
                seen.clear()
            seen[v] = hit
    return hit if op == "=~" else not hit


# Answers kept per regex matcher, as Alertmanager keeps them (unbounded there): label values
# repeat, and RE2 costs ~1 us a call from Python; bounded here, in count and in length
_SEEN_VALUES = 1024
_SEEN_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: Op
    value: str
    regex: re.Pattern[str] | None = None
    seen: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @staticmethod
    def create(name: str, op: Op, value: str) -> Matcher:
        rx = None
        if op in ("=~", "!~"):
            rx = compile_matcher_regex(value, f"{name}{op}{value!r}")
        return Matcher(name, op, value, rx)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return value_matches(self, labels.get(self.name, ""))

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value)}"


def compile_matcher_regex(value: str, what: str = "") -> re.Pattern[str]:
    """Alertmanager's `^(?:value)$`, in RE2. Raises ValueError with RE2's reason."""
    why = re2_error(value)  # alone first: `a)|(b` would change the anchoring
    if why is None:
        try:
            return cast(re.Pattern[str], compile_re2(f"^(?:{value})$"))
        except ValueError as e:
            why = str(e)
    where = f" in matcher {what}" if what else ""
    raise ValueError(f"invalid regex{where}: {why} (matchers use Go's RE2 syntax)")


def parse_matcher(text: str) -> Matcher:
    """Parse one matcher; raises ValueError with a message saying what to write instead."""
    m = _MATCHER_RE.match(text)
    if m is None:
        raise ValueError(f'invalid matcher {text!r}: expected name="value" (operators = != =~ !~)')
    raw = m.group("value")
    if raw[:1] == '"':
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(f"invalid quoted value in matcher {text!r}") from None
    elif raw[:1] == "'":
        value = raw[1:-1].replace("\\'", "'")
    else:
        value = raw
    return Matcher.create(m.group("name"), m.group("op"), value)  # type: ignore[arg-type]


def parse_matchers(items: Iterable[str] | str) -> tuple[Matcher, ...]:
    """A list of matchers, or one `{a="b", c=~"d"}` string (commas inside quotes are kept)."""
    if isinstance(items, str):
        text = items.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        items = [p for p in _split_commas(text) if p.strip()]
    return tuple(parse_matcher(i) for i in items)


def matcher_from_map(name: str, value: str) -> Matcher:
    """`where: {program: sshd}` style: equality."""
    return Matcher.create(name, "=", value)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def _split_commas(text: str) -> list[str]:
    out, cur, quote, esc = [], [], "", False
    for ch in text:
        if esc:
            cur.append(ch)
            esc = False
            continue
        if ch == "\\" and quote:
            cur.append(ch)
            esc = True
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == ",":
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out
