"""Bounded YAML: size, nesting and alias-expansion limits, checked before any YAML becomes
Python data.

YAML aliases (`*a`) repeat a node without repeating its text, so a few hundred bytes can
describe billions of nodes (an "alias bomb"); a recursive alias describes an infinite one.
PyYAML's composer keeps an aliased node once (the node graph is as small as the text), so
the graph is composed, its expanded size counted with one visit per distinct node, and the
document refused when the count passes a limit — before the loader expands anything.

`read_yaml_text(path)` reads at most `MAX_YAML_BYTES`; `check_yaml(text, source)` raises
`YamlLimitError` (an InputError naming the source and line); `safe_load(text, source)` is
`yaml.safe_load` after that check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from trade.core.errors import InputError

MAX_YAML_BYTES = 1 << 20  # 1 MiB: a Play or a faults file is a few kB
MAX_YAML_NODES = 200_000  # expanded nodes (every alias counted as the nodes it stands for)
MAX_YAML_DEPTH = 100  # nesting of mappings and sequences


class YamlLimitError(InputError):
    """A YAML document over a limit; `source`, `line` (1-based, 0 = unknown) and `reason`."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")


def read_yaml_text(path: Path, *, max_bytes: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of a YAML file, refusing one larger than `max_bytes` (read no further:
    a FIFO or a device is bounded too). OSError / UnicodeDecodeError pass to the caller."""
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise YamlLimitError(str(path), 0, f"file is larger than {max_bytes:,} bytes; "
                                           "not a Play or settings file")
    return data.decode("utf-8")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, source: str, *, max_nodes: int = MAX_YAML_NODES,
                  max_depth: int = MAX_YAML_DEPTH) -> int:
    """Nodes of the document with every alias expanded, counted without expanding: one visit
    per distinct node (iterative, memoised). Raises YamlLimitError past `max_nodes` or
    `max_depth`, or on a recursive alias (an infinite document)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            total = 1 + sum(size[id(k)] for k in kids)
            size[key] = total
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            line = node.start_mark.line + 1
            if total > max_nodes:
                raise YamlLimitError(source, line, f"YAML expands to more than {max_nodes:,} "
                                     "values (aliases repeating aliases: an alias bomb?)")
            if depth[key] > max_depth:
                raise YamlLimitError(source, line,
                                     f"YAML nests deeper than {max_depth} levels")
            continue
        if key in size:
            continue
        if key in on_path:  # an alias to a node that contains it
            raise YamlLimitError(source, node.start_mark.line + 1,
                                 "recursive YAML alias (a value that contains itself)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)
    return size[id(root)]


def check_yaml(text: str, source: str, *, max_bytes: int = MAX_YAML_BYTES,
               max_nodes: int = MAX_YAML_NODES, max_depth: int = MAX_YAML_DEPTH) -> None:
    """Refuse YAML text over the size, nesting or expansion limits (YamlLimitError). A syntax
    error is left to the caller's own parser, which reports it in its own words."""
    if len(text) > max_bytes or len(text.encode("utf-8")) > max_bytes:
        raise YamlLimitError(source, 0, f"text is larger than {max_bytes:,} bytes")
    loader = yaml.SafeLoader(text)
    try:
        nodes: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                nodes.append(node)
    except yaml.YAMLError:
        return
    except RecursionError:  # the composer recurses once per nesting level
        raise YamlLimitError(source, 0, f"YAML nests deeper than {max_depth} levels") from None
    finally:
        loader.dispose()
    for node in nodes:
        expanded_size(node, source, max_nodes=max_nodes, max_depth=max_depth)


def safe_load(text: str, source: str, **limits: int) -> Any:
    """`yaml.safe_load(text)` after `check_yaml(text, source, **limits)`."""
    check_yaml(text, source, **limits)
    return yaml.safe_load(text)
