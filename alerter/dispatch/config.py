"""Parse `route:` and `inhibit_rules:` with Alertmanager's semantics.

Children inherit every unset field (receiver, group_by, the three timers) from their parent;
the inheritance is resolved here, once, so the dispatcher reads plain values. Matchers use the
one syntax of `rules/matchers.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from alerter.core.yamlsource import MapReader, Mark, Node, Problems
from alerter.rules.matchers import Matcher, parse_matchers

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class RouteConfig:
    receiver: str
    group_by: tuple[str, ...] = ("alertname",)
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[RouteConfig, ...] = ()
    group_by_all: bool = False  # group_by: ['...']
    # named time intervals (top-level `time_intervals:`); not inherited, as in Alertmanager
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    key: str = "{}"  # Alertmanager's route key: "{}" for the root, parent key + "/" + matchers
    id: str = "0"  # position in the tree ("0", "0.1", ...): names a route in persisted state
    mark: Mark = field(default=Mark("<default>", 1, 1), compare=False)


@dataclass(frozen=True, slots=True)
class InhibitRuleConfig:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]
    mark: Mark = field(default=Mark("<default>", 1, 1), compare=False)


def parse_route(
    r: MapReader | None,
    notifier_names: Sequence[str],
    mark: Mark,
    p: Problems,
    interval_names: Sequence[str] = (),
) -> RouteConfig:
    """The root route. Without a `route:` section every alert goes to the first notifier,
    grouped by alertname. `interval_names`: the names `time_intervals:` defines."""
    default = notifier_names[0] if notifier_names else "console"
    if r is None:
        return RouteConfig(receiver=default, mark=mark)
    parent = RouteConfig(receiver=default, group_by=(), mark=mark)
    names = _Names(frozenset(notifier_names), frozenset(interval_names))
    return _parse(r, parent, names, "0", is_root=True)


@dataclass(frozen=True, slots=True)
class _Names:
    receivers: frozenset[str]
    intervals: frozenset[str]


def _parse(
    r: MapReader, parent: RouteConfig, names: _Names, rid: str, *, is_root: bool
) -> RouteConfig:
    receivers = names.receivers
    p = r.problems
    receiver = r.str("receiver", parent.receiver)
    if r.has("receiver") and receiver not in receivers:
        p.add(
            r.raw("receiver") or r.node,
            f"receiver: no notifier named {receiver!r} (have: {', '.join(sorted(receivers))})",
        )
    group_by, group_by_all = parent.group_by, parent.group_by_all
    if r.has("group_by"):
        labels = r.str_list("group_by", ())
        group_by_all = "..." in labels
        if group_by_all and len(labels) > 1:
            p.add(
                r.raw("group_by") or r.node,
                "group_by: '...' groups by all labels and cannot be combined with others",
            )
        group_by = () if group_by_all else tuple(dict.fromkeys(labels))
    group_wait = _duration(r, "group_wait", parent.group_wait, minimum_exclusive=False)
    group_interval = _duration(r, "group_interval", parent.group_interval, minimum_exclusive=True)
    repeat_interval = _duration(
        r, "repeat_interval", parent.repeat_interval, minimum_exclusive=True
    )
    matchers = parse_matcher_list(r, "matchers")
    if is_root and matchers:
        p.add(
            r.raw("matchers") or r.node,
            "matchers: the root route matches every alert and cannot have matchers",
        )
    cont = r.bool("continue", False)
    if is_root and cont:
        p.add(r.raw("continue") or r.node, "continue: not allowed on the root route")
    mute = _interval_refs(r, "mute_time_intervals", names.intervals, is_root)
    active = _interval_refs(r, "active_time_intervals", names.intervals, is_root)
    key = "{}" if is_root else f"{parent.key}/{{{','.join(str(m) for m in matchers)}}}"
    own = RouteConfig(
        receiver=receiver,
        group_by=group_by,
        group_wait=group_wait,
        group_interval=group_interval,
        repeat_interval=repeat_interval,
        matchers=matchers,
        continue_=cont,
        group_by_all=group_by_all,
        mute_time_intervals=mute,
        active_time_intervals=active,
        key=key,
        id=rid,
        mark=r.mark,
    )
    children = tuple(
        _parse(cr, own, names, f"{rid}.{i}", is_root=False)
        for i, cr in enumerate(r.items("routes"))
    )
    r.done()
    return dataclasses.replace(own, routes=children)


def _interval_refs(r: MapReader, key: str, known: frozenset[str], is_root: bool) -> tuple[str, ...]:
    refs = tuple(dict.fromkeys(r.str_list(key, ())))
    n = r.raw(key) or r.node
    if refs and is_root:
        r.problems.add(n, f"{key}: the root route cannot have {key.replace('_', ' ')}")
        return ()
    for name in refs:
        if name not in known:
            have = ", ".join(sorted(known)) or "none defined in time_intervals"
            r.problems.add(n, f"{key}: no time interval named {name!r} (have: {have})")
    return tuple(x for x in refs if x in known)


def _duration(r: MapReader, key: str, default: float, *, minimum_exclusive: bool) -> float:
    v: float = r.duration(key, default)
    if minimum_exclusive and v <= 0:
        r.problems.add(r.raw(key) or r.node, f"{key}: must be greater than 0")
        return default
    if v < 0:
        r.problems.add(r.raw(key) or r.node, f"{key}: must not be negative")
        return default
    return v


def parse_matcher_list(r: MapReader, key: str) -> tuple[Matcher, ...]:
    """A list of matcher strings, or one `{a="b", c=~"d"}` string; problems point at the item."""
    n = r.raw(key)
    if n is None or n.value is None:
        return ()
    items: list[Node] = n.value if isinstance(n.value, list) else [n]
    out: list[Matcher] = []
    for item in items:
        text = r.as_str(item, key)
        if text is None:
            continue
        try:
            out.extend(
                parse_matchers(text) if text.lstrip().startswith("{") else (parse_matchers([text]))
            )
        except ValueError as e:
            r.problems.add(item, f"{key}: {e}")
    return tuple(out)


def parse_inhibit_rule(r: MapReader) -> InhibitRuleConfig | None:
    seen = len(r.problems.items)
    source = parse_matcher_list(r, "source_matchers")
    source_ok = len(r.problems.items) == seen  # (a matcher that did not parse is told alone)
    seen = len(r.problems.items)
    target = parse_matcher_list(r, "target_matchers")
    target_ok = len(r.problems.items) == seen
    equal = r.str_list("equal", ())
    if r.ok and source_ok and not source:
        r.problems.add(r.node, f"{r.what}: source_matchers must list at least one matcher")
    if r.ok and target_ok and not target:
        r.problems.add(r.node, f"{r.what}: target_matchers must list at least one matcher")
    r.done()
    if not (r.ok and source and target):
        return None
    return InhibitRuleConfig(source, target, tuple(equal), r.mark)
