"""docs/architecture.md holds: the layer rule, and invariant 8 (injectable time).

* The layer table of docs/architecture.md is read from the document and every import between
  trade's subpackages must go to a strictly lower layer (the document cannot drift from the
  code, and an upward import fails with the file that makes it).
* Invariant 8: nothing in trade/ reads the system clock or sleeps except
  trade/core/clock.py; the exchange simulator's real-time replay (its own event loop) is
  the one place allowed to `asyncio.sleep`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "trade"


def _layer_table() -> dict[str, int]:
    """`trade.<pkg>` -> layer number, from the layer table of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    layers: dict[str, int] = {}
    for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.M):
        for pkg in re.findall(r"`trade\.(\w+)`", m.group(2)):
            layers[pkg] = int(m.group(1))
    return layers


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


def _edges() -> set[tuple[str, str, str]]:
    """(importing subpackage, imported subpackage, file) for every cross-package import."""
    edges: set[tuple[str, str, str]] = set()
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if len(rel.parts) < 2:
            continue  # trade/__init__.py re-exports the public face
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "trade" and len(parts) > 1 and parts[1] != rel.parts[0]:
                edges.add((rel.parts[0], parts[1], f"trade/{rel}"))
    return edges


def test_the_layer_table_names_every_subpackage() -> None:
    layers = _layer_table()
    assert layers.get("_kernels") == 0 and layers.get("core") == 1, layers
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(packages - set(layers))
    assert not missing, f"subpackages missing from the layer table of docs/architecture.md: " \
                        f"{missing}"


def test_imports_only_go_down_the_layers() -> None:
    layers = _layer_table()
    edges = _edges()
    assert len(edges) > 20, "the import scan found too little to be meaningful"
    bad = sorted(f"{where}: trade.{src} (layer {layers.get(src)}) imports trade.{dst} "
                 f"(layer {layers.get(dst)})"
                 for src, dst, where in edges
                 if src not in layers or dst not in layers or layers[dst] >= layers[src])
    assert not bad, "imports that break the layer rule of docs/architecture.md:\n" + \
        "\n".join(bad)


# wall-clock reads and sleeps; the Clock is the only way to the time (invariant 8)
_FORBIDDEN = re.compile(
    r"\btime\.(sleep|time|time_ns|monotonic|monotonic_ns|perf_counter)\s*\("
    r"|\bdatetime\.(now|utcnow|today)\s*\(|\bdate\.today\s*\("
)
_ASYNC_SLEEP = re.compile(r"\basyncio\.sleep\s*\(")


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Source lines without comments and docstrings (the rule is about code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and \
                isinstance(node.value.value, str) and node.end_lineno is not None:
            doc_lines.update(range(node.lineno, node.end_lineno + 1))
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if i not in doc_lines:
            out.append((i, line.split("#", 1)[0]))
    return out


def test_nothing_reads_the_wall_clock_or_sleeps_outside_the_clock() -> None:
    clock = PKG / "core" / "clock.py"
    bad: list[str] = []
    for path in sorted(PKG.rglob("*.py")):
        if path == clock:
            continue
        in_sim = path.is_relative_to(PKG / "exchange_sim")
        for lineno, code in _code_lines(path):
            if _FORBIDDEN.search(code) or (_ASYNC_SLEEP.search(code) and not in_sim):
                bad.append(f"{path.relative_to(ROOT)}:{lineno}: {code.strip()}")
    assert not bad, "wall-clock reads or sleeps outside trade/core/clock.py " \
                    "(take a Clock instead):\n" + "\n".join(bad)


def test_the_scan_finds_what_it_forbids() -> None:
    # the scan can fail: the clock module itself does read the system clock
    hits = [c for _, c in _code_lines(PKG / "core" / "clock.py") if _FORBIDDEN.search(c)]
    assert hits


def _kernel_parts() -> list[str]:
    """The simulation kernel's parts, lowest first, from the table in docs/fill_model.md."""
    text = (ROOT / "docs" / "fill_model.md").read_text(encoding="utf-8")
    section = text[text.index("## The kernel's parts"):]
    return re.findall(r"^\| `(\w+)\.pxd` / `\w+\.pyx` \|", section, flags=re.M)


def test_the_simulation_kernel_is_split_by_concern_and_cimports_only_downwards() -> None:
    parts = _kernel_parts()
    assert parts == ["engine", "ledger", "book", "fills", "batch", "sim"], parts
    kernels = PKG / "_kernels"
    # the building blocks every part may use: the Position record and the lifecycle table
    base = {"position", "lifecycle"}
    for pyx in sorted(kernels.glob("*.pyx")):
        # every compiled module declares its C interface (.pxd) and its Python one (.pyi)
        assert pyx.with_suffix(".pxd").is_file() and pyx.with_suffix(".pyi").is_file(), pyx.name
    for name in parts:
        for src in (kernels / f"{name}.pyx", kernels / f"{name}.pxd"):
            used = set(re.findall(r"^from trade\._kernels\.(\w+) cimport", src.read_text(),
                                  flags=re.M))
            for dep in used - base - {name}:  # a .pyx cimports its own .pxd
                assert dep in parts, f"{src.name} cimports {dep}, not a kernel part"
                assert parts.index(dep) < parts.index(name), \
                    f"{src.name} cimports {dep}, which is not below {name}"
