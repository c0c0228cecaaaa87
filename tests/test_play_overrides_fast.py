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


def test_fast_path_checks_the_document_under_the_callers_settings() -> None:
    """A Play loaded under other settings (leverage cap, registry) than apply_overrides is
    given: the answer is the full pipeline's under the new settings."""
    play = load_play_text(DMA.replace("risk:", "account: {max_leverage: 50}\nrisk:"),
                          registry=REGISTRY)
    ov = {"features.fast.params.length": 12}

    def capped(p: Play, o: Mapping[str, object]) -> Play:
        return apply_overrides(p, o, registry=REGISTRY, instrument_max_leverage=10.0)

    def capped_full(p: Play, o: Mapping[str, object]) -> Play:
        return _apply_overrides_full(p, o, REGISTRY, 10.0)

    got = outcome(capped, play, ov)
    assert got == outcome(capped_full, play, ov)
    assert got[0] == "error" and "above the instrument's maximum 10" in got[1][0]
    no_sma = {k: v for k, v in REGISTRY.items() if k != "sma"}

    def other_registry(p: Play, o: Mapping[str, object]) -> Play:
        return apply_overrides(p, o, registry=no_sma)

    def other_registry_full(p: Play, o: Mapping[str, object]) -> Play:
        return _apply_overrides_full(p, o, no_sma, 100.0)

    got = outcome(other_registry, play, ov)
    assert got == outcome(other_registry_full, play, ov) and got[0] == "error"
    assert outcome(fast, play, ov)[0] == "play"  # the load's own settings: fine
