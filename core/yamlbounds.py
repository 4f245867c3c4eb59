"""A YAML loader whose documents cannot grow past a budget when their aliases are expanded.

PyYAML composes an alias as a second reference to the anchored node, so nine lines of nine
aliases each (the "billion laughs") compose instantly into a small graph, and walking it as a
tree (as every reader of the document does) visits 9^9 nodes. `BoundedLoader` counts, while
composing, how many nodes each alias adds to the expanded tree and refuses the document at the
alias that takes the total past `MAX_ALIAS_NODES`, so a hostile file costs milliseconds. It also
refuses an alias inside the node it names (a cycle no tree can hold) and nesting deeper than
`MAX_DEPTH` (which would otherwise end in a RecursionError). Each refusal is a
`yaml.composer.ComposerError` marked at the offending alias or node, so the caller reports it as
`FILE:LINE:COL` like any YAML error.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

MAX_ALIAS_NODES = 100_000  # nodes aliases may add to the expanded document, all aliases together
MAX_DEPTH = 100  # nested collections


class _Bounds(Composer):
    """The composer with the alias-expansion budget and depth bound described above; the
    events come from the parser beside it in the loader."""

    max_alias_nodes = MAX_ALIAS_NODES
    max_depth = MAX_DEPTH

    def _bounds(self) -> None:
        self._expanded: dict[int, int] = {}  # id(node) -> its node count once expanded
        self._alias_nodes = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: Any = self.peek_event()  # type: ignore[attr-defined]  # (the loader's parser's)
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            size = self._expanded.get(id(node))
            if size is None:  # still being composed: the alias is inside its own anchor
                raise _refused(f"alias *{event.anchor} is inside the node it names", event)
            self._alias_nodes += size
            if self._alias_nodes > self.max_alias_nodes:
                raise _refused(
                    f"aliases expand the document by more than {self.max_alias_nodes} nodes "
                    f"(at *{event.anchor}); write the values out or use fewer nested aliases",
                    event,
                )
            return node
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        self._depth += nested
        try:
            if self._depth > self.max_depth:
                raise _refused(f"nested deeper than {self.max_depth} levels", event)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= nested
        if node is not None:
            self._expanded[id(node)] = 1 + sum(self._expanded[id(c)] for c in _children(node))
        return node


def _refused(message: str, event: Any) -> ComposerError:
    return ComposerError(None, None, message, event.start_mark)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class PyBoundedLoader(_Bounds, yaml.SafeLoader):
    """Bounded, on PyYAML's own (pure Python) scanner and parser."""

    def __init__(self, stream: Any) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._bounds()


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class CBoundedLoader(_Bounds, CParser, SafeConstructor, Resolver):
        """Bounded, on libyaml's scanner and parser (the events; composed here, so that the
        bounds hold): a 2000-rule file reads in 0.47 s against 1.05 s."""

        def __init__(self, stream: Any) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._bounds()

    # (typed as the loader it stands in for: yaml.compose's Loader)
    BoundedLoader = cast("type[yaml.SafeLoader]", CBoundedLoader)
else:  # a PyYAML built without libyaml
    BoundedLoader = PyBoundedLoader


def compose(text: str) -> yaml.Node | None:
    """The document's node graph, bounded (BoundedLoader). On an error it is read again by
    PyYAML's own parser, whose message (and position) is the one reported: libyaml's are
    terser ("did not find expected node content" for "expected the node content, but found
    '<stream end>'"), and an error costs no more than the file's size."""
    try:
        return yaml.compose(text, Loader=BoundedLoader)
    except yaml.YAMLError:
        if BoundedLoader is PyBoundedLoader:
            raise
    return yaml.compose(text, Loader=PyBoundedLoader)
