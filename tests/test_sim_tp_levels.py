"""Split take-profits, limit take-profits / stops and mark-price triggers (Bybit tpslMode
Partial; docs/fill_model.md rule 4, A-D), computed by hand and checked on both step engines
(the compiled SimExchange and the plain-Python reference), then the three TRADE Play shapes
that use them (tests/plays_fixtures/partial_mode) validated and backtested.

Every case: 1m bars from ts 0, a long of 1 unit opened by a market order at the open 100 of
bar 1 (the order is placed after bar 0), fees taker 0.1 % and maker 0.02 %, tick 0.01."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from trade.core import OrderRequest, Side
from trade.core.enums import ExecType
from trade.core.models import FillEvent
from trade.sim import SimExchange, run_batch
from trade.sim.config import Intrabar, SimConfig
from trade.sim.driver import run_signals
from trade.sim.reference import ReferenceExchange
from trade.sim.signals import SignalArrays

CFG = SimConfig(symbol="BTCUSDT", initial_balance=100_000.0, leverage=1.0, taker_fee=0.001,
                maker_fee=0.0002, slippage=0.0, tick_size=0.01, funding_rate=0.0)
ENGINES = [SimExchange, ReferenceExchange]
FIX = Path(__file__).parent / "plays_fixtures" / "partial_mode"


def _open_long(engine: type, cfg: SimConfig = CFG, **req: Any) -> Any:
    """An engine holding 1 unit long, opened at 100 on bar 1 (ts 60 000); bar 1 is flat."""
    ex = engine(cfg)
    ex.on_bar(0, 100.0, 100.0, 100.0, 100.0)
    ex.submit(OrderRequest("BTCUSDT", Side.BUY, req.pop("qty", 1.0), **req))
    ex.on_bar(60_000, 100.0, 100.0, 100.0, 100.0)
    ex.drain_events()
    return ex


def _bar(ex: Any, k: int, o: float, h: float, lo: float, c: float,
         mark: float = math.nan) -> list[Any]:
    """Bar k (ts k minutes); returns its fills."""
    ex.on_bar(k * 60_000, o, h, lo, c, 0.0, mark)
    return [e.fill for e in ex.drain_events() if isinstance(e, FillEvent)]


def _rows(ex: Any) -> list[tuple[str, float, float]]:
    t = ex.trade_log()
    return list(zip(t.column("exit_reason").to_pylist(), t.column("qty").to_pylist(),
                    t.column("exit_price").to_pylist(), strict=True))


# ------------------------------------------------------------------- A: split levels
@pytest.mark.parametrize("engine", ENGINES)
def test_levels_are_fixed_at_the_fill_and_fill_one_by_one(engine: type) -> None:
    ex = _open_long(engine, take_profit_levels=((0.01, 0.5), (0.02, 0.5), (0.03, 1.0)),
                    stop_loss_offset=0.05)
    assert ex.take_profit_levels() == [(101.0, 0.5), (102.0, 0.25), (103.0, 0.25)]
    assert ex.position().take_profit == 0.0  # Partial mode: read the levels
    fills = _bar(ex, 2, 100.0, 101.5, 99.5, 101.2)
    (f,) = fills
    assert (f.qty, f.price, f.exec_type, f.is_maker) == (0.5, 101.0, ExecType.TAKE_PROFIT, False)
    assert f.fee == pytest.approx(0.5 * 101.0 * 0.001)  # taker, no slippage
    assert ex.position().size == pytest.approx(0.5)
    assert ex.position().stop_loss == 95.0  # the stop keeps protecting what is left
    # one bar reaching both remaining levels fills them nearest first
    fills = _bar(ex, 3, 101.2, 103.5, 101.0, 103.0)
    assert [(f.qty, f.price) for f in fills] == [(0.25, 102.0), (0.25, 103.0)]
    assert ex.position().side == 0 and ex.take_profit_levels() == []
    assert _rows(ex) == [("take_profit", 0.5, 101.0), ("take_profit", 0.25, 102.0),
                         ("take_profit", 0.25, 103.0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_gap_over_levels_fills_them_at_the_open_and_qty_rounds_down(engine: type) -> None:
    cfg = replace(CFG, qty_step=0.01)
    ex = _open_long(engine, cfg, qty=0.33, take_profit_levels=((0.01, 0.5), (0.02, 1.0)))
    # 50 % of 0.33 is 0.165, down to the step 0.16; the last level takes the 0.17 left
    assert ex.take_profit_levels() == [(101.0, 0.16), (102.0, pytest.approx(0.17))]
    fills = _bar(ex, 2, 102.5, 102.6, 102.4, 102.5)
    assert [f.price for f in fills] == [102.5, 102.5]
    assert ex.position().side == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_the_stop_wins_a_bar_that_touches_it_and_a_level(engine: type) -> None:
    req = {"take_profit_levels": ((0.01, 0.5), (0.02, 1.0)), "stop_loss_offset": 0.01}
    ex = _open_long(engine, **req)
    fills = _bar(ex, 2, 100.0, 101.5, 98.5, 100.0)  # sl_first: no level fills on this bar
    assert [(f.exec_type, f.qty, f.price) for f in fills] == [(ExecType.STOP_LOSS, 1.0, 99.0)]
    # ohlc_path, the high nearer the open: the level fills, then the stop closes the rest
    ex = _open_long(engine, replace(CFG, intrabar=Intrabar.OHLC_PATH), **req)
    fills = _bar(ex, 2, 100.5, 101.5, 98.5, 100.0)
    assert [(f.exec_type, f.qty, f.price) for f in fills] == [
        (ExecType.TAKE_PROFIT, 0.5, 101.0), (ExecType.STOP_LOSS, 0.5, 99.0)]


@pytest.mark.parametrize("engine", ENGINES)
def test_adding_keeps_the_levels_and_a_signal_exit_leaves_them(engine: type) -> None:
    ex = _open_long(engine, take_profit_levels=((0.01, 0.5), (0.02, 1.0)))
    ex.submit(OrderRequest("BTCUSDT", Side.BUY, 1.0, take_profit_levels=((0.05, 1.0),)))
    _bar(ex, 2, 100.0, 100.5, 99.8, 100.0)
    assert ex.position().size == 2.0
    assert ex.take_profit_levels() == [(101.0, 0.5), (102.0, 0.5)]
    ex.submit(OrderRequest("BTCUSDT", Side.SELL, 1.8, reduce_only=True))
    _bar(ex, 3, 100.0, 100.5, 99.8, 100.0)
    # a level larger than what is left closes the position
    assert ex.take_profit_levels() == [(101.0, pytest.approx(0.2)), (102.0, pytest.approx(0.2))]
    fills = _bar(ex, 4, 100.0, 101.1, 99.9, 101.0)
    assert [f.qty for f in fills] == [pytest.approx(0.2)] and ex.position().side == 0


# ------------------------------------------------------------------ B: limit take-profit
@pytest.mark.parametrize("engine", ENGINES)
def test_a_limit_take_profit_fills_as_maker_once_traded_through(engine: type) -> None:
    ex = _open_long(engine, take_profit_offset=0.01, tp_limit=True)
    assert _bar(ex, 2, 100.0, 101.0, 99.9, 100.5) == []  # a touch triggers it, no fill
    (f,) = _bar(ex, 3, 100.5, 101.2, 100.4, 101.1)  # resting: traded through, at T, maker
    assert (f.price, f.is_maker, f.exec_type) == (101.0, True, ExecType.TAKE_PROFIT)
    assert f.fee == pytest.approx(101.0 * 0.0002)
    # triggered and traded through in one bar: maker at T
    ex = _open_long(engine, take_profit_offset=0.01, tp_limit=True)
    (f,) = _bar(ex, 2, 100.0, 101.5, 99.9, 100.5)
    assert (f.price, f.is_maker) == (101.0, True)
    # a resting one, the next bar opening above it: at the open, maker
    ex = _open_long(engine, take_profit_offset=0.01, tp_limit=True)
    _bar(ex, 2, 100.0, 101.0, 99.9, 100.5)
    (f,) = _bar(ex, 3, 101.3, 101.4, 101.2, 101.3)
    assert (f.price, f.is_maker) == (101.3, True)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_limit_take_profit_the_bar_opens_beyond_is_taker_capped(engine: type) -> None:
    cfg = replace(CFG, slippage=0.01)
    ex = _open_long(engine, cfg, take_profit_offset=0.01, tp_limit=True)
    assert ex.position().entry_price == 101.0  # the entry paid the slippage: T = 102.01
    # opens at 102.5 (not triggered before): marketable, 102.5 x 0.99 = 101.475 < T: at T
    (f,) = _bar(ex, 2, 102.5, 102.6, 102.4, 102.5)
    assert (f.price, f.is_maker) == (102.01, False)
    ex = _open_long(engine, cfg, take_profit_offset=0.01, tp_limit=True)
    (f,) = _bar(ex, 2, 104.0, 104.1, 103.9, 104.0)  # 104 x 0.99 = 102.96 > T, taker
    assert (f.price, f.is_maker) == (102.96, False)


# ---------------------------------------------------------------------- C: limit stop
@pytest.mark.parametrize("engine", ENGINES)
def test_a_limit_stop_fills_only_when_the_price_comes_back(engine: type) -> None:
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True)
    (f,) = _bar(ex, 2, 100.0, 100.2, 98.8, 99.5)  # crossed back above 99 by the close
    assert (f.price, f.is_maker, f.exec_type) == (99.0, True, ExecType.STOP_LOSS)
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True)
    assert _bar(ex, 2, 100.0, 100.2, 98.0, 98.5) == []  # closes below: rests
    assert _bar(ex, 3, 98.5, 98.9, 97.0, 97.5) == []  # never back above 99: still open
    assert ex.position().size == 1.0
    (f,) = _bar(ex, 4, 99.4, 99.5, 99.3, 99.4)  # opens above the resting limit: at the open
    assert (f.price, f.is_maker) == (99.4, True)
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True)
    assert _bar(ex, 2, 98.0, 99.5, 97.9, 99.4) == []  # opened below: not marketable, rests
    (f,) = _bar(ex, 3, 98.5, 99.2, 98.4, 98.6)
    assert (f.price, f.is_maker) == (99.0, True)


# ---------------------------------------------------------------- D: mark-price triggers
@pytest.mark.parametrize("engine", ENGINES)
def test_mark_price_triggers_fire_on_the_mark_and_fill_at_the_close(engine: type) -> None:
    cfg = replace(CFG, slippage=0.001)
    ex = _open_long(engine, cfg, take_profit_offset=0.01, tp_by_mark=True)
    assert ex.position().entry_price == 100.1  # T = 101.10, S = 99.10
    assert _bar(ex, 2, 100.0, 101.5, 99.9, 100.8) == []  # the wick is not the mark
    (f,) = _bar(ex, 3, 100.8, 101.3, 100.7, 100.9, mark=101.15)
    assert (f.price, f.is_maker, f.exec_type) == (100.9, False, ExecType.TAKE_PROFIT)
    ex = _open_long(engine, cfg, stop_loss_offset=0.01, sl_by_mark=True)
    assert _bar(ex, 2, 100.0, 100.1, 98.5, 99.5) == []  # no mark: the close 99.5 > 99.1
    (f,) = _bar(ex, 3, 99.5, 99.6, 98.7, 98.9)  # close 98.9 <= 99.1: at the close, slipped
    assert (f.price, f.exec_type) == (98.8, ExecType.STOP_LOSS)  # 98.9 x 0.999 = 98.8011
    # a limit take-profit triggered by the mark is placed then and fills from the next bar
    ex = _open_long(engine, take_profit_offset=0.01, tp_by_mark=True, tp_limit=True)
    assert _bar(ex, 2, 100.0, 101.5, 99.9, 100.9, mark=101.1) == []
    (f,) = _bar(ex, 3, 100.9, 101.2, 100.8, 101.0)
    assert (f.price, f.is_maker) == (101.0, True)


# ------------------------------------------- the trailing stop: last price, market, always
# sl_limit / sl_by_mark act on the stop loss only: Bybit's trailingStop has no order type and no
# trigger source, so the trail stays a last-price market stop (rule 4b) in every mode.
def _trail_fill(f: Any) -> tuple[ExecType, float, bool, float]:
    return f.exec_type, f.price, f.is_maker, f.fee


@pytest.mark.parametrize("engine", ENGINES)
def test_the_trail_fires_as_a_market_stop_while_the_stop_loss_is_a_limit(engine: type) -> None:
    # S = 99 (a limit), trail 0.5 below the best 100: 99.5, nearer the price than S
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True, trailing_distance=0.5)
    assert ex.position().trailing_stop == 99.5
    # closes back above 99.5: a limit trail would have filled as maker; the trail is a market
    # stop: at its level, taker (no slippage configured)
    (f,) = _bar(ex, 2, 100.0, 100.0, 99.2, 99.6)
    assert _trail_fill(f) == (ExecType.TRAILING_STOP, 99.5, False, pytest.approx(99.5 * 0.001))
    # a bar opening below the trail: at the open (a limit trail would have rested)
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True, trailing_distance=0.5)
    (f,) = _bar(ex, 2, 99.3, 99.4, 99.1, 99.2)
    assert _trail_fill(f) == (ExecType.TRAILING_STOP, 99.3, False, pytest.approx(99.3 * 0.001))
    # S = 99 nearer than the trail 98.5: the limit stop triggers first and, with the trail
    # reached further down the same bar, the trail closes the position at 98.5 (taker) before
    # the close 99.5 could have filled the limit
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True, trailing_distance=1.5)
    (f,) = _bar(ex, 2, 100.0, 100.0, 98.4, 99.5)
    assert _trail_fill(f) == (ExecType.TRAILING_STOP, 98.5, False, pytest.approx(98.5 * 0.001))
    assert _rows(ex) == [("trailing_stop", 1.0, 98.5)]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_resting_limit_stop_does_not_stop_the_trail(engine: type) -> None:
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True, trailing_distance=1.5)
    # S = 99 triggers (low 98.8), the close 98.9 is below it: the limit rests; the trail 98.5
    # is not reached
    assert _bar(ex, 2, 100.0, 100.0, 98.8, 98.9) == []
    assert ex.position().size == 1.0 and ex.position().trailing_stop == 98.5
    # the next bar never comes back to 99 (the limit does not fill) and falls to 98.4: the
    # trail fires by the last price, a market stop at its level
    (f,) = _bar(ex, 3, 98.9, 98.95, 98.4, 98.6)
    assert _trail_fill(f) == (ExecType.TRAILING_STOP, 98.5, False, pytest.approx(98.5 * 0.001))
    assert ex.position().side == 0
    # the same with the limit placed by a mark trigger (sl_limit + sl_by_mark)
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True, sl_by_mark=True,
                    trailing_distance=1.5)
    assert _bar(ex, 2, 100.0, 100.0, 98.8, 98.9) == []  # mark 98.9 <= 99: placed, rests
    (f,) = _bar(ex, 3, 98.9, 98.95, 98.4, 98.6)
    assert _trail_fill(f) == (ExecType.TRAILING_STOP, 98.5, False, pytest.approx(98.5 * 0.001))
    # a resting limit the bar opens back above fills at the open first (it is on the book)
    ex = _open_long(engine, stop_loss_offset=0.01, sl_limit=True, trailing_distance=1.5)
    assert _bar(ex, 2, 100.0, 100.0, 98.8, 98.9) == []
    (f,) = _bar(ex, 3, 99.2, 99.3, 98.4, 98.6)
    assert (f.exec_type, f.price, f.is_maker) == (ExecType.STOP_LOSS, 99.2, True)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_trail_fires_on_the_path_while_the_stop_loss_is_mark_triggered(
        engine: type) -> None:
    cfg = replace(CFG, slippage=0.001)
    # entry 100.1 (slipped); S = 99.10 by the mark; trail 1.6 below the best 100.1: 98.5
    ex = _open_long(engine, cfg, stop_loss_offset=0.01, sl_by_mark=True, trailing_distance=1.6)
    assert (ex.position().stop_loss, ex.position().trailing_stop) == (99.1, 98.5)
    # the low 98.4 reaches the trail; the mark (the close 99.8) never reaches S: the trail
    # fires on the path at 98.5, slipped down to the tick: 98.5 x 0.999 = 98.4015 -> 98.40
    (f,) = _bar(ex, 2, 100.0, 100.0, 98.4, 99.8)
    assert _trail_fill(f) == (ExecType.TRAILING_STOP, 98.4, False, pytest.approx(98.4 * 0.001))
    # the trail nearer than S: the wick reaches it, the mark 99.9 does not matter
    ex = _open_long(engine, cfg, stop_loss_offset=0.01, sl_by_mark=True, trailing_distance=0.6)
    assert ex.position().trailing_stop == 99.5
    (f,) = _bar(ex, 2, 100.0, 100.0, 99.4, 99.9)
    assert (f.exec_type, f.price) == (ExecType.TRAILING_STOP, 99.4)  # 99.5 x 0.999 -> 99.40
    # the mark checks the stop loss only: a mark 99.3 beyond the trail 99.5 but not at S 99.1,
    # with the last price above the trail, fires nothing
    ex = _open_long(engine, cfg, stop_loss_offset=0.01, sl_by_mark=True, trailing_distance=0.6)
    assert _bar(ex, 2, 100.0, 100.0, 99.6, 99.7, mark=99.3) == []
    assert ex.position().size == 1.0
    (f,) = _bar(ex, 3, 99.7, 99.8, 99.6, 99.6, mark=99.05)  # the mark reaches S: at the close
    assert (f.exec_type, f.price) == (ExecType.STOP_LOSS, 99.5)  # 99.6 x 0.999 -> 99.50


# ---------------------------------------------------------------------- step API
@pytest.mark.parametrize("engine", ENGINES)
def test_step_api_sets_lists_and_refuses(engine: type) -> None:
    ex = engine(CFG)
    with pytest.raises(ValueError, match="needs an open position"):
        ex.set_take_profit_levels([(101.0, 1.0)])
    with pytest.raises(ValueError, match="needs an open position"):
        ex.set_stop_mode(limit=True, by_mark=False)
    ex = _open_long(engine, take_profit=105.0)
    assert ex.take_profit_levels() == [] and ex.position().take_profit == 105.0  # Full mode
    ex.set_take_profit_levels([(102.0, 0.5), (101.0, 0.3), (103.0, 5.0)], limit=True)
    assert ex.take_profit_levels() == [(101.0, 0.3), (102.0, 0.5), (103.0, 1.0)]
    assert ex.position().take_profit == 0.0
    with pytest.raises(ValueError, match="finite and > 0"):
        ex.set_take_profit_levels([(101.0, math.nan)])
    ex.set_trading_stop(take_profit=104.0)  # Partial mode: one level for the position
    assert ex.take_profit_levels() == [(104.0, 1.0)]
    ex.set_take_profit_levels([])
    assert ex.take_profit_levels() == [] and ex.position().take_profit == 0.0


def test_order_request_checks_levels() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        OrderRequest("BTCUSDT", Side.BUY, 1.0, take_profit_levels=((0.02, 0.5), (0.01, 1.0)))
    with pytest.raises(ValueError, match=r"size must be in \(0, 1\]"):
        OrderRequest("BTCUSDT", Side.BUY, 1.0, take_profit_levels=((0.01, 1.5),))


# --------------------------------------------------------- batch: the idle fast path
def _trend_bars(n: int = 3000, seed: int = 3, mark: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.00002, 0.0008, n)))
    o = np.concatenate([[100.0], close[:-1]])
    h = np.maximum(o, close) * (1 + np.abs(rng.normal(0, 0.0003, n)))
    lo = np.minimum(o, close) * (1 - np.abs(rng.normal(0, 0.0003, n)))
    cols: dict[str, Any] = {"ts": np.arange(n, dtype=np.int64) * 60_000, "open": o, "high": h,
                            "low": lo, "close": close, "volume": np.ones(n)}
    if mark:
        cols["mark_price"] = close * (1 + rng.normal(0, 0.0005, n))
    return pa.table(cols)


@pytest.mark.parametrize("flags", [{}, {"tp_limit": True}, {"tp_by_mark": True},
                                   {"sl_by_mark": True, "sl_limit": True}])
@pytest.mark.parametrize("mark", [False, True])
def test_batch_fast_paths_leave_for_levels_and_marks(flags: dict[str, bool], mark: bool) -> None:
    """Few, long-held positions (entries every 600 bars, no exit signals): most bars run on
    the idle fast path, which must leave for every level and mark-price trigger exactly
    where the bar-by-bar engines act."""
    bars = _trend_bars(mark=mark)
    idx = np.arange(14, bars.num_rows, 15, dtype=np.int64)
    s = SignalArrays.empty(idx, take_profit_levels=((0.002, 0.5), (0.004, 0.5), (0.008, 1.0)),
                           **flags)
    s.entry_long[::40] = 1
    s.size_value[:] = 50.0
    s.sl_pct[:] = 0.006
    batch = run_batch(bars, s, CFG)
    ref = run_signals(ReferenceExchange(CFG), bars, s, CFG)
    step = run_signals(SimExchange(CFG), bars, s, CFG)
    for other in (ref, step):
        assert batch.trades.num_rows == other.trades.num_rows
        for a, b in zip(batch.trades.to_pylist(), other.trades.to_pylist(), strict=True):
            assert a.keys() == b.keys()
            for key, x in a.items():
                assert x == (pytest.approx(b[key], rel=1e-9) if isinstance(x, float) else b[key])
        np.testing.assert_allclose(batch.equity.column("equity").to_numpy(),
                                   other.equity.column("equity").to_numpy(), rtol=1e-9)
    reasons = batch.trades.column("exit_reason").to_pylist()
    assert reasons.count("take_profit") >= 3  # levels did fire on the idle stretches


# -------------------------------------------------------------- TRADE's Play shapes
@pytest.mark.parametrize(("name", "check"), [
    ("split_tp_3_levels.yml", lambda plan: plan.tp_levels == ((0.01, 0.5), (0.02, 0.5),
                                                                (0.03, 1.0))),
    ("mark_price_triggers.yml", lambda plan: plan.tp_by_mark and plan.sl_by_mark),
    ("tp_as_limit.yml", lambda plan: plan.tp_limit and not plan.sl_limit),
])
def test_trade_partial_mode_plays_validate_and_backtest(name: str, check: Any) -> None:
    from trade.engine import run_backtest
    from trade.engine.orders import order_plan
    from trade.play import load_play

    play = load_play(FIX / name)
    assert check(order_plan(play))
    res = run_backtest(play, synthetic=True, out_dir=None)
    trades = res.trades
    assert trades.num_rows > 0
    if name == "split_tp_3_levels.yml":
        # a partial close at the first level leaves a remainder closed later
        rows = trades.to_pylist()
        first = next(i for i, r in enumerate(rows) if r["exit_reason"] == "take_profit")
        assert rows[first + 1]["entry_ts"] == rows[first]["entry_ts"]
    if name == "tp_as_limit.yml":
        tp = [r for r in trades.to_pylist() if r["exit_reason"] == "take_profit"]
        assert tp
        for r in tp:  # the exit fee is the maker fee (2 bps) on top of the entry's taker fee
            exit_fee = r["qty"] * r["exit_price"] * 0.0002
            entry_fee = r["qty"] * r["entry_price"] * 0.00055
            assert r["fees"] == pytest.approx(exit_fee + entry_fee, rel=1e-6)


@pytest.mark.parametrize("name", ["split_tp_3_levels.yml", "mark_price_triggers.yml",
                                  "tp_as_limit.yml"])
def test_batch_and_event_paths_agree_on_partial_mode_plays(name: str) -> None:
    """The batch path (signals with the run constants -> run_batch) and the event path
    (PlayEngine's orders carrying the same settings -> SimExchange) give one trade log."""
    from trade.data import open_store
    from trade.engine import run_backtest
    from trade.play import load_play

    play = load_play(FIX / name)
    store = open_store(f"memory://partial-{name}")  # empty: the Play's synthetic data
    batch = run_backtest(play, store=store, path="batch")
    event = run_backtest(play, store=store, path="event")
    assert batch.n_trades > 0
    assert batch.trades.to_pylist() == event.trades.to_pylist()
    assert batch.equity.equals(event.equity)


def test_a_sweep_carries_the_split_levels(tmp_path: Path) -> None:
    """Each sweep variant of the split take-profit Play equals its own backtest."""
    from trade.data import open_store, synth_bars
    from trade.engine import run_backtest
    from trade.play import apply_overrides, load_play
    from trade.sweep import SweepContext, SweepSettings, read_results, run_sweep, space_for

    play = load_play(FIX / "split_tp_3_levels.yml")
    data = synth_bars("BTCUSDT", 4, 11, "trending_up")
    ctx = SweepContext(play, data, SweepSettings(metrics="fast"))
    out = run_sweep(ctx, space_for(ctx, ["risk.stop_loss_pct=values:2,5"]),
                    tmp_path / "s.parquet", workers=1)
    rows = read_results(out.path).to_pylist()
    assert len(rows) == 2 and all(r["error"] is None for r in rows)
    mem = open_store("memory://partial-sweep-bars")
    if not mem.month_files("BTCUSDT"):
        mem.write_bars("BTCUSDT", data)
    for r in rows:
        variant = apply_overrides(play, {"risk.stop_loss_pct": r["param.risk.stop_loss_pct"]})
        ref = run_backtest(variant, store=mem, synthetic=False)
        assert r["n_trades"] == ref.n_trades
        assert r["metric.total_return"] == pytest.approx(ref.metrics["total_return"],
                                                         rel=1e-12, abs=1e-12)
        reasons = ref.trades.column("exit_reason").to_pylist()
        assert "take_profit" in reasons  # the levels fired in the variant
