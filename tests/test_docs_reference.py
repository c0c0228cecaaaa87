"""The docs are current with the code and the repository stands alone.

* docs/play_reference.md equals what `trade.play.reference` renders from the live schema,
  grammar and indicator registry (regenerate with `python -m trade.play.reference --write`);
* every key the loader accepts (found by walking the pydantic models here, independently of
  the generator), every grammar keyword the condition/action compilers accept, and every
  indicator and structure in the registry appears in it, each with a meaning;
* the complete example Plays in the reference load;
* every file path and `trade.*` name the docs mention exists;
* no tracked file points outside the repository.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from trade.indicators import REGISTRY
from trade.play import load_play_text
from trade.play import reference as ref
from trade.play.schema import Play

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "play_reference.md"
REGEN = "regenerate it with `python -m trade.play.reference --write` from the repository root"


@pytest.fixture(scope="module")
def rendered() -> str:
    return ref.render()


def test_play_reference_is_current(rendered: str) -> None:
    assert DOC.is_file(), f"{DOC} is missing: {REGEN}"
    current = DOC.read_text(encoding="utf-8")
    if current != rendered:
        diff = [f"line {i + 1}: doc {a!r} != code {b!r}"
                for i, (a, b) in enumerate(zip(current.splitlines(), rendered.splitlines(),
                                               strict=False)) if a != b][:3]
        pytest.fail(f"docs/play_reference.md is out of date with the code; {REGEN}. "
                    f"First differences: {diff or 'length differs'}")


def test_render_is_deterministic(rendered: str) -> None:
    assert ref.render() == rendered


# ---------------------------------------------------------------- every key, with a meaning


def _models_in(ann: typing.Any) -> list[type[BaseModel]]:
    """Pydantic models anywhere inside an annotation (unions, Annotated, dict, list)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(ann):
        out.extend(_models_in(arg))
    return out


def _accepted_keys(model: type[BaseModel]) -> set[tuple[str, str]]:
    """(model name, field) of every field of every model reachable from `model`."""
    seen: set[tuple[str, str]] = set()
    todo = [model]
    done: set[type[BaseModel]] = set()
    while todo:
        m = todo.pop()
        if m in done:
            continue
        done.add(m)
        for name, field in m.model_fields.items():
            seen.add((m.__name__, name))
            todo.extend(_models_in(field.annotation))
    return seen


def test_walk_covers_every_model_field() -> None:
    walked = {(k.model.__name__, k.field) for k in ref.schema_keys()}
    missing = _accepted_keys(Play) - walked
    assert not missing, f"schema fields the reference does not walk: {sorted(missing)}"


def test_every_schema_key_is_in_the_reference(rendered: str) -> None:
    keys = ref.schema_keys()
    assert len(keys) >= len(_accepted_keys(Play))
    absent = [k.path for k in keys if f"`{k.path}`" not in rendered]
    assert not absent, f"keys the loader accepts but the reference omits: {absent}"


def test_every_key_has_a_meaning() -> None:
    missing = ref.missing_descriptions()
    assert not missing, (
        "no meaning for: " + ", ".join(missing) + ". Add a pydantic Field(description=...) "
        "or ParamSpec.doc in the code, or an entry in the tables of trade/play/reference.py.")


def test_no_stale_meanings() -> None:
    stale = ref.stale_descriptions()
    assert not stale, f"entries in trade/play/reference.py that name nothing any more: {stale}"


def test_missing_meaning_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    # the check above can fail: drop one meaning and it is reported by path
    monkeypatch.delitem(ref.KEY_DOCS, "entry.time_in_force")
    assert "entry.time_in_force" in ref.missing_descriptions()


def _grammar_literals(module: types.ModuleType) -> set[str]:
    """Keys a compiler accepts, read from its source: string literals it tests membership
    in (`k in ("when", "percent")`), its `allowed` sets, and the keys it reads from the raw
    YAML mapping (`raw["lhs"]`, `raw.get("offset")`, `data.pop("risk_limits")`)."""
    tree = ast.parse(Path(typing.cast(str, module.__file__)).read_text(encoding="utf-8"))
    found: set[str] = set()

    def strings(node: ast.AST) -> set[str]:
        return {n.value for n in ast.walk(node)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)}

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, ast.In | ast.NotIn):
                    if isinstance(right, ast.Set | ast.Tuple | ast.List):
                        found |= strings(right)
                    if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
                        found.add(node.left.value)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "allowed" for t in node.targets):
            found |= strings(node.value)
        elif (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
              and isinstance(node.slice.value, str)):
            found.add(node.slice.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "pop", "setdefault") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return {s for s in found if re.fullmatch(r"[a-z_]+", s)}


def _documented(key: str, rendered: str) -> bool:
    """`key` is shown in code spans: alone (`lhs`) or as a part of a path (`risk_limits.x`)."""
    spans = re.findall(r"`([^`\n]+)`", rendered)
    word = re.compile(rf"(?<![\w]){re.escape(key)}(?![\w])")
    return any(word.search(s) for s in spans)


def test_every_grammar_key_is_in_the_reference(rendered: str) -> None:
    import trade.play.actions as actions
    import trade.play.conditions as conditions
    import trade.play.dialect as dialect

    keys = _grammar_literals(conditions) | _grammar_literals(actions)
    # the scan must see the known keys, or it would pass vacuously
    assert {"lhs", "tolerance", "feature_id", "offset", "min_true", "when", "emit",
            "metadata", "cases"} <= keys
    keys |= set(conditions.ALL_OPS) | set(conditions.CONDITION_KEYS)
    keys |= set(actions.EMIT_NAMES)
    absent = sorted(k for k in keys if f"`{k}`" not in rendered)
    assert not absent, f"grammar keys the compilers accept but the reference omits: {absent}"
    other = _grammar_literals(dialect)
    assert {"risk_limits", "risk_per_trade_pct"} <= other
    other |= set(dialect.RISK_LIMIT_KEYS) | set(dialect.ORDER_TYPE_KEYS)
    absent = sorted(k for k in other if not _documented(k, rendered))
    assert not absent, f"keys the dialect rewrites but the reference omits: {absent}"


# ---------------------------------------------------------------- indicators and structures


def test_every_indicator_and_structure_appears(rendered: str) -> None:
    assert REGISTRY, "the registry is empty"
    for name, spec in REGISTRY.items():
        section = f"### `{spec.name}`"
        assert section in rendered, f"{spec.kind} {spec.name!r} has no section"
        body = rendered.split(section, 1)[1].split("\n### ", 1)[0]
        if name != spec.name:  # a registry key that is an alias
            assert f"`{name}`" in body, f"alias {name!r} of {spec.name!r} is not listed"
        for alias in spec.aliases:
            assert f"`{alias}`" in body, f"alias {alias!r} of {spec.name!r} is not listed"
        for p in spec.params:
            assert f"| `{p.name}` |" in body, f"{spec.name}: parameter {p.name!r} missing"
        for out in spec.outputs:
            assert f"| `{out}` |" in body, f"{spec.name}: output {out!r} missing"
    indicators = rendered.split("\n## Indicators", 1)[1].split("\n## Structures", 1)[0]
    structures = rendered.split("\n## Structures", 1)[1]
    for spec in REGISTRY.values():
        where = indicators if spec.kind == "indicator" else structures
        assert f"### `{spec.name}`" in where, f"{spec.name} is in the wrong section"


def test_parameter_bounds_and_defaults_are_the_registry_s(rendered: str) -> None:
    spec = next(s for s in REGISTRY.values() if s.params and s.params[0].kind == "int")
    p = spec.params[0]
    body = rendered.split(f"### `{spec.name}`", 1)[1].split("\n### ", 1)[0]
    row = next(line for line in body.splitlines() if line.startswith(f"| `{p.name}` |"))
    assert f"`{p.default}`" in row
    assert f"{p.min:g} .. {p.max:g}" in row


# ---------------------------------------------------------------- examples load


def test_example_plays_in_the_reference_load(rendered: str) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", rendered, flags=re.S)
    plays = [b for b in blocks if re.search(r"^version:", b, flags=re.M)]
    assert len(plays) >= 3, "the reference lost its complete example Plays"
    for i, text in enumerate(plays):
        play = load_play_text(text, source=f"play_reference.md example {i + 1}")
        assert play.name


# ---------------------------------------------------------------- CLI


def test_cli_prints_the_reference(rendered: str) -> None:
    out = subprocess.run([sys.executable, "-m", "trade.play.reference"], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    assert out.stdout == rendered


def test_cli_write_and_check(tmp_path: Path, rendered: str) -> None:
    target = tmp_path / "ref.md"
    assert ref.main(["--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == rendered
    assert ref.main(["--check", str(target)]) == 0
    target.write_text(rendered + "stale\n", encoding="utf-8")
    assert ref.main(["--check", str(target)]) == 1
    assert ref.main(["--write", str(tmp_path / "no" / "such" / "ref.md")]) == 2


# ---------------------------------------------------------------- the repository stands alone

OUTSIDE = re.compile(r"DESIGN\.md|PLAY_FORMAT\.md|\.\./shared|/work/shared")


def test_no_tracked_file_points_outside_the_repository() -> None:
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("git ls-files failed: this test needs the git checkout")
    this = Path(__file__).resolve()
    hits: list[str] = []
    for name in filter(None, files):
        path = ROOT / name
        if path.resolve() == this or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary data (compressed samples, images)
        for lineno, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                hits.append(f"{name}:{lineno}: {line.strip()[:100]}")
    assert not hits, "files that refer to something outside the repository:\n" + \
        "\n".join(hits)


# ---------------------------------------------------------------- names in the docs exist

OWN_DOCS = ("README.md", "architecture.md", "fill_model.md", "play_reference.md")
_PATH = re.compile(r"^(?:trade|tests|kernels|docs|plays|benchmarks|tools|\.ci)/[\w./*-]*$")
_DOTTED = re.compile(r"^trade(?:\.\w+)+$")


def _resolve(dotted: str) -> bool:
    """`trade.a.b.C` names a module or an attribute of one."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_paths_and_names_in_the_docs_exist(doc: str) -> None:
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    spans = set(re.findall(r"`([^`\n]+)`", text))
    missing = []
    for span in sorted(spans):
        token = span.split()[0].rstrip(",.:;")
        if _PATH.match(token):
            if not list(ROOT.glob(token.rstrip("/"))):
                missing.append(token)
        elif _DOTTED.match(token) and not _resolve(token):
            missing.append(token)
    assert not missing, f"docs/{doc} names files or modules that do not exist: {missing}"


def test_the_name_check_can_fail() -> None:
    assert _resolve("trade.live.session.LiveAdapter")
    assert not _resolve("trade.core.NoSuchThing")
    assert not _resolve("trade.no_such_package")
