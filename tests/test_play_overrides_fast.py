"""apply_overrides' fast path (a sweep's `features.F.params.K` numbers) builds exactly the Play
the full pipeline builds, and refuses the same values with the same messages."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.indicators import REGISTRY
from trade.play import Play, PlayError, apply_overrides, load_play, load_play_text, play_hash
from trade.play.loader import _apply_overrides_full, _override_params

PLAYS = sorted((Path(__file__).resolve().parent.parent / "plays").glob("*.yml"))

DMA = """\
version: "3.0.0"
name: dma
symbol: BTCUSDT
timeframes: {low_tf: 15m, med_tf: 1h, exec: low_tf}
features:
  fast: {indicator: sma, params: {length: 10}}
  slow: {indicator: sma, params: {length: 50}, tf: med_tf}
  bb: {indicator: bbands, params: {length: 20, std: 2.0}}
actions:
  entry_long: [fast, cross_above, slow]
  exit_long: [fast, cross_below, bb.upper]
risk: {stop_loss_pct: 1.0, take_profit_pct: 2.0}
"""

VALUES = st.one_of(st.integers(-3, 400), st.sampled_from([0.5, 2.0, -1.0, 1e9, 3.25]),
                   st.sampled_from([True, "7", None, [3]]))


def outcome(fn: Any, play: Play, overrides: Mapping[str, object]) -> Any:
    try:
        p = fn(play, overrides)
    except PlayError as exc:
        return ("error", [str(i) for i in exc.issues])
    return ("play", p.model_dump(mode="json"), p.raw, p.compiled, p.source, play_hash(p),
            p.model_fields_set, type(p))


def full(play: Play, overrides: Mapping[str, object]) -> Play:
    return _apply_overrides_full(play, overrides, REGISTRY, 100.0)


def fast(play: Play, overrides: Mapping[str, object]) -> Play:
    return apply_overrides(play, overrides, registry=REGISTRY)


def numeric_params(play: Play) -> list[str]:
    feats = play.raw.get("features") or {}
    return [f"features.{fid}.params.{k}" for fid, f in feats.items() if isinstance(f, dict)
            and isinstance(f.get("params"), dict)
            for k, v in f["params"].items() if type(v) in (int, float)]


def test_fast_path_is_taken_for_a_sweep_grid() -> None:
    play = load_play_text(DMA, registry=REGISTRY)
    got = _override_params(play, {"features.fast.params.length": 12,
                                  "features.slow.params.length": 60}, REGISTRY, 100.0)
    assert got is not None
    assert got.features["fast"].params == {"length": 12}
    assert play.features["fast"].params == {"length": 10}  # the base is left unchanged
    assert play.raw["features"]["fast"]["params"] == {"length": 10}


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_fast_equals_full_on_a_grid_play(data: st.DataObject) -> None:
    play = load_play_text(DMA, source="plays/dma.yml", registry=REGISTRY)
    paths = [*numeric_params(play), "features.fast.params.lenght", "features.nope.params.length",
             "features.bb.params.source"]
    keys = data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True))
    overrides = {k: data.draw(VALUES) for k in keys}
    assert outcome(fast, play, overrides) == outcome(full, play, overrides)


@pytest.mark.parametrize("path", PLAYS, ids=lambda p: p.stem)
def test_fast_equals_full_on_example_plays(path: Path) -> None:
    play = load_play(path, registry=REGISTRY)
    before = copy.deepcopy(play.raw)
    for key in numeric_params(play):
        for value in (1, 2, 5, 9, 33, 0, -4, 2.5, 250, 10**7):
            overrides: dict[str, object] = {key: value}
            assert outcome(fast, play, overrides) == outcome(full, play, overrides), (key, value)
    assert play.raw == before
