"""YAML loading that remembers the line of every key and value (for error messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from trade.play.errors import PlayError, PlayIssue

PathKey = tuple[str | int, ...]


@dataclass(slots=True)
class SourceMap:
    """Line numbers (1-based) by YAML path; a path's line is where its key (or list item) starts."""

    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, path: PathKey) -> int:
        """Line of `path`, or of its nearest ancestor that has one (0 if none)."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 0)

    def issue(self, path: PathKey, message: str) -> PlayIssue:
        return PlayIssue(self.file, self.line(path), dotted(path), message)


def dotted(path: PathKey) -> str:
    """`('actions', 'entry_long', 'all', 2)` -> `actions.entry_long.all[2]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_yaml(text: str, source: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document into plain Python data plus its SourceMap.

    Raises PlayError for syntax errors and duplicate keys.
    """
    smap = SourceMap(source)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise PlayError([PlayIssue(source, 1, "", "empty file, expected a YAML mapping")])
        issues: list[PlayIssue] = []
        data = _build(loader, node, (), smap, issues)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlayError([PlayIssue(source, line, "", f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise PlayError([PlayIssue(source, 0, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if issues:
        raise PlayError(issues)
    return data, smap


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: PathKey,
    smap: SourceMap,
    issues: list[PlayIssue],
) -> Any:
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                issues.append(
                    PlayIssue(smap.file, key_node.start_mark.line + 1, dotted(path),
                              f"mapping key must be a scalar, found {type(key).__name__}")
                )
                continue
            # YAML 1.1 reads bare `on`/`off`/`yes`/`no` keys as booleans; keep the written text
            if isinstance(key, bool) and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            if key in out:
                issues.append(
                    PlayIssue(smap.file, key_node.start_mark.line + 1, dotted((*path, key)),
                              "duplicate key")
                )
                continue
            child = (*path, key)
            smap.lines[child] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, child, smap, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(loader, item, (*path, i), smap, issues) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
