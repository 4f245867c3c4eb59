"""core/yamlbounds.py through load_yaml: aliases that expand too far, cycles and deep nesting
are FILE:LINE:COL errors; ordinary anchors, aliases and merge keys still load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alerter.core import yamlbounds
from alerter.core.yamlbounds import MAX_ALIAS_NODES, BoundedLoader
from alerter.core.yamlload import load_yaml
from alerter.core.yamlsource import SourceError


def billion_laughs() -> str:
    """The classic: 9 levels of 9 aliases, 9^9 "lol" strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(SourceError) as exc:
        load_yaml(text, "c.yaml")
    return [str(p) for p in exc.value.problems]


def test_billion_laughs_is_refused_at_the_alias_that_passes_the_budget() -> None:
    assert problems(billion_laughs()) == [
        f"c.yaml:6:8: invalid YAML: aliases expand the document by more than {MAX_ALIAS_NODES} "
        "nodes (at *e); write the values out or use fewer nested aliases"
    ]


def test_a_recursive_alias_is_refused() -> None:
    assert problems("a: &a [1, *a]\n") == [
        "c.yaml:1:11: invalid YAML: alias *a is inside the node it names"
    ]
    assert problems("a: &a {x: {y: *a}}\n") == [
        "c.yaml:1:15: invalid YAML: alias *a is inside the node it names"
    ]


def test_nesting_deeper_than_the_bound_is_refused_not_a_recursion_error() -> None:
    deep = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    assert problems(deep) == ["c.yaml:1:103: invalid YAML: nested deeper than 100 levels"]
    ok = "x: " + "[" * 99 + "1" + "]" * 99 + "\n"
    node = load_yaml(ok, "c.yaml").value["x"]
    for _ in range(98):
        (node,) = node.value
    assert node.plain() == [1]


def test_ordinary_anchors_aliases_and_merge_keys_still_load() -> None:
    text = """
common: &common {severity: warning, team: ops}
rules:
  - labels: {<<: *common, unit: web}
  - labels: *common
matchers: &m [a, b]
again: *m
"""
    doc = load_yaml(text, "c.yaml").plain()
    assert doc["rules"] == [
        {"labels": {"severity": "warning", "team": "ops", "unit": "web"}},
        {"labels": {"severity": "warning", "team": "ops"}},
    ]
    assert doc["again"] == ["a", "b"]


# (BoundedLoader is a variable, libyaml's loader or the pure-Python one as PyYAML was built: a
# subclass of it is made with type())
Small: type[yaml.SafeLoader] = type("Small", (BoundedLoader,), {"max_alias_nodes": 10})


def compose_small(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=Small)


def test_the_budget_counts_every_node_an_alias_adds() -> None:
    # *a adds 4 nodes (the list and its 3 items): twice is 8, within 10; three times is 12.
    assert compose_small("a: &a [1, 2, 3]\nb: [*a, *a]\n") is not None
    with pytest.raises(yaml.composer.ComposerError) as exc:
        compose_small("a: &a [1, 2, 3]\nb: [*a, *a, *a]\n")
    assert exc.value.problem_mark is not None
    assert (exc.value.problem_mark.line, exc.value.problem_mark.column) == (1, 12)
    # An alias of a node holding aliases adds that node's whole expansion: *b is 1 + 2 * 4.
    with pytest.raises(yaml.composer.ComposerError):
        compose_small("a: &a [1, 2, 3]\nb: &b [*a, *a]\nc: *b\n")
    # Aliases of scalars add one node each.
    assert compose_small("a: &a x\nb: [" + ", ".join(["*a"] * 10) + "]\n") is not None
    with pytest.raises(yaml.composer.ComposerError):
        compose_small("a: &a x\nb: [" + ", ".join(["*a"] * 11) + "]\n")


def marks(node: yaml.Node | None) -> list[tuple[str, int, int]]:
    """Each node's kind and where it starts, depth first."""
    if node is None:
        return []
    out = [(type(node).__name__, node.start_mark.line, node.start_mark.column)]
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            out += marks(k) + marks(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            out += marks(v)
    return out


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")
def test_libyaml_composes_what_pyyaml_composes_nodes_and_positions_alike() -> None:
    """BoundedLoader reads with libyaml's parser where it can: every YAML file the project
    ships (packs, examples, configs, rule tests) gives the same graph and node positions."""
    root = Path(__file__).resolve().parents[2]
    files = [
        p
        for pattern in ("*.yaml", "rules/packs/**/*.yaml", "examples/**/*.yaml", "tests/**/*.yaml")
        for p in root.glob(pattern)
    ]
    assert len(files) >= 10
    for f in files:
        text = f.read_text()
        fast = yaml.compose(text, Loader=yamlbounds.BoundedLoader)
        slow = yaml.compose(text, Loader=yamlbounds.PyBoundedLoader)
        assert yaml.serialize(fast) == yaml.serialize(slow), f
        assert marks(fast) == marks(slow), f
