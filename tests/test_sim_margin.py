"""Margin stress figures (trade.sim.margin) on cases worked out by hand.

The differential tests hold the compiled batch runner, the compiled step engine and the
reference simulator to the same figures on random runs; these pin the definitions
themselves: one long at leverage 2 through a dip below its margin, one entry the wallet
cannot margin, and the tracker's own bookkeeping.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from trade.sim import SignalArrays, run_batch
from trade.sim.config import SimConfig, SizeMode
from trade.sim.margin import MarginTracker


def _bars(rows: list[tuple[float, float, float, float]]) -> pa.Table:
    o, h, lo, c = (list(col) for col in zip(*rows, strict=True))
    return pa.table({"ts": np.arange(len(rows), dtype=np.int64) * 60_000, "open": o,
                     "high": h, "low": lo, "close": c, "volume": [1.0] * len(rows)})


def _long_at_first_close(n: int, notional: float) -> SignalArrays:
    sig = SignalArrays.empty(np.arange(n), size_mode=SizeMode.FIXED_USDT)
    sig.entry_long[0] = 1
    sig.size_value[:] = notional
    return sig


CONFIG = SimConfig(initial_balance=1_000.0, leverage=2.0, taker_fee=0.0, maker_fee=0.0,
                   slippage=0.0, maintenance_margin_rate=0.005, funding_rate=0.0)


def test_a_long_through_a_dip_below_its_margin() -> None:
    # 15 BTC-units bought at 100 (notional 1500, margin 750 at leverage 2, liquidation at
    # 100 x (1 - 1/2 + 0.005) = 50.5); the price dips to 80 and recovers to 90
    bars = _bars([
        (100.0, 100.0, 100.0, 100.0),  # the entry signal's bar
        (100.0, 101.0, 99.0, 100.0),   # filled at this open; equity 1000
        (100.0, 100.0, 79.0, 80.0),    # equity 700 < margin 750: a margin-call bar
        (80.0, 82.0, 80.0, 82.0),      # equity 730: another margin-call bar
        (82.0, 90.0, 82.0, 90.0),      # equity 850
    ])
    result = run_batch(bars, _long_at_first_close(5, 1_500.0), CONFIG)
    m = result.margin
    assert m is not None
    assert m.min_margin_ratio == pytest.approx(700.0 / 750.0)
    assert m.margin_call_bars == 2
    # the closest approach: the low of 79 against the liquidation price 50.5
    assert m.closest_liquidation_pct == pytest.approx(100.0 - 100.0 * 50.5 / 79.0)
    assert m.closest_liquidation_pct == pytest.approx(36.0759, abs=1e-4)
    # peak exposure: 15 x 80 / 700 = 171.43 % of equity
    assert m.max_gross_exposure_pct == pytest.approx(15.0 * 80.0 / 700.0 * 100.0)
    assert (m.entry_attempts, m.entry_rejections) == (1, 0)
    assert m.entry_rejection_rate == 0.0


def test_an_entry_the_wallet_cannot_margin_is_a_rejection() -> None:
    bars = _bars([(100.0, 100.0, 100.0, 100.0)] * 5)
    # all the equity as margin (20 units at 100, leverage 2: margin 1000 = the wallet), then a
    # flip: its opening half needs margin while the long's is still in use, so it is refused
    sig = SignalArrays.empty(np.arange(5), size_mode=SizeMode.PERCENT_EQUITY, allow_flip=True)
    sig.entry_long[0] = 1
    sig.entry_short[2] = 1
    result = run_batch(bars, sig, CONFIG)
    m = result.margin
    assert m is not None
    assert (m.entry_attempts, m.entry_rejections, m.entry_rejection_rate) == (2, 1, 0.5)
    # equity 1000 on margin 1000: a ratio of exactly 1, not yet a margin call
    assert (m.min_margin_ratio, m.margin_call_bars) == (1.0, 0)
    assert m.closest_liquidation_pct == pytest.approx(49.5)  # liquidation at 50.5
    assert m.max_gross_exposure_pct == pytest.approx(200.0)
    assert result.trades.column("exit_reason").to_pylist() == ["end_of_data"]


def test_no_position_no_figures() -> None:
    bars = _bars([(100.0, 100.0, 100.0, 100.0)] * 3)
    m = run_batch(bars, SignalArrays.empty(np.arange(3)), CONFIG).margin
    assert m is not None
    assert math.isnan(m.min_margin_ratio) and math.isnan(m.closest_liquidation_pct)
    assert (m.margin_call_bars, m.max_gross_exposure_pct, m.entry_attempts) == (0, 0.0, 0)
    assert math.isnan(m.entry_rejection_rate)


def test_the_tracker_counts_only_bars_with_a_position() -> None:
    t = MarginTracker()
    t.on_bar(equity=900.0, used_margin=1000.0, side=0, size=0.0, mark=100.0, liq_price=0.0,
             low=99.0, high=101.0)
    flat = t.result()
    assert math.isnan(flat.min_margin_ratio) and math.isnan(flat.closest_liquidation_pct)
    assert (flat.margin_call_bars, flat.max_gross_exposure_pct) == (0, 0.0)
    # a short: the adverse extreme is the high; distance = 100 x liq / high - 100
    t.on_bar(equity=400.0, used_margin=500.0, side=-1, size=10.0, mark=100.0, liq_price=110.0,
             low=98.0, high=105.0)
    t.on_entry(rejected=False)
    t.on_entry(rejected=True)
    r = t.result()
    assert r.min_margin_ratio == 0.8
    assert r.margin_call_bars == 1
    assert r.closest_liquidation_pct == pytest.approx(100.0 * 110.0 / 105.0 - 100.0)
    assert r.max_gross_exposure_pct == pytest.approx(250.0)
    assert (r.entry_attempts, r.entry_rejections, r.entry_rejection_rate) == (2, 1, 0.5)
