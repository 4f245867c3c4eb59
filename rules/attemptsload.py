"""Load a count rule's `attempts:` (rules/connections.py `AttemptSpec`), reporting each
problem at its place in the file, as the rest of the rule loader does."""

from __future__ import annotations

from collections.abc import Mapping

from alerter.core.yamlsource import MapReader
from alerter.rules.connections import AttemptSpec


def parse_attempts(
    r: MapReader, groups: Mapping[str, int], by: tuple[str, ...], connection: bool
) -> AttemptSpec | None:
    """The rule's `attempts:` (r: the rule), or None (absent, or its problems recorded)."""
    a = r.map("attempts", "attempts")
    if a is None:
        return None
    p = r.problems
    before = len(p.items)
    ident = a.str("id", required=True)
    address = tuple(a.str_list("address", (), required=True, allow_scalar=True))
    user = tuple(a.str_list("user", (), allow_scalar=True))
    pairs = a.str_map("same_attempt", {})
    same = tuple((str(k), v) for k, v in pairs.items())
    other = tuple(a.str_list("other_user", (), allow_scalar=True))
    ends = tuple(a.str_list("ends", (), allow_scalar=True))
    within = a.duration("within", 120.0)
    a.done()
    if within is not None and within <= 0:
        p.add(a.node, "attempts: within must be > 0")
    spec = AttemptSpec(ident or "", address, user, same, other, ends, within or 120.0)
    for g in dict.fromkeys(spec.groups):
        if g not in groups:
            p.add(a.node, f"attempts: {g!r} is not a group of match")
    if not address:
        p.add(a.node, "attempts: address needs at least one group")
    if len(by) != 1:
        p.add(r.key_mark("attempts"), "attempts: needs one `by` label (the address)")
    elif by[0] in spec.address:
        p.add(
            a.node,
            f"attempts: address {by[0]!r} is the `by` label (a line judged here names its address in another group)",
        )
    if connection:
        p.add(r.key_mark("attempts"), "attempts: not with connection in the same rule")
    if other and not user:
        p.add(a.node, "attempts: other_user needs user (the groups naming a line's user)")
    return spec if len(p.items) == before else None
