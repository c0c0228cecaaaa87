"""A leading underscore means "this module's business": no module of `trade` imports another
module's private name, sets a private attribute of another object (monkeypatching a method
at run time), or reaches into another object's private members, except the few listed
below with their reason. pybit's private hooks live in `trade/exchange_sim/pybit_client.py`
alone (the lowest layer that needs them; checked against the installed pybit by
tests/test_live_pybit_hooks.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "trade"
HOOKS = PACKAGE / "exchange_sim" / "pybit_client.py"

#: packages whose modules may not read other objects' private members at all (the rest of
#: `trade` has a few such reads left, listed in issue 19's report for their owners)
STRICT = ("trade/core/", "trade/play/", "trade/data/", "trade/live/", "trade/notify/",
          "trade/cli/", "trade/plays/", "trade/metrics/docs.py")

#: (file, expression) -> why reaching into a private member there is acceptable
ALLOWED_PRIVATE_ACCESS: dict[tuple[str, str], str] = {
    ("trade/data/store.py", "pafs._MockFileSystem"):
        "pyarrow names its memory:// filesystem only privately; used to recognise it",
}


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(ROOT).as_posix(), ast.parse(p.read_text(), filename=str(p)))
            for p in sorted(PACKAGE.rglob("*.py"))]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _own(node: ast.expr) -> bool:
    """`self.x` / `cls.x`: the object's own members."""
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def test_no_private_name_is_imported_from_another_module() -> None:
    found = [f"{rel}:{node.lineno}: from {node.module} import {alias.name}"
             for rel, tree in _modules() for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom)
             for alias in node.names if _private(alias.name)]
    assert not found, "import the public name instead:\n" + "\n".join(found)


def test_no_private_attribute_of_another_object_is_assigned() -> None:
    """`ctx._resolve = resolve` replaced a method at run time: take a parameter instead."""
    found = []
    for rel, tree in _modules():
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            found += [f"{rel}:{node.lineno}: {ast.unparse(t)} = ..." for t in targets
                      if isinstance(t, ast.Attribute) and _private(t.attr) and not _own(t.value)]
    assert not found, "\n".join(found)


def test_private_members_of_other_objects_are_not_read_outside_the_allowlist() -> None:
    found = []
    for rel, tree in _modules():
        if not rel.startswith(STRICT):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr)
                    and not _own(node.value)):
                key = (rel, ast.unparse(node))
                if key not in ALLOWED_PRIVATE_ACCESS:
                    found.append(f"{rel}:{node.lineno}: {key[1]}")
    assert not found, "use or add a public member instead:\n" + "\n".join(found)


def test_pybit_private_members_are_used_only_in_the_hooks_module() -> None:
    """pybit's internals change between releases: one module holds every use of them."""
    hooks = HOOKS.relative_to(ROOT).as_posix()
    found = []
    for rel, tree in _modules():
        if rel == hooks:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pybit._"):
                found.append(f"{rel}:{node.lineno}: from {node.module} import ...")
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b) for b in node.bases}
                if bases & {"HTTP", "WebSocket", "WebSocketTrading"}:
                    found.append(f"{rel}:{node.lineno}: class {node.name} subclasses pybit")
    assert not found, f"move these into {hooks}:\n" + "\n".join(found)


def test_the_allowlist_has_no_stale_entries() -> None:
    seen = {(rel, ast.unparse(node)) for rel, tree in _modules() for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and _private(node.attr)}
    stale = sorted(set(ALLOWED_PRIVATE_ACCESS) - seen)
    assert not stale, f"fixed: remove from ALLOWED_PRIVATE_ACCESS: {stale}"
