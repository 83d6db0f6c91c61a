"""The spec's YAML loader: safe_load with limits (size, nodes after aliases, depth, no
duplicate keys), every problem one SpecError naming the source and the line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from datavsmath.sweeps.spec import SpecError
from datavsmath.trainables.checks import DatavsmathError, echo

# Bounds on what one spec file may stand for. YAML aliases let a few hundred bytes mean
# billions of values (a 439-byte alias bomb took 5.5 GB), and each level of nesting is a
# Python stack frame; real specs have a few hundred nodes, 5 levels deep and some KB.
MAX_SPEC_BYTES = 10 * 2**20
MAX_YAML_NODES = 100_000  # after expanding every alias
MAX_YAML_DEPTH = 50


class _RefusedYAML(DatavsmathError, yaml.YAMLError):
    """Valid YAML that a spec may not be: a duplicate key, too many nodes, too deep, a cycle."""


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return int(mark.line) + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


def _check_expanded(root: yaml.Node) -> None:
    """Refuse a document that, with every alias expanded, has more than MAX_YAML_NODES nodes
    or is nested deeper than MAX_YAML_DEPTH, or whose aliases form a cycle. Counted without
    expanding: each distinct node once (memoized post-order walk, no recursion)."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = [sizes[id(c)] for c in _children(node)]
            count, depth = 1 + sum(k[0] for k in kids), 1 + max((k[1] for k in kids), default=0)
            if count > MAX_YAML_NODES:
                raise _RefusedYAML(f"more than {MAX_YAML_NODES} YAML nodes after expanding aliases "
                                   f"(the one at line {_line(node)} alone has {count})")
            if depth > MAX_YAML_DEPTH:
                raise _RefusedYAML(f"nested deeper than {MAX_YAML_DEPTH} levels after expanding aliases "
                                   f"(at line {_line(node)})")
            sizes[key] = (count, depth)
            open_nodes.discard(key)
        elif key in open_nodes:  # every entry above an open node's marker was pushed by its subtree
            raise _RefusedYAML(f"an alias at or below line {_line(node)} refers to a node that contains it")
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


class _SpecLoader(yaml.SafeLoader):
    """yaml.SafeLoader with the limits of a spec: no duplicate keys, at most MAX_YAML_NODES
    nodes (aliases expanded) and MAX_YAML_DEPTH levels. Tags stay refused, as in safe_load."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        # Checked while composing, before Python's stack or memory runs out.
        self._depth += 1
        self._composed += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _RefusedYAML(f"nested deeper than {MAX_YAML_DEPTH} levels (line {_line(self.peek_event())})")
            if self._composed > MAX_YAML_NODES:
                raise _RefusedYAML(f"more than {MAX_YAML_NODES} YAML nodes (line {_line(self.peek_event())})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        if node is not None:
            _check_expanded(node)
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue  # merge keys may repeat; complex keys are refused by the base class
                key = self.construct_object(key_node)
                if key in first_line:
                    raise _RefusedYAML(f"duplicate key {echo(key)} at line {_line(key_node)} "
                                       f"(first at line {first_line[key]})")
                first_line[key] = _line(key_node)
        return super().construct_mapping(node, deep=deep)


# PyYAML (YAML 1.1) reads 1e3 and 1.0e3 as text: its floats need a dot and a signed exponent.
# People and YAML 1.2 write them as numbers, and so the spec reads them.
_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line saying what is wrong and where, from PyYAML's multi-line messages."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context}, line {_line(exc.context_mark)})" if exc.context and exc.context_mark else ""
        return _cut(f"{where}{exc.problem}{context}")
    if isinstance(exc, yaml.reader.ReaderError):
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return f"position {exc.position}: unacceptable character {char}: {exc.reason}"
    return _cut(" ".join(str(exc).split()))


def _cut(text: str, *, limit: int = 200) -> str:
    """`text` cut to `limit` characters with "...": parser messages quote parts of the file."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_yaml_text(text: str, *, source: str) -> dict[str, Any]:
    """Load a YAML mapping with the spec's limits (_SpecLoader), turning every problem into a
    one-line SpecError naming `source` and the line."""
    try:
        data = yaml.load(text, Loader=_SpecLoader)
    except _RefusedYAML as exc:
        raise SpecError(f"spec {source}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"spec {source}: malformed YAML at {_yaml_problem(exc)}") from exc
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a 5000-digit integer, a bad date
        first = str(exc).split(":")[0]
        raise SpecError(f"spec {source}: malformed YAML: a value cannot be read ({_cut(first)})") from exc
    if not isinstance(data, dict):
        raise SpecError(f"spec {source}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def read_yaml(path: Path) -> dict[str, Any]:
    """The YAML mapping in the file `path` (UTF-8, at most MAX_SPEC_BYTES; see parse_yaml_text)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"spec {path}: cannot read: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"spec {path}: larger than {MAX_SPEC_BYTES} bytes; a spec is a few KB of YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from exc
    return parse_yaml_text(text, source=str(path))
