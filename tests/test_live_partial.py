"""Partial TP/SL in the live stack (docs/live.md "Partial TP/SL"): the levels a live entry
sends are the kernel's own (differential against SimExchange), the read-back check finds
what is missing and forgets levels the position has already closed, and the journal
carries what a restart needs to repair them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trade.core import FillEvent, Order, OrderRequest, OrderStatus, Side
from trade.live.executor import bracket_prices
from trade.live.journal import order_fields
from trade.live.protect import (
    PartialPlan,
    entry_plan,
    partial_missing,
    plan_from,
    split_levels,
    uses_partial,
    with_provisional,
)
from trade.sim import SimConfig, SimExchange

SYM = "BTCUSDT"
NAN = float("nan")


@st.composite
def _levels(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    n = draw(st.integers(1, 5))
    pcts = sorted(set(draw(st.lists(st.floats(0.001, 0.2), min_size=n, max_size=n))))
    sizes = draw(st.lists(st.floats(0.05, 1.0), min_size=len(pcts), max_size=len(pcts)))
    return tuple(zip(pcts, sizes, strict=True))


@settings(max_examples=200, deadline=None)
@given(levels=_levels(), buy=st.booleans(), qty_units=st.integers(1, 500),
       price=st.floats(50.0, 90_000.0), tick=st.sampled_from([0.01, 0.1, 0.5]),
       step=st.sampled_from([0.001, 0.01, 0.1]))
def test_live_split_levels_are_the_kernels(levels: tuple[tuple[float, float], ...], buy: bool,
                                           qty_units: int, price: float, tick: float,
                                           step: float) -> None:
    """The (price, qty) pairs a live entry sends as Partial take-profits equal the levels
    the backtest kernel cuts at the same fill."""
    qty = qty_units * step
    # a level within a tick of the fill is reached by the fill bar itself (not this test's)
    assume(levels[0][0] * price > 2 * tick)
    cfg = SimConfig(symbol=SYM, initial_balance=1e12, tick_size=tick, qty_step=step)
    engine = SimExchange(cfg)
    engine.on_bar(0, price, price, price, price, 1.0, NAN, NAN)
    side = Side.BUY if buy else Side.SELL
    req = OrderRequest(SYM, side, qty, take_profit_levels=levels, tp_limit=True)
    engine.submit(req)
    engine.on_bar(60_000, price, price, price, price, 1.0, NAN, NAN)
    fill = next(e.fill for e in engine.drain_events() if isinstance(e, FillEvent))
    sign = 1 if buy else -1
    mine = split_levels(fill.price, sign, fill.qty, levels, tick, step)
    assert list(mine) == engine.take_profit_levels()
    # and through the entry's bracket plan, as the session builds it
    order = Order("o-1", req, OrderStatus.FILLED, 0, 60_000, fill.qty, fill.price)
    brackets = bracket_prices(order)
    plan = plan_from(req, sign, fill.price, fill.qty, brackets, tick, step)
    assert plan is not None and plan.take_profits == mine and plan.tp_limit
    assert "takeProfit" not in brackets


def _row(kind: str, trigger: float, qty: float, *, limit: bool = False, mark: bool = False
         ) -> dict[str, Any]:
    return {"stopOrderType": kind, "triggerPrice": str(trigger), "qty": str(qty),
            "orderType": "Limit" if limit else "Market",
            "triggerBy": "MarkPrice" if mark else "LastPrice"}


def test_partial_missing_finds_what_the_exchange_does_not_list() -> None:
    plan = PartialPlan(((101.0, 0.3), (102.0, 0.3), (103.0, 0.4)), tp_limit=True,
                       stop_loss=98.0, sl_by_mark=True, size=1.0)
    pos = {"symbol": SYM, "side": "Buy", "size": "1"}
    tps = [_row("PartialTakeProfit", p, q, limit=True) for p, q in plan.take_profits]
    sl = _row("PartialStopLoss", 98.0, 1.0, mark=True)
    assert partial_missing(plan, [*tps, sl], pos, 1, 0.1, 0.1) == ([], False, "held")
    missing, send_sl, why = partial_missing(plan, tps[:2], pos, 1, 0.1, 0.1)
    assert missing == [(103.0, 0.4)] and send_sl and "1 Partial" in why
    # a market order where a limit one is wanted, or a looser stop, does not count
    wrong = [_row("PartialTakeProfit", 101.0, 0.3), *tps[1:],
             _row("PartialStopLoss", 97.0, 1.0, mark=True)]
    missing, send_sl, _ = partial_missing(plan, wrong, pos, 1, 0.1, 0.1)
    assert missing == [(101.0, 0.3)] and send_sl
    # the first level filled (the position is 0.7): it is not wanted again
    smaller = {**pos, "size": "0.7"}
    sl_07 = _row("PartialStopLoss", 98.5, 0.7, mark=True)  # tighter than asked: fine
    assert partial_missing(plan, [*tps[1:], sl_07], smaller, 1, 0.1, 0.1) == ([], False, "held")
    # flat: nothing is missing
    assert partial_missing(plan, [], {**pos, "size": "0"}, 1, 0.1, 0.1)[:2] == ([], False)


def test_partial_entries_carry_no_provisional_take_profit_and_journal_their_plan() -> None:
    req = OrderRequest(SYM, Side.BUY, 0.5, stop_loss_offset=0.02,
                       take_profit_levels=((0.01, 0.5), (0.02, 1.0)), sl_by_mark=True)
    assert uses_partial(req) == (True, True)
    prov = with_provisional(req, 30_000.0, 0.005, 0.1)
    assert prov.take_profit is None and prov.stop_loss is not None  # the stop stays Full
    plain = OrderRequest(SYM, Side.BUY, 0.5, stop_loss_offset=0.02, take_profit_offset=0.04)
    assert uses_partial(plain) == (False, False)
    assert with_provisional(plain, 30_000.0, 0.005, 0.1).take_profit is not None
    rec = order_fields("link-1", req)
    assert rec["tp_levels"] == [[0.01, 0.5], [0.02, 1.0]] and rec["sl_by_mark"] is True
    assert "tp_limit" not in order_fields("link-2", plain)
    # a restart rebuilds the entry's plan from the record at the position's entry price
    levels = {"stopLoss": 29_400.0}
    plan = entry_plan(rec, 1, 30_000.0, levels, 0.1, 0.001)
    order = Order("o", req, OrderStatus.FILLED, 0, 0, 0.5, 30_000.0)
    again = plan_from(req, 1, 30_000.0, 0.5, bracket_prices(order), 0.1, 0.001)
    assert plan is not None and again is not None
    assert plan.take_profits == again.take_profits and plan.stop_loss == 29_400.0
    assert levels == {}  # the stop went Partial (mark-price trigger)
    assert replace(plan, take_profits=(), stop_loss=0.0).record()["size"] == 0.5
