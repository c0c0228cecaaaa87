"""Bracket levels set from offsets are on the instrument's tick grid (fill_model.md rule 4).

Live sends trading-stop levels as `fmt_step(level, tick)` strings, which the exchange parses
as decimals; the kernel and the reference round the same levels so that the double they keep
is the one the exchange reads back, bit for bit (docs/architecture.md, invariant 7).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import fast_cross_play_yaml
from trade.core import OrderRequest, OrderType, Side
from trade.engine.backtest import sim_config
from trade.engine.orders import DEFAULT_INSTRUMENT, order_plan
from trade.exchange_sim.venue import Instrument as VenueInstrument
from trade.exchange_sim.venue import Venue
from trade.live.executor import fmt_step
from trade.play import load_play
from trade.sim import SimExchange
from trade.sim.config import SimConfig, round_to_tick, tick_grid
from trade.sim.reference import ReferenceExchange

TICKS = [0.1, 0.01, 0.5, 0.001]


@settings(max_examples=400, deadline=None)
@given(x=st.floats(min_value=1e-3, max_value=2e5, allow_nan=False), tick=st.sampled_from(TICKS))
def test_fmt_step_parses_back_to_the_reference_rounding(x: float, tick: float) -> None:
    assert float(fmt_step(x, tick)) == round_to_tick(x, tick)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=0, max_value=10**7), tick=st.sampled_from(TICKS),
       half=st.booleans())
def test_ties_round_half_even_and_grid_points_stay_put(n: int, tick: float, half: bool) -> None:
    units, decimals = tick_grid(tick)
    on_grid = n * units / 10**decimals
    x = (n + 0.5) * units / 10**decimals if half else on_grid
    got = round_to_tick(x, tick)
    assert float(fmt_step(x, tick)) == got
    if not half:
        assert got == on_grid  # a level already on the grid is kept exactly
    else:
        # a tie (as the double x / tick sees it) goes to the even step, like Python's round
        assert got == round(x / tick) * units / 10**decimals
        assert abs(got - x) <= tick / 2 * (1 + 1e-9)


def test_tick_grid_of_common_steps() -> None:
    assert tick_grid(0.1) == (1, 1)
    assert tick_grid(0.5) == (5, 1)
    assert tick_grid(0.01) == (1, 2)
    assert tick_grid(0.001) == (1, 3)
    assert tick_grid(0.25) == (25, 2)
    assert tick_grid(1.0) == (1, 0)
    assert tick_grid(0.0) == (0, 0)
    assert round_to_tick(123.456, 0.0) == 123.456  # no grid: unrounded


@pytest.mark.parametrize("bad", [-0.1, math.inf, math.nan])
def test_sim_config_rejects_a_bad_tick(bad: float) -> None:
    with pytest.raises(ValueError, match="tick_size"):
        SimConfig(tick_size=bad)


@settings(max_examples=60, deadline=None)
@given(
    fill=st.floats(min_value=100.0, max_value=90_000.0),
    tick=st.sampled_from(TICKS),
    side=st.sampled_from([Side.BUY, Side.SELL]),
    sl=st.floats(min_value=0.001, max_value=0.05),
    tp=st.floats(min_value=0.001, max_value=0.05),
    trail=st.floats(min_value=0.001, max_value=0.05),
)
def test_kernel_and_reference_set_brackets_from_offsets_on_the_grid(
    fill: float, tick: float, side: Side, sl: float, tp: float, trail: float
) -> None:
    cfg = SimConfig(tick_size=tick, leverage=10.0, slippage=0.0)
    sign = 1 if side is Side.BUY else -1
    expected = (round_to_tick(fill * (1 - sign * sl), tick),
                round_to_tick(fill * (1 + sign * tp), tick),
                round_to_tick(fill * trail, tick))
    for ex in (SimExchange(cfg), ReferenceExchange(cfg)):
        ex.on_bar(0, fill, fill, fill, fill, 1.0)
        ex.submit(OrderRequest(symbol="BTCUSDT", side=side, order_type=OrderType.MARKET,
                               qty=0.001, stop_loss_offset=sl, take_profit_offset=tp,
                               trailing_offset=trail))
        ex.on_bar_open(60_000, fill)
        pos = ex.position()
        assert pos.entry_price == fill
        got = (pos.stop_loss, pos.take_profit, pos.trailing_distance)
        assert got == expected, type(ex).__name__
        # and exactly what live sends as strings, parsed back by the exchange
        assert got == tuple(float(fmt_step(v, tick)) for v in
                            (fill * (1 - sign * sl), fill * (1 + sign * tp), fill * trail))


@pytest.mark.parametrize("make", [SimExchange, ReferenceExchange])
def test_break_even_stop_is_on_the_grid(make: type) -> None:
    tick = 0.5
    cfg = SimConfig(tick_size=tick, leverage=10.0)
    ex = make(cfg)
    ex.on_bar(0, 100.0, 100.0, 100.0, 100.0, 1.0)
    # entry 100, break-even at +0.3 % = 100.3 -> 100.5 on the 0.5 grid (nearest)
    ex.submit(OrderRequest(symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
                           qty=0.01, break_even_activation=0.01, break_even_offset=0.003))
    ex.on_bar(60_000, 100.0, 101.5, 100.0, 101.0, 1.0)
    assert ex.position().side == 1
    assert ex.position().stop_loss == 100.5
    assert round_to_tick(100.0 * 1.003, tick) == float(fmt_step(100.0 * 1.003, tick)) == 100.5




def test_backtest_and_venue_carry_the_instruments_tick(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(fast_cross_play_yaml("tick_wiring"))
    play = load_play(path)
    inst = dataclasses.replace(DEFAULT_INSTRUMENT, tick_size=0.01)
    assert sim_config(play, order_plan(play, inst), inst).tick_size == 0.01
    # the exchange simulator rounds on the grid its instruments-info reports
    venue = Venue(SimConfig(), VenueInstrument(tick_size=0.5))
    assert venue.config.tick_size == 0.5


@pytest.mark.parametrize("make", [SimExchange, ReferenceExchange])
def test_trailing_activation_price_is_on_the_grid(make: type) -> None:
    """Entry 100, activation 1.3 % -> 101.3 -> 101.5 on the 0.5 grid: the activePrice live
    sends. A high of 101.4 (a 1.4 % move) does not arm it; 101.5 does."""
    tick = 0.5
    ex = make(SimConfig(tick_size=tick, leverage=10.0))
    ex.on_bar(0, 100.0, 100.0, 100.0, 100.0, 1.0)
    ex.submit(OrderRequest(symbol="BTCUSDT", side=Side.BUY, order_type=OrderType.MARKET,
                           qty=0.01, trailing_distance=1.0, trailing_activation=0.013))
    ex.on_bar(60_000, 100.0, 101.4, 100.0, 101.0, 1.0)
    assert ex.position().side == 1 and ex.position().trailing_stop == 0.0  # not armed
    ex.on_bar(120_000, 101.0, 101.5, 100.6, 101.2, 1.0)
    assert ex.position().trailing_stop == 100.5  # armed at best 101.5 - 1.0
    assert float(fmt_step(100.0 * 1.013, tick)) == 101.5


@pytest.mark.parametrize("make", [SimExchange, ReferenceExchange])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_trading_stop_active_price_keeps_the_trail_unarmed_until_reached(
    make: type, side: Side
) -> None:
    sign = 1 if side is Side.BUY else -1
    ex = make(SimConfig(tick_size=0.1, leverage=10.0))
    ex.on_bar(0, 100.0, 100.0, 100.0, 100.0, 1.0)
    ex.submit(OrderRequest(symbol="BTCUSDT", side=side, order_type=OrderType.MARKET, qty=0.01))
    ex.on_bar(60_000, 100.0, 100.0, 100.0, 100.0, 1.0)
    with pytest.raises(ValueError, match="needs a trailing_distance"):
        ex.set_trading_stop(trailing_active_price=103.0)
    ex.set_trading_stop(trailing_distance=1.0, trailing_active_price=100.0 + 3 * sign)
    assert ex.position().trailing_stop == 0.0  # unarmed: no level
    def mirrored(ts: int, o: float, h: float, lo: float, c: float) -> None:
        # a long's bar as given; a short's mirrored about 100 (high and low swap)
        if sign > 0:
            ex.on_bar(ts, o, h, lo, c, 1.0)
        else:
            ex.on_bar(ts, 200 - o, 200 - lo, 200 - h, 200 - c, 1.0)

    # the price moves 2.9 in favour: short of the activation price, nothing arms
    mirrored(120_000, 100.0, 102.9, 100.0, 102.0)
    assert ex.position().trailing_stop == 0.0
    mirrored(180_000, 102.0, 103.0, 101.5, 102.5)  # reaches 103: armed at best -/+ 1
    assert ex.position().trailing_stop == pytest.approx(100.0 + 2.0 * sign)
    # an activation price the best price already reached arms at once
    ex.set_trading_stop(trailing_distance=0.5, trailing_active_price=100.0 + 1.0 * sign)
    assert ex.position().trailing_stop == pytest.approx(100.0 + 2.5 * sign)


@settings(max_examples=60, deadline=None)
@given(tick=st.sampled_from(TICKS), slip=st.sampled_from([0.0001, 0.0002, 0.00037]),
       seed=st.integers(min_value=0, max_value=10_000))
def test_slipped_fills_land_on_the_grid_against_the_trader(tick: float, slip: float,
                                                           seed: int) -> None:
    """Market fills with slippage (opening and closing): on the tick grid, rounded
    against the trader (buy up, sell down), by less than one tick; kernel == reference."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cfg = SimConfig(symbol="BTCUSDT", initial_balance=1e6, slippage=slip, tick_size=tick)
    fills: dict[str, list[tuple[float, float, int]]] = {}
    start = 100.0 + float(rng.uniform(0, 50))
    for make in (SimExchange, ReferenceExchange):
        eng = make(cfg)
        out: list[tuple[float, float, int]] = []
        price = start
        opens: dict[int, float] = {}
        for k in range(40):
            o = round(price + float(np.sin(k + seed)) * 0.37, 6)
            h, lo = o + 0.9, o - 0.9
            c = round(o + float(np.cos(k * seed)) * 0.5, 6)
            opens[k] = o
            eng.on_bar(k * 60_000, o, h, lo, c, 1.0, math.nan, math.nan)
            for ev in eng.drain_events():
                fill = getattr(ev, "fill", None)
                if fill is not None:
                    out.append((fill.price, opens[k], int(fill.side)))
            if k % 4 == 0:
                side = Side.BUY if k % 8 == 0 else Side.SELL
                eng.submit(OrderRequest(symbol="BTCUSDT", side=side, qty=1.0,
                                        order_type=OrderType.MARKET))
            price = c
        fills[make.__name__] = out
    assert fills["SimExchange"] == fills["ReferenceExchange"]
    units, decimals = tick_grid(tick)
    assert fills["SimExchange"]
    for px, open_, side in fills["SimExchange"]:
        assert round(px / tick) * units / 10**decimals == px  # exactly on the grid
        moved = open_ * (1 + slip * side)
        assert 0 <= (px - moved) * side < tick + 1e-9  # rounded against the trader
