"""The facade: registry contents, lookups with suggestions, parameter validation, input
checks, and the exact timing rules of VWAP sessions and swing pivots."""

from __future__ import annotations

import numpy as np
import pytest

from trade.core.errors import InputError
from trade.indicators import (
    REGISTRY,
    compute,
    get_spec,
    make_incremental,
    required_inputs,
    resolve_params,
    warmup,
    warmups,
)

EXPECTED_OUTPUTS = {
    "stoch": ("k", "d"),
    "stochrsi": ("k", "d"),
    "macd": ("macd", "signal", "hist"),
    "ppo": ("ppo", "signal", "hist"),
    "tsi": ("tsi", "signal"),
    "fisher": ("fisher", "signal"),
    "adx": ("adx", "plus_di", "minus_di", "adxr"),
    "aroon": ("up", "down", "osc"),
    "supertrend": ("value", "direction", "long", "short"),
    "psar": ("value", "direction", "long", "short", "af", "reversal"),
    "vortex": ("plus", "minus"),
    "bbands": ("upper", "middle", "lower", "bandwidth", "percent_b"),
    "keltner": ("upper", "middle", "lower"),
    "donchian": ("upper", "middle", "lower"),
    "squeeze": ("on", "momentum", "off", "no_sqz"),
    "swing": ("high", "low", "high_idx", "low_idx", "version", "high_version", "low_version",
              "high_accepted", "low_accepted", "pair_high_level", "pair_low_level",
              "pair_direction", "pair_version", "last_confirmed_pivot_type"),
    "trend": ("direction", "strength", "bars_in_trend", "wave_count", "last_wave_direction",
              "last_hh", "last_hl", "last_lh", "last_ll", "version"),
    "market_structure": ("bos", "choch", "level", "bias", "bos_this_bar", "choch_this_bar",
                         "bos_direction", "choch_direction", "last_bos_idx", "last_bos_level",
                         "last_choch_idx", "last_choch_level", "break_level_high",
                         "break_level_low", "version"),
    "trix": ("value", "signal"),
    "dm": ("dmp", "dmn"),
    "kvo": ("kvo", "signal"),
    "session_levels": ("prev_day_high", "prev_day_low", "current_day_high", "current_day_low",
                       "prev_week_high", "prev_week_low"),
    "anchored_vwap": ("value", "bars_since_anchor"),
    "volume_profile": ("poc", "vah", "val", "poc_volume", "above_poc", "in_value_area"),
    "anchored_volume_profile": ("poc", "vah", "val", "poc_volume", "above_poc",
                                "in_value_area", "bars_since_anchor"),
    # fibonacci's levels are outputs too (level[0.618], ...), listed by outputs_for
    "fibonacci": ("anchor_high", "anchor_low", "range", "anchor_direction",
                  "anchor_trend_direction"),
    "premium_discount": ("equilibrium", "premium_level", "discount_level", "zone", "depth_pct",
                         "version"),
    "displacement": ("is_displacement", "direction", "body_atr_ratio", "wick_ratio", "last_idx",
                     "last_direction", "version"),
    "zone": ("state", "upper", "lower", "anchor_idx", "version"),
    "order_block": ("new_this_bar", "new_direction", "new_upper", "new_lower",
                    "nearest_bull_upper", "nearest_bull_lower", "nearest_bear_upper",
                    "nearest_bear_lower", "active_bull_count", "active_bear_count",
                    "any_mitigated_this_bar", "any_invalidated_this_bar",
                    "last_invalidated_direction", "last_invalidated_upper",
                    "last_invalidated_lower", "version"),
    "breaker_block": ("new_this_bar", "new_direction", "new_upper", "new_lower",
                      "nearest_bull_upper", "nearest_bull_lower", "nearest_bear_upper",
                      "nearest_bear_lower", "active_bull_count", "active_bear_count",
                      "any_mitigated_this_bar", "version"),
    # derived_zone's slots are outputs too (zone[0].state, ...), listed by outputs_for
    "derived_zone": ("active_count", "any_active", "any_touched", "any_inside",
                     "first_active_lower", "first_active_upper", "first_active_idx",
                     "newest_active_idx", "source_version"),
    "fair_value_gap": ("new_this_bar", "new_direction", "new_upper", "new_lower",
                       "nearest_bull_upper", "nearest_bull_lower", "nearest_bear_upper",
                       "nearest_bear_lower", "active_bull_count", "active_bear_count",
                       "any_mitigated_this_bar", "version", "nearest_bull_fill_pct",
                       "nearest_bear_fill_pct"),
    "liquidity_zones": ("new_zone_this_bar", "sweep_this_bar", "sweep_direction", "swept_level",
                        "nearest_high_level", "nearest_low_level", "nearest_high_touches",
                        "nearest_low_touches", "version"),
}
SINGLE = [
    "sma",
    "ema",
    "wma",
    "dema",
    "tema",
    "trima",
    "kama",
    "alma",
    "zlma",
    "hma",
    "linreg",
    "vwap",
    "rsi",
    "cci",
    "willr",
    "cmo",
    "mfi",
    "roc",
    "mom",
    "atr",
    "natr",
    "obv",
    "cmf",
    "volume_sma",
    "rolling_min",
    "rolling_max",
    "midprice",
    "ohlc4",
    "uo",
    "rolling_window",
]
STRUCTURE = {"swing", "trend", "market_structure", "rolling_min", "rolling_max", "rolling_window",
             "fibonacci", "premium_discount", "displacement", "liquidity_zones", "zone",
             "fair_value_gap", "derived_zone", "order_block", "breaker_block"}


def test_registry_has_every_indicator_with_its_outputs() -> None:
    assert set(REGISTRY) == set(EXPECTED_OUTPUTS) | set(SINGLE)
    for name, outs in EXPECTED_OUTPUTS.items():
        assert REGISTRY[name].outputs == outs
    for name in SINGLE:
        assert REGISTRY[name].outputs == ("value",)
    for name, spec in REGISTRY.items():
        assert spec.name == name
        assert spec.kind == ("structure" if name in STRUCTURE else "indicator")
        for p in spec.params:
            assert not p.required, f"{name}.{p.name} needs a default"


def test_unknown_indicator_suggests_the_near_miss() -> None:
    with pytest.raises(KeyError, match="unknown indicator 'emaa' — did you mean 'ema'\\?"):
        get_spec("emaa")
    with pytest.raises(KeyError, match="unknown indicator 'zzzz'"):
        compute("zzzz", {}, {"close": np.ones(3)})


def test_param_validation_names_the_problem() -> None:
    assert resolve_params("bbands", {"length": 10}) == {"length": 10, "std": 2.0, "source": "close",
                                                        "ddof": 0, "bandwidth_pct": False}
    with pytest.raises(InputError, match="unknown param 'lenght' — did you mean 'length'"):
        resolve_params("ema", {"lenght": 3})
    with pytest.raises(InputError, match="must be >= 1"):
        resolve_params("ema", {"length": 0})
    with pytest.raises(InputError, match="must be >= 1"):
        resolve_params("sma", {"length": -5})
    with pytest.raises(InputError, match="expected an integer"):
        resolve_params("rsi", {"length": 2.5})
    with pytest.raises(InputError, match="expected an integer"):
        resolve_params("rsi", {"length": True})
    with pytest.raises(InputError, match="expected a number"):
        resolve_params("bbands", {"std": "wide"})
    with pytest.raises(InputError, match="expected one of D, W, M"):
        resolve_params("vwap", {"anchor": "Y"})
    with pytest.raises(InputError, match="did you mean 'close'"):
        resolve_params("ema", {"source": "clsoe"})


def test_compute_checks_its_inputs() -> None:
    with pytest.raises(InputError, match="lack the 'high' field"):
        compute("atr", {}, {"close": np.ones(5), "low": np.ones(5)})
    with pytest.raises(InputError, match="'low' has 4 rows, expected 5"):
        compute("atr", {}, {"high": np.ones(5), "low": np.ones(4), "close": np.ones(5)})
    assert required_inputs("ema", {"source": "hl2"}) == ("high", "low")
    assert required_inputs("atr", {}) == ("high", "low", "close")
    out = compute("ema", {"length": 3}, {"close": [1.0, 2.0, 3.0, 4.0]})
    np.testing.assert_array_equal(out["value"], [np.nan, np.nan, 2.0, 3.0])


def test_warmup_is_the_largest_output_warmup() -> None:
    assert warmups("adx", {"length": 14}) == (27, 14, 14, 40)
    assert warmup("adx", {"length": 14}) == 40  # adxr: 3n-2 (TA-Lib ADXR)
    assert warmup("macd", {}) == 33
    assert make_incremental("rsi", {"length": 5}).warmup == 5


def test_vwap_resets_at_utc_session_starts() -> None:
    day = 86_400_000.0
    # 2024-01-31 22:00 UTC (a Wednesday), then 23:00, then 2024-02-01 00:00 and 01:00
    t0 = 1_706_738_400_000.0
    ts = np.array([t0, t0 + day / 24, t0 + 2 * day / 24, t0 + 3 * day / 24])
    px = np.array([10.0, 20.0, 30.0, 50.0])
    vol = np.array([1.0, 3.0, 2.0, 2.0])
    bars = {"ts": ts, "high": px, "low": px, "close": px, "volume": vol}
    daily = compute("vwap", {"anchor": "D"}, bars)["value"]
    np.testing.assert_allclose(daily, [10.0, 17.5, 30.0, 40.0])
    monthly = compute("vwap", {"anchor": "M"}, bars)["value"]
    np.testing.assert_allclose(monthly, [10.0, 17.5, 30.0, 40.0])
    weekly = compute("vwap", {"anchor": "W"}, bars)["value"]  # same ISO week throughout
    np.testing.assert_allclose(weekly, np.cumsum(px * vol) / np.cumsum(vol))


def test_swing_pivot_is_reported_exactly_right_bars_later() -> None:
    high = np.array([1, 2, 3, 9, 4, 3, 2, 5, 6, 7], dtype=float)
    low = high - 0.5
    bars = {"high": high, "low": low}
    inc = make_incremental("swing", {"left": 2, "right": 3})
    seen = [
        inc.update(0.0, 0.0, float(h), float(lo), 0.0, 0.0) for h, lo in zip(high, low, strict=True)
    ]
    # the pivot high at bar 3 (9.0) is known only after bars 4, 5, 6 have closed
    assert all(np.isnan(s[0]) for s in seen[:6])
    assert seen[6][0] == 9.0 and seen[6][2] == 3.0
    out = compute("swing", {"left": 2, "right": 3}, bars)
    assert np.isnan(out["high"][:6]).all() and (out["high"][6:] == 9.0).all()
    # a plateau: TRADE's rule (strictly beyond every bar) makes neither bar a pivot;
    # with equal_right the plateau's first bar is the pivot and the equal bar after it is not
    flat = np.array([1, 2, 5, 5, 1, 1, 1, 1], dtype=float)
    out = compute("swing", {"left": 2, "right": 2}, {"high": flat, "low": flat - 10})
    assert np.isnan(out["high_idx"]).all()
    out = compute("swing", {"left": 2, "right": 2, "equal_right": True},
                  {"high": flat, "low": flat - 10})
    assert out["high_idx"][4] == 2.0


def test_trend_and_market_structure_on_a_staircase() -> None:
    # zig-zag with higher highs and higher lows, then a collapse below the last low
    up = [10, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21, 24]
    down = [15, 12, 10, 8]
    close = np.array(up + down, dtype=float)
    bars = {"high": close, "low": close, "close": close}
    tr = compute("trend", {"left": 1, "right": 1, "method": "pivots"}, bars)
    assert tr["direction"][12] == 1.0 and tr["strength"][12] >= 4
    # TRADE's waves (the default): up, and strong once two wave pairs agree
    tr = compute("trend", {"left": 1, "right": 1}, bars)
    assert tr["direction"][12] == 1.0 and tr["strength"][12] == 2.0
    assert tr["wave_count"][12] == 2.0 and tr["last_wave_direction"][12] == 1.0  # high at bar 11
    ms = compute("market_structure", {"left": 1, "right": 1}, bars)
    assert (ms["bos"][:14] >= 0).all() and ms["bos"][:14].max() == 1.0
    assert ms["bos"][3] == 1.0 and ms["level"][3] == 12.0  # first break: no bias yet -> bos
    # bar 14 closes below the last swing low (21) against the up bias: change of character
    assert ms["choch"][14] == -1.0 and ms["bos"][14] == 0.0
    assert (ms["choch"][:14] == 0).all() and (ms["choch"][15:] == 0).all()
    assert ms["level"][-1] == 21.0
