"""trade's batch kernel against vectorbt (the benchmark peer) where the models coincide.

The models differ in when a signal fills: vectorbt's `Portfolio.from_signals` fills an order
at the signal bar's own `price` (the close by default); trade fills a market order decided
at a bar's close at the **next** 1m bar's open (docs/fill_model.md). With every vectorbt
signal moved one bar later and `price=open`, the two coincide for market entries and exits
without fees or slippage, sized by the same quantity (trade sizes from the signal bar's
close: qty = notional / close). Entry and exit signals never fall on the same bar here
(trade treats that as exit-then-no-entry, vectorbt as a conflict it ignores), and an open
position at the end is valued at the last close by both (trade closes it, vectorbt marks it).
Stop loss / take profit are not compared: vectorbt checks stops on the entry bar against the
whole bar's range, trade from the fill price on (and with the stop winning when one bar
touches both), so those results legitimately differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import vectorbt as vbt  # the benchmark peer: pip install "trade[bench]"

from trade.data import synth_bars
from trade.sim import SignalArrays, SimConfig, SizeMode, run_batch

NOTIONAL = 1_000.0


def gapped_bars(seed: int) -> pa.Table:
    """Synthetic 1m bars whose opens gap away from the previous close (the generator's opens
    equal the previous close, which would hide the difference between the two models)."""
    bars = synth_bars("BTCUSDT", 3, seed, "mixed")
    rng = np.random.default_rng(seed)
    o, h, lo = (np.asarray(bars.column(k)) for k in ("open", "high", "low"))
    o = o * (1 + rng.normal(0, 0.0005, len(o)))
    cols = {"open": o, "high": np.maximum(h, o), "low": np.minimum(lo, o)}
    for k, v in cols.items():
        bars = bars.set_column(bars.schema.get_field_index(k), k, pa.array(v))
    return bars


def signals(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    entries = rng.random(n) < 0.01
    exits = (rng.random(n) < 0.01) & ~entries
    return entries, exits


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                            "ignore:The inplace keyword")
@pytest.mark.parametrize("seed", [1, 2])
def test_market_fills_at_next_open_agree(seed: int) -> None:
    bars = gapped_bars(seed)
    n = bars.num_rows
    o, c = (np.asarray(bars.column(k)) for k in ("open", "close"))
    entries, exits = signals(n, seed)
    sig = SignalArrays.empty(np.arange(n), size_mode=SizeMode.FIXED_USDT)
    sig.entry_long[:] = entries
    sig.exit_long[:] = exits
    sig.size_value[:] = NOTIONAL
    cfg = SimConfig(initial_balance=1_000_000.0, leverage=1.0, taker_fee=0.0, maker_fee=0.0,
                    slippage=0.0)
    res = run_batch(bars, sig, cfg)
    trades = res.trades.to_pandas()
    assert len(trades) >= 5

    # vectorbt: the same decisions, one bar later, at the open, with trade's quantity
    idx = pd.RangeIndex(n)
    ent_v = np.zeros(n, dtype=bool)
    ex_v = np.zeros(n, dtype=bool)
    ent_v[1:], ex_v[1:] = entries[:-1], exits[:-1]
    size = np.full(n, np.nan)
    size[1:] = NOTIONAL / c[:-1]
    pf = vbt.Portfolio.from_signals(pd.Series(c, index=idx), ent_v, ex_v,
                                    price=pd.Series(o, index=idx), size=size,
                                    size_type="amount", fees=0.0, init_cash=1_000_000.0,
                                    direction="longonly")
    rec = pf.trades.records_readable
    closed = rec[rec["Status"] == "Closed"]
    ours = trades[trades["exit_reason"] == "signal"]
    assert len(closed) == len(ours)
    np.testing.assert_allclose(closed["Avg Entry Price"], ours["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(closed["Avg Exit Price"], ours["exit_price"], rtol=1e-12)
    np.testing.assert_allclose(closed["Size"], ours["qty"], rtol=1e-12)
    np.testing.assert_allclose(closed["PnL"], ours["net_pnl"], rtol=1e-9, atol=1e-9)
    # entry bars: vectorbt's index is the 1m bar of the fill, trade's entry_ts that bar's ts
    ts = np.asarray(bars.column("ts"))
    np.testing.assert_array_equal(ts[closed["Entry Timestamp"].to_numpy()],
                                  ours["entry_ts"].to_numpy())
    assert float(pf.final_value()) == pytest.approx(res.final_balance, rel=1e-12)

    # vectorbt's default model (no shift, fill at the signal bar's close) differs: its entry
    # prices are the signal bars' closes, trade's the next bars' opens
    default = vbt.Portfolio.from_signals(pd.Series(c, index=idx), entries, exits,
                                         size=NOTIONAL / c, size_type="amount", fees=0.0,
                                         init_cash=1_000_000.0, direction="longonly")
    d = default.trades.records_readable
    sig_bars = d["Entry Timestamp"].to_numpy()
    np.testing.assert_allclose(d["Avg Entry Price"], c[sig_bars], rtol=1e-12)
    first = ours.iloc[0]
    assert d["Avg Entry Price"].iloc[0] != first["entry_price"]
    assert d["Avg Entry Price"].iloc[0] == c[sig_bars[0]]
    assert first["entry_price"] == o[sig_bars[0] + 1]
