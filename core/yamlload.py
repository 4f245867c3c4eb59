"""YAML text into a tree of `Node`s (alerter.core.yamlsource) that remember FILE:LINE:COL:
decoding a source's bytes, parsing them within bounds (alerter.core.yamlbounds), refusing tags
and duplicate keys, and telling which of alerter's files a document is by its top-level keys.
Pure: the caller passes the text in.
"""

from __future__ import annotations

import yaml
from yaml.constructor import SafeConstructor

from alerter.core.yamlbounds import compose
from alerter.core.yamlsource import Mark, Node, Problem, SourceError


def decode_source(data: bytes, file: str) -> str:
    """A source file's bytes as text: UTF-8, as YAML is. Raises SourceError marked at the
    first byte that is not (a file saved as Latin-1, say), rather than a UnicodeDecodeError."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = len(before) - before.rfind(b"\n")  # rfind: -1 on the first line
        message = f"not UTF-8 (byte 0x{data[e.start]:02x}): save the file as UTF-8"
        raise SourceError([Problem(Mark(file, line, col), message)]) from None


_TEST_KEYS = frozenset({"rule_files", "evaluation_interval", "group_eval_order", "tests"})
_CONFIG_KEYS = frozenset({"global", "server", "collectors", "notifiers", "route", "actions"})


def file_kind(root: Node) -> str | None:
    """Which of alerter's files this is by its top-level keys: "rules" (a rule file, `groups:`
    alone), "tests" (a rule test file), "config", or None when they do not tell. For the
    mistake of giving one where another is read (`alerter check -c rules/ssh.yaml`, as
    `promtool check rules` takes it), told in one line instead of one per unknown key."""
    if not isinstance(root.value, dict):
        return None
    keys = set(root.value)
    if keys == {"groups"}:
        return "rules"
    if "tests" in keys and keys <= _TEST_KEYS:
        return "tests"
    if keys & _CONFIG_KEYS and not keys & {"groups", "tests"}:
        return "config"
    return None


def _mark(file: str, m: yaml.Mark | None) -> Mark:
    if m is None:
        return Mark(file, 1, 1)
    return Mark(file, m.line + 1, m.column + 1)


def load_yaml(text: str, file: str) -> Node:
    """Parse one YAML document into a Node tree. Raises SourceError on bad YAML, and on a
    document whose aliases expand too far or that nests too deep (`alerter.core.yamlbounds`)."""
    try:
        root = compose(text)
    except yaml.MarkedYAMLError as e:
        mark = _mark(file, e.problem_mark or e.context_mark)
        problem = e.problem or e.context
        if problem and "'\\t'" in problem:  # PyYAML: "found character '\t' that cannot ..."
            problem = "a tab; YAML indents with spaces only"
        raise SourceError([Problem(mark, f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as e:
        raise SourceError([Problem(Mark(file, 1, 1), f"invalid YAML: {e}")]) from None
    if root is None:
        return Node({}, Mark(file, 1, 1))
    problems: list[Problem] = []
    node = _convert(root, file, SafeConstructor(), problems)
    if problems:
        raise SourceError(problems)
    return node


def _convert(n: yaml.Node, file: str, ctor: SafeConstructor, problems: list[Problem]) -> Node:
    mark = _mark(file, n.start_mark)
    if n.tag not in SafeConstructor.yaml_constructors:  # !!python/object..., !Ref: not config
        shown = n.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append(Problem(mark, f"YAML tag {shown} is not supported here; remove it"))
        return Node(None, mark)
    if isinstance(n, yaml.MappingNode):
        out: dict[str, Node] = {}
        keys: dict[str, Mark] = {}
        ctor.flatten_mapping(n)
        for k, v in n.value:
            kmark = _mark(file, k.start_mark)
            key = ctor.construct_object(k, deep=True) if isinstance(k, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)):
                problems.append(Problem(kmark, "mapping keys must be plain scalars"))
                continue
            skey = str(key)
            if skey in out:
                problems.append(Problem(kmark, f"duplicate key {skey!r}"))
                continue
            out[skey] = _convert(v, file, ctor, problems)
            keys[skey] = kmark
        return Node(out, mark, keys)
    if isinstance(n, yaml.SequenceNode):
        return Node([_convert(v, file, ctor, problems) for v in n.value], mark)
    try:
        value = ctor.construct_object(n, deep=True)
    except yaml.YAMLError as e:
        problems.append(Problem(mark, f"invalid value: {e}"))
        value = None
    return Node(value, mark)
