"""The split bar step: on_bar_open (rule 1) + on_bar_rest (rules 2-7) == on_bar.

The exchange simulator splits each 1m bar so that a client can attach a fill-relative
trading stop between the fill at the open and the rest of the bar, as it can on Bybit
within milliseconds of the fill. These tests pin the split down on both simulators:

* with actions between the halves (trading stops, submits, cancels, amends) the compiled
  kernel and the reference simulator still agree exactly;
* with nothing in between, the split produces the same events, trades and equity as on_bar;
* a trading stop set right after an opening fill reproduces the backtest of an order with
  the same fill-relative stop-loss / take-profit offsets (docs/architecture.md, invariant 7).
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_sim_differential import (
    _apply,
    _snapshot,
    _snapshots_agree,
    assert_tables_agree,
    bar_series,
    configs,
    order_actions,
)

from trade.core import OrderRequest, OrderType, Side
from trade.core.models import FillEvent
from trade.live.executor import fmt_step
from trade.sim import SimExchange
from trade.sim.config import SimConfig
from trade.sim.reference import ReferenceExchange


def _bars(bars: pa.Table) -> list[tuple[tuple[int, float, float, float, float, float], float]]:
    out = []
    for row in bars.to_pylist():
        fr = row.get("funding_rate", math.nan)
        args = (row["ts"], row["open"], row["high"], row["low"], row["close"], row["volume"])
        out.append((args, math.nan if fr is None else fr))
    return out


@given(st.data())
def test_split_with_actions_between_the_halves_kernel_equals_reference(
    data: st.DataObject,
) -> None:
    bars = data.draw(bar_series(min_bars=20, max_bars=100))
    cfg = data.draw(configs)
    n = bars.num_rows
    between = data.draw(order_actions(n))
    after = data.draw(order_actions(n))
    fast, ref = SimExchange(cfg), ReferenceExchange(cfg)
    for i, (args, fr) in enumerate(_bars(bars)):
        ts, o = args[0], args[1]
        fast.on_bar_open(ts, o)
        ref.on_bar_open(ts, o)
        a, b = _snapshot(fast), _snapshot(ref)
        assert _snapshots_agree(a, b), f"bar {i} after the open: {a} != {b}"
        for action in between[i]:
            # between the halves only the open is known: prices are placed around it
            out_fast = _apply(fast, action, o, cfg)
            out_ref = _apply(ref, action, o, cfg)
            assert out_fast == out_ref, f"bar {i} mid action {action}: {out_fast} != {out_ref}"
        fast.on_bar_rest(*args, funding_rate=fr)
        ref.on_bar_rest(*args, funding_rate=fr)
        a, b = _snapshot(fast), _snapshot(ref)
        assert _snapshots_agree(a, b), f"after bar {i}: {a} != {b}"
        for action in after[i]:
            out_fast = _apply(fast, action, args[4], cfg)
            out_ref = _apply(ref, action, args[4], cfg)
            assert out_fast == out_ref, f"bar {i} action {action}: {out_fast} != {out_ref}"
    fast.finish()
    ref.finish()
    assert_tables_agree(fast.trade_log(), ref.trade_log(), "trades")
    assert_tables_agree(fast.equity_curve(), ref.equity_curve(), "equity")


@pytest.mark.parametrize("engine", [SimExchange, ReferenceExchange])
@given(st.data())
def test_on_bar_equals_open_plus_rest_when_nothing_happens_between(
    engine: Any, data: st.DataObject
) -> None:
    bars = data.draw(bar_series(min_bars=20, max_bars=100))
    cfg = data.draw(configs)
    actions = data.draw(order_actions(bars.num_rows))
    whole, split = engine(cfg), engine(cfg)
    for i, (args, fr) in enumerate(_bars(bars)):
        whole.on_bar(*args, funding_rate=fr)
        split.on_bar_open(args[0], args[1])
        split.on_bar_rest(*args, funding_rate=fr)
        ev_whole, ev_split = whole.drain_events(), split.drain_events()
        assert ev_whole == ev_split, f"bar {i}: events differ"
        for action in actions[i]:
            assert _apply(whole, action, args[4], cfg) == _apply(split, action, args[4], cfg)
        assert whole.drain_events() == split.drain_events()
    whole.finish()
    split.finish()
    assert whole.trade_log().equals(split.trade_log())
    assert whole.equity_curve().equals(split.equity_curve())
    assert whole.drain_events() == split.drain_events()


Entry = tuple[Side, float, float, float, float | None, float | None]


@st.composite
def market_entries(draw: st.DrawFn, n_bars: int) -> list[Entry | None]:
    """Per bar: maybe a market order (side, qty fraction, stop-loss and take-profit offsets,
    a trailing offset or None, and its activation or None)."""
    out: list[Entry | None] = []
    for _ in range(n_bars):
        if draw(st.integers(0, 3)) == 0:
            trail = draw(st.sampled_from([None, 0.0005, 0.002, 0.006]))
            out.append((
                draw(st.sampled_from([Side.BUY, Side.SELL])),
                draw(st.sampled_from([0.2, 0.5, 1.0])),
                draw(st.sampled_from([0.001, 0.003, 0.01])),
                draw(st.sampled_from([0.001, 0.004, 0.02])),
                trail,
                None if trail is None else draw(st.sampled_from([None, 0.00001, 0.001,
                                                                 0.004])),
            ))
        else:
            out.append(None)
    return out


def _sent(level: float, tick: float) -> float:
    return float(fmt_step(level, tick)) if tick > 0 else level


@pytest.mark.parametrize("engine", [SimExchange, ReferenceExchange])
@given(st.data())
def test_trading_stop_right_after_the_fill_equals_fill_relative_offsets(
    engine: Any, data: st.DataObject
) -> None:
    """The live path (fill at the open, then trading-stop, then the rest of the bar) trades
    exactly like the backtest of orders carrying stop_loss_offset / take_profit_offset /
    trailing_offset + trailing_activation (sent as trailingStop + activePrice)."""
    bars = data.draw(bar_series(min_bars=20, max_bars=100))
    cfg: SimConfig = data.draw(configs)
    entries = data.draw(market_entries(bars.num_rows))
    backtest, live = engine(cfg), engine(cfg)
    pending: dict[str, Entry] = {}
    for (args, fr), entry in zip(_bars(bars), entries, strict=True):
        ts, o = args[0], args[1]
        backtest.on_bar(*args, funding_rate=fr)
        live.on_bar_open(ts, o)
        for ev in live.drain_events():
            if not isinstance(ev, FillEvent) or ev.fill.order_id not in pending:
                continue
            side, _, sl, tp, trail, act = pending.pop(ev.fill.order_id)
            pos = live.position()
            if pos.side != (1 if side is Side.BUY else -1):
                continue  # the fill only reduced or closed the position: no bracket
            px = ev.fill.price
            tick = cfg.tick_size
            # as live sends them: decimal strings on the tick grid, parsed by the exchange
            # (a trailing activation as Bybit's activePrice)
            distance = None if trail is None else _sent(px * trail, tick)
            live.set_trading_stop(
                stop_loss=_sent(px * (1 - sl * pos.side), tick),
                take_profit=_sent(px * (1 + tp * pos.side), tick),
                trailing_distance=distance if distance else None,
                trailing_active_price=(_sent(px * (1 + act * pos.side), tick)
                                       if distance and act else None),
            )
        live.on_bar_rest(*args, funding_rate=fr)
        if entry is None:
            continue
        side, frac, sl, tp, trail, act = entry
        qty = round(cfg.initial_balance * frac / args[4], 6)
        backtest.submit(OrderRequest(
            cfg.symbol, side, qty, OrderType.MARKET,
            stop_loss_offset=sl, take_profit_offset=tp,
            trailing_offset=trail, trailing_activation=act,
        ))
        order = live.submit(OrderRequest(cfg.symbol, side, qty, OrderType.MARKET))
        pending[order.order_id] = entry
    backtest.finish()
    live.finish()
    assert_tables_agree(backtest.trade_log(), live.trade_log(), "trades")
    assert_tables_agree(backtest.equity_curve(), live.equity_curve(), "equity")


@pytest.mark.parametrize("engine", [SimExchange, ReferenceExchange])
def test_split_misuse_is_refused_and_applies_nothing(engine: Any) -> None:
    cfg = SimConfig(symbol="BTCUSDT", initial_balance=1_000.0)
    ex = engine(cfg)
    with pytest.raises(ValueError, match="on_bar_open"):
        ex.on_bar_rest(60_000, 100.0, 101.0, 99.0, 100.0)
    with pytest.raises(ValueError, match="open"):
        ex.on_bar_open(60_000, math.nan)
    ex.on_bar_open(60_000, 100.0)
    with pytest.raises(ValueError, match="awaits on_bar_rest"):
        ex.on_bar(120_000, 100.0, 101.0, 99.0, 100.0)
    with pytest.raises(ValueError, match="awaits on_bar_rest"):
        ex.on_bar_open(120_000, 100.0)
    with pytest.raises(ValueError, match="ts"):
        ex.on_bar_rest(120_000, 100.0, 101.0, 99.0, 100.0)
    with pytest.raises(ValueError, match="open"):
        ex.on_bar_rest(60_000, 100.5, 101.0, 99.0, 100.0)
    with pytest.raises(ValueError, match=r"high|OHLC"):
        ex.on_bar_rest(60_000, 100.0, 99.5, 99.0, 100.0)
    with pytest.raises(ValueError, match="awaits on_bar_rest"):
        ex.finish()
    assert ex.bars_processed == 0 if isinstance(ex, SimExchange) else not ex.equity_rows
    ex.on_bar_rest(60_000, 100.0, 101.0, 99.0, 100.0)
    ex.on_bar(120_000, 100.0, 101.0, 99.0, 100.0)
    with pytest.raises(ValueError, match="ts"):
        ex.on_bar_open(120_000, 100.0)
    ex.finish()
    with pytest.raises(ValueError, match="finish"):
        ex.on_bar_open(180_000, 100.0)
