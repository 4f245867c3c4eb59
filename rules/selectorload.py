"""Load what a rule reads (DESIGN "Rule files"): a log rule's `logs:` selector (sources,
source kinds, match and exclude regexes, where matchers, forgeable groups), a metric rule's
series selector `name{label="v"}`, and lists of matchers (`where:`, a ratio's `of:`), reporting
each problem at its place in the file, as the rest of the rule loader does."""

from __future__ import annotations

import re

from alerter.core.saferegex import compile_pattern
from alerter.core.yamlsource import MapReader, Node
from alerter.rules.matchers import Matcher, matcher_from_map, parse_matcher, parse_matchers
from alerter.rules.model import SOURCE_KINDS, LogSelector, MetricSelector, Reference
from alerter.rules.prefilter import required_literal

_SELECTOR_RE = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{.*\})?\s*$", re.DOTALL)


def parse_selector(text: str) -> MetricSelector:
    """`name{label="v", other=~"re"}` (either part optional, not both)."""
    m = _SELECTOR_RE.match(text)
    if m is None or not (m.group(1) or m.group(2)):
        raise ValueError(f'invalid series selector {text!r}: expected name{{label="value", ...}}')
    matchers = parse_matchers(m.group(2)) if m.group(2) else ()
    if not m.group(1) and not any(x.name == "__name__" for x in matchers):
        raise ValueError(f"series selector {text!r} needs a metric name or a __name__ matcher")
    return MetricSelector(m.group(1) or None, matchers, text.strip())


def parse_logs(
    r: MapReader, refs: list[Reference], linear: frozenset[str] = frozenset()
) -> LogSelector | None:
    lr = r.map("logs", "logs")
    if lr is None:
        return LogSelector((), None, None, (), None)
    sources = lr.str_list("source", (), allow_scalar=True)
    src_node = lr.raw("source")
    if src_node is not None:
        nodes = src_node.value if isinstance(src_node.value, list) else [src_node]
        refs.extend(Reference("source", str(n.value), n.mark) for n in nodes)
    kinds = lr.str_list("source_kinds", ())
    for k in kinds:
        if k not in SOURCE_KINDS:
            lr.problems.add(
                lr.raw("source_kinds") or lr.node,
                f"logs: source_kinds: unknown kind {k!r} (kinds: {', '.join(SOURCE_KINDS)}: "
                "a file collector's parser type, or journald)",
            )
    match = _regex(lr, "match", linear)
    exclude = _regex(lr, "exclude", linear)
    where = parse_matcher_list(lr, "where")
    forgeable = lr.label_list("forgeable")
    for name in forgeable:
        if match is not None and match.groups and name not in match.groupindex:
            lr.problems.add(
                lr.raw("forgeable") or lr.node,
                f"logs: forgeable: {name!r} is no group of match (name the groups whose text "
                "the line's subject chooses)",
            )
    lr.done()
    literal = required_literal(match) if match is not None else None
    return LogSelector(
        tuple(sources), match, exclude, where, literal, tuple(kinds), tuple(forgeable)
    )


def _regex(r: MapReader, key: str, linear: frozenset[str]) -> re.Pattern[str] | None:
    text = r.str(key)
    if text is None:
        return None

    # shipped packs are trusted (their patterns are proven linear by their tests); any other
    # file's patterns are compiled so that no line can stall them (core/saferegex.py), in
    # `re` where they are a pack's as written (`linear`)
    trusted = r.mark.file.startswith("builtin:")
    known = text in linear
    return r.check(key, lambda s: compile_pattern(s, trusted=trusted, linear=known), text)


def parse_matcher_list(r: MapReader, key: str, *, required: bool = False) -> tuple[Matcher, ...]:
    """Matchers as a list of `name="v"` strings, one `{a="b"}` string, or a map (equality)."""
    n = r.raw(key)
    if n is None or n.value is None:
        if required:
            r.problems.add(r.node, f"{r.what}: missing required key {key!r}")
        return ()
    out: list[Matcher] = []
    items: list[tuple[Node, str | None]]
    if isinstance(n.value, dict):
        for k, v in n.value.items():
            s = r.as_str(v, f"{key}.{k}")
            if s is not None:
                out.append(matcher_from_map(k, s))
        return tuple(out)
    if isinstance(n.value, list):
        items = [(item, r.as_str(item, key)) for item in n.value]
    else:
        s = r.as_str(n, key)
        if s is not None and s.strip().startswith("{"):
            try:
                return parse_matchers(s)
            except ValueError as e:
                r.problems.add(n, f"{key}: {e}")
                return ()
        items = [(n, s)]
    for node, text in items:
        if text is None:
            continue
        try:
            out.append(parse_matcher(text))
        except ValueError as e:
            r.problems.add(node, f"{key}: {e}")
    return tuple(out)
