"""Bounded YAML (trade.core.safe_yaml): alias bombs, recursive aliases, deep nesting and huge
files are refused with the source and line, before anything is expanded; ordinary YAML loads
exactly as yaml.safe_load does. Play files and the simulator's fault files go through it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from trade.core.errors import InputError
from trade.core.safe_yaml import (
    MAX_YAML_BYTES,
    YamlLimitError,
    check_yaml,
    expanded_size,
    read_yaml_text,
    safe_load,
)
from trade.exchange_sim.faults import FaultConfig
from trade.play import PlayError, load_play, load_play_text

ROOT = Path(__file__).resolve().parents[1]
PLAY = ROOT / "plays" / "01_ema_cross_basics.yml"


def bomb(width: int, levels: int) -> str:
    """Each level lists `width` aliases of the one before: width**levels leaves."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def bomb_size(width: int, levels: int) -> int:
    """Nodes of the expanded bomb: the mapping, its keys, and each level's full tree."""
    total, level = 1, 1 + width  # the root mapping; level 0 = a sequence of width scalars
    for _ in range(levels):
        total += 1 + level  # key + value
        level = 1 + width * level
    return total


@given(width=st.integers(1, 12), levels=st.integers(1, 12))
def test_the_expanded_size_is_counted_exactly_without_expanding(width: int, levels: int
                                                                ) -> None:
    text = bomb(width, levels)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    exact = bomb_size(width, levels)
    limit = 200_000
    if exact <= limit:
        assert expanded_size(node, "b.yml", max_nodes=limit) == exact
        assert safe_load(text, "b.yml") == yaml.safe_load(text)
    else:  # refused, naming the line of the first level whose tree passes the limit
        with pytest.raises(YamlLimitError, match=r"b\.yml:\d+: YAML expands to more than"):
            check_yaml(text, "b.yml", max_nodes=limit)


def test_the_reported_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yml"
    path.write_text(bomb(9, 9))  # 9**9 = 387 M leaves in ~350 bytes
    assert path.stat().st_size < 500
    with pytest.raises(PlayError) as info:
        load_play(path)
    issue = info.value.issues[0]
    assert issue.file == str(path) and issue.line > 0 and "alias bomb" in issue.message
    with pytest.raises(InputError, match="alias bomb"):
        FaultConfig.from_file(path)


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "x: &x [1, [2, *x]]\n"])
def test_recursive_aliases_are_refused(text: str, tmp_path: Path) -> None:
    with pytest.raises(YamlLimitError, match="recursive YAML alias"):
        check_yaml(text, "r.yml")
    path = tmp_path / "r.yml"
    path.write_text(text)
    with pytest.raises(PlayError, match="recursive YAML alias"):
        load_play(path)
    with pytest.raises(InputError, match="recursive YAML alias"):
        FaultConfig.from_file(path)


def test_deep_nesting_and_big_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(YamlLimitError, match="nests deeper"):
        check_yaml("a: " + "[" * 150 + "]" * 150 + "\n", "d.yml")
    with pytest.raises(YamlLimitError, match="nests deeper"):
        check_yaml("[" * 50_000 + "]" * 50_000, "d.yml")  # deeper than the composer can go
    big = tmp_path / "big.yml"
    big.write_bytes(b"a: " + b"x" * MAX_YAML_BYTES + b"\n")
    with pytest.raises(YamlLimitError, match="larger than"):
        read_yaml_text(big)
    with pytest.raises(PlayError, match="larger than"):
        load_play(big)
    with pytest.raises(InputError, match="larger than"):
        FaultConfig.from_file(big)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.text(alphabet="abcxyz _-", max_size=8))
_data = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(alphabet="abcdef", min_size=1, max_size=4), inner, max_size=4)),
    max_leaves=30)


@given(_data)
def test_ordinary_yaml_loads_as_yaml_safe_load(data: object) -> None:
    text = yaml.safe_dump({"root": data, "again": data})
    assert safe_load(text, "t.yml") == yaml.safe_load(text)


def test_plays_with_anchors_and_merge_keys_still_load() -> None:
    text = PLAY.read_text()
    play = load_play_text(text, source="p.yml")
    shared = text.replace("fee_model:", "fee_model: &fees", 1)
    assert load_play_text(shared, source="p.yml").name == play.name
