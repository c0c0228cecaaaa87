"""Bybit Partial TP/SL against the simulator with unmodified pybit: split take-profits
listed as PartialTakeProfit orders, filled nearest first at the maker fee (limit) or taker
fee (market), Deactivated when the position closes, cancellable by orderId; a Partial stop
on the mark price; and the simulator's fills equal the backtest kernel's driven directly
through the same steps."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError

from tests.conftest_exsim import (
    KEY,
    SECRET,
    Collector,
    close_ws,
    make_server,
    synthetic_bars,
    ws_kwargs,
)
from trade.core import FillEvent, OrderRequest, OrderType, Side
from trade.core.instrument import Instrument
from trade.exchange_sim import ExchangeSimServer, make_http, make_websocket
from trade.exchange_sim.protocol import ApiError
from trade.exchange_sim.venue import Venue
from trade.sim import SimConfig, SimExchange

SYM = "BTCUSDT"
CONFIG = SimConfig(symbol=SYM, initial_balance=10_000.0, slippage=0.0002)
WARM = 20
BARS = synthetic_bars(n=400, seed=26)


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server(BARS, warm=WARM, sim_config=CONFIG, bracket_grace_s=0.0,
                     rate_limits={"/v5/position/trading-stop": 1000}) as server:
        yield server


def _grid(x: float, tick: float) -> str:
    return f"{round(round(x / tick) * tick, 6):g}"


def _levels(sim: ExchangeSimServer, first: int) -> list[float]:
    """Three take-profit prices above the entry: two the coming bars trade through (the
    nearer sooner), one no bar reaches."""
    tick = sim.instrument.tick_size
    highs = [sim.market.bar(i)[2] for i in range(first, first + 120)]
    near = max(highs[:15]) - 2 * tick
    far = max(highs[:100]) - 2 * tick
    assert far > near + tick, (near, far)
    return [float(_grid(near, tick)), float(_grid(far, tick)),
            float(_grid(max(highs) + 500.0, tick))]


def _wait_subscribed(sim: ExchangeSimServer, n: int) -> bool:
    """Until the server has activated `n` private subscriptions."""
    done = threading.Event()
    for _ in range(500):
        conns = list(sim._conns.values())
        if sum(len(c.topics) for c in conns if c.kind == "private") >= n:
            return True
        done.wait(0.01)
    return False


def _kernel_fills(sim: ExchangeSimServer, script: list[tuple[int, Any]], n: int
                  ) -> list[Any]:
    """The backtest kernel fed the same bars; `script` calls made after bar i."""
    ref = SimExchange(replace(CONFIG, tick_size=sim.instrument.tick_size))
    fills: list[Any] = []
    for i in range(n):
        ts, o, h, lo, c, v = sim.market.bar(i)
        ref.on_bar(ts, o, h, lo, c, v, sim.market.mark_price(i), float("nan"))
        for at, call in script:
            if at == i:
                call(ref)
        fills.extend(e.fill for e in ref.drain_events() if isinstance(e, FillEvent))
    return fills


def _key(qty: str | float, price: str | float, fee: str | float, maker: bool, ts: str | int
         ) -> tuple[float, float, float, bool, int]:
    return (round(float(qty), 9), round(float(price), 6), round(float(fee), 8), bool(maker),
            int(ts))


def test_split_limit_take_profits_are_listed_filled_as_maker_and_deactivated(
        sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    priv = Collector()
    ws = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET, **ws_kwargs())
    try:
        ws.order_stream(priv)
        assert _wait_subscribed(sim, 1)
        http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market",
                         qty="0.3", orderLinkId="entry")
        sim.step()  # fills at the open of bar WARM
        entry_bar = WARM
        prices = _levels(sim, entry_bar + 1)
        tick = sim.instrument.tick_size
        for px in prices:
            res = http.set_trading_stop(
                category="linear", symbol=SYM, positionIdx=0, tpslMode="Partial",
                takeProfit=_grid(px, tick), tpSize="0.1", tpOrderType="Limit",
                tpLimitPrice=_grid(px, tick), tpTriggerBy="LastPrice")
            assert res["retCode"] == 0
        listed = http.get_open_orders(category="linear", symbol=SYM)["result"]["list"]
        tps = sorted((r for r in listed if r["stopOrderType"] == "PartialTakeProfit"),
                     key=lambda r: float(r["triggerPrice"]))
        assert [float(r["triggerPrice"]) for r in tps] == prices
        for r in tps:
            assert (r["orderStatus"], r["orderType"], r["side"], r["qty"]) == (
                "Untriggered", "Limit", "Sell", "0.1")
            assert r["price"] == r["triggerPrice"] and r["triggerBy"] == "LastPrice"
            assert r["reduceOnly"] is True and r["closeOnTrigger"] is True
            assert r["tpslMode"] == "Partial"
        assert priv.wait_for(lambda _: sum(
            1 for r in priv.rows("order") if r["stopOrderType"] == "PartialTakeProfit") >= 3)
        pos = http.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
        assert (pos["tpslMode"], pos["takeProfit"]) == ("Partial", "0")
        # a limit price off the trigger is refused (the kernel rests it at the level)
        with pytest.raises(InvalidRequestError) as err:
            http.set_trading_stop(category="linear", symbol=SYM, positionIdx=0,
                                  tpslMode="Partial", takeProfit=_grid(prices[0], tick),
                                  tpSize="0.1", tpOrderType="Limit",
                                  tpLimitPrice=_grid(prices[0] - 5, tick))
        assert err.value.status_code == 10001

        sim.step(100)
        execs = http.get_executions(category="linear", symbol=SYM)["result"]["list"][::-1]
        tp_execs = [e for e in execs if e["stopOrderType"] == "PartialTakeProfit"]
        assert len(tp_execs) == 2  # the two near levels, nearest first
        assert [float(e["execPrice"]) for e in tp_execs] == prices[:2]
        assert [e["orderId"] for e in tp_execs] == [r["orderId"] for r in tps[:2]]
        for e in tp_execs:
            assert e["isMaker"] is True and e["createType"] == "CreateByPartialTakeProfit"
            fee = float(e["execQty"]) * float(e["execPrice"]) * CONFIG.maker_fee
            assert float(e["execFee"]) == pytest.approx(fee, abs=1e-8)
        hist = {r["orderId"]: r for r in http.get_order_history(
            category="linear", symbol=SYM)["result"]["list"]}
        assert [hist[r["orderId"]]["orderStatus"] for r in tps] == [
            "Filled", "Filled", "Untriggered"]
        pos = http.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
        assert pos["size"] == "0.1"

        # closing the rest deactivates the far level
        http.place_order(category="linear", symbol=SYM, side="Sell", orderType="Market",
                         qty="0.1", reduceOnly=True, orderLinkId="close")
        sim.step()
        left = http.get_open_orders(category="linear", symbol=SYM)["result"]["list"]
        assert left == []
        far = http.get_order_history(category="linear", symbol=SYM,
                                     orderId=tps[2]["orderId"])["result"]["list"][0]
        assert far["orderStatus"] == "Deactivated"
        assert priv.wait_for(lambda _: any(
            r["orderId"] == tps[2]["orderId"] and r["orderStatus"] == "Deactivated"
            for r in priv.rows("order")))
        n_bars = entry_bar + 1 + 100 + 1
    finally:
        close_ws(ws)

    # parity: the backtest kernel through the same steps makes the same fills
    levels = [(px, 0.1) for px in prices]
    script = [
        (entry_bar - 1, lambda e: e.submit(OrderRequest(SYM, Side.BUY, 0.3, OrderType.MARKET))),
        (entry_bar, lambda e: e.set_take_profit_levels(levels, limit=True)),
        (entry_bar + 100, lambda e: e.submit(OrderRequest(SYM, Side.SELL, 0.1,
                                                          reduce_only=True))),
    ]
    ref = [_key(f.qty, f.price, f.fee, f.is_maker, f.ts)
           for f in _kernel_fills(sim, script, n_bars)]
    got = [_key(e["execQty"], e["execPrice"], e["execFee"], e["isMaker"], e["execTime"])
           for e in execs + http.get_executions(category="linear", symbol=SYM)[
               "result"]["list"][:1]]
    assert got == ref


def test_market_take_profits_cancel_by_order_id_and_partial_stop_on_the_mark(
        sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    tick = sim.instrument.tick_size
    http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market", qty="0.2")
    sim.step()
    entry_bar = WARM
    prices = _levels(sim, entry_bar + 1)
    for px in prices[1:]:
        http.set_trading_stop(category="linear", symbol=SYM, positionIdx=0, tpslMode="Partial",
                              takeProfit=_grid(px, tick), tpSize="0.1")
    # one kind per position: a limit one beside market ones is refused
    with pytest.raises(InvalidRequestError):
        http.set_trading_stop(category="linear", symbol=SYM, positionIdx=0, tpslMode="Partial",
                              takeProfit=_grid(prices[0], tick), tpSize="0.1",
                              tpOrderType="Limit", tpLimitPrice=_grid(prices[0], tick))
    # a stop of part of the position is refused; of all of it, on the mark, accepted
    lows = [sim.market.bar(i)[3] for i in range(entry_bar + 1, entry_bar + 120)]
    closes = [sim.market.bar(i)[4] for i in range(entry_bar + 1, entry_bar + 120)]
    stop = float(_grid(min(closes[:60]) + 3 * tick, tick))  # the mark (the close) crosses it
    with pytest.raises(InvalidRequestError):
        http.set_trading_stop(category="linear", symbol=SYM, positionIdx=0, tpslMode="Partial",
                              stopLoss=_grid(stop, tick), slSize="0.1")
    http.set_trading_stop(category="linear", symbol=SYM, positionIdx=0, tpslMode="Partial",
                          stopLoss=_grid(stop, tick), slSize="0.2", slTriggerBy="MarkPrice")
    listed = http.get_open_orders(category="linear", symbol=SYM)["result"]["list"]
    kinds = sorted(r["stopOrderType"] for r in listed)
    assert kinds == ["PartialStopLoss", "PartialTakeProfit", "PartialTakeProfit"]
    sl_row = next(r for r in listed if r["stopOrderType"] == "PartialStopLoss")
    assert (sl_row["triggerBy"], sl_row["orderType"], sl_row["qty"]) == (
        "MarkPrice", "Market", "0.2")
    pos = http.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
    assert pos["stopLoss"] == "0" and pos["tpslMode"] == "Partial"
    far = next(r for r in listed if float(r["triggerPrice"]) == prices[2])
    http.cancel_order(category="linear", symbol=SYM, orderId=far["orderId"])
    left = http.get_open_orders(category="linear", symbol=SYM)["result"]["list"]
    assert far["orderId"] not in {r["orderId"] for r in left} and len(left) == 2
    sim.step(110)
    execs = http.get_executions(category="linear", symbol=SYM)["result"]["list"][::-1]
    assert http.get_positions(category="linear", symbol=SYM)["result"]["list"][0]["size"] == "0"
    assert http.get_open_orders(category="linear", symbol=SYM)["result"]["list"] == []
    closing = [e for e in execs if e["stopOrderType"]]
    assert closing and all(e["isMaker"] is False for e in closing)
    for e in closing:
        fee = float(e["execQty"]) * float(e["execPrice"]) * CONFIG.taker_fee
        assert float(e["execFee"]) == pytest.approx(fee, abs=1e-8)

    def stop_on_mark(e: SimExchange) -> None:
        e.set_trading_stop(stop_loss=stop)
        e.set_stop_mode(limit=False, by_mark=True)

    script = [
        (entry_bar - 1, lambda e: e.submit(OrderRequest(SYM, Side.BUY, 0.2, OrderType.MARKET))),
        (entry_bar, lambda e: e.set_take_profit_levels([(prices[1], 0.1)])),
        (entry_bar, stop_on_mark),
    ]
    ref = [_key(f.qty, f.price, f.fee, f.is_maker, f.ts)
           for f in _kernel_fills(sim, script, entry_bar + 1 + 110)]
    assert [_key(e["execQty"], e["execPrice"], e["execFee"], e["isMaker"], e["execTime"])
            for e in execs] == ref
    # a mark-price stop fills at a bar's close (rule 4 D)
    sl_fill = [e for e in execs if e["stopOrderType"] == "PartialStopLoss"]
    assert sl_fill and lows  # the stop fired on the mark, at that bar's close less slippage
    at = {int(sim.market.bar(i)[0]): sim.market.bar(i)[4] for i in range(len(sim.market))}
    assert float(sl_fill[0]["execPrice"]) < at[int(sl_fill[0]["execTime"])]


def test_partial_create_attaches_a_limit_take_profit_at_the_opening_fill(
        sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    tick = sim.instrument.tick_size
    prices = _levels(sim, WARM + 1)
    tp = _grid(prices[0], tick)
    http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market", qty="0.2",
                     tpslMode="Partial", takeProfit=tp, tpOrderType="Limit", tpLimitPrice=tp)
    sim.step()
    listed = http.get_open_orders(category="linear", symbol=SYM)["result"]["list"]
    assert [(r["stopOrderType"], r["triggerPrice"], r["qty"], r["orderType"])
            for r in listed] == [("PartialTakeProfit", tp, "0.2", "Limit")]
    sim.step(20)
    execs = http.get_executions(category="linear", symbol=SYM)["result"]["list"]
    fill = next(e for e in execs if e["stopOrderType"] == "PartialTakeProfit")
    assert fill["isMaker"] is True and fill["execPrice"] == tp
    assert fill["orderId"] == listed[0]["orderId"]


def _venue() -> Venue:
    inst = Instrument(symbol="X", tick_size=0.1, qty_step=0.01)
    venue = Venue(SimConfig(symbol="X", initial_balance=100_000.0), inst)
    nan = float("nan")
    venue.on_bar((0, 100.0, 101.0, 99.0, 100.0, 1.0), nan, nan, 0)
    venue.create({"category": "linear", "symbol": "X", "side": "Buy", "orderType": "Market",
                  "qty": "1"}, 1)
    venue.on_bar((60_000, 100.0, 100.5, 99.5, 100.0, 1.0), nan, nan, 2)
    return venue


def _ts(venue: Venue, **kw: str) -> None:
    venue.trading_stop({"category": "linear", "symbol": "X", **kw}, 3)


def _open(venue: Venue) -> list[str]:
    return sorted(r.stop_order_type for r in venue.orders.values()
                  if r.stop_order_type and not r.order.status.is_terminal)


def test_one_stop_per_position_amend_and_what_cancel_all_and_dcp_leave() -> None:
    venue = _venue()
    _ts(venue, tpslMode="Partial", takeProfit="102", tpSize="0.4")
    _ts(venue, tpslMode="Partial", takeProfit="104", tpSize="0.6")
    _ts(venue, tpslMode="Partial", stopLoss="97", slSize="1", slTriggerBy="MarkPrice")
    assert venue.engine.take_profit_levels() == [(102.0, 0.4), (104.0, 0.6)]
    assert _open(venue) == ["PartialStopLoss", "PartialTakeProfit", "PartialTakeProfit"]
    with pytest.raises(ApiError):  # a Full take-profit beside Partial ones
        _ts(venue, takeProfit="105")
    # amend the Partial stop's trigger: the engine's stop follows
    sl = venue.partial_sl
    assert sl is not None
    venue.amend({"category": "linear", "symbol": "X", "orderId": sl.order.order_id,
                 "triggerPrice": "98"}, 4)
    assert venue.engine.position().stop_loss == 98.0
    assert sl.order.request.trigger_price == 98.0
    # a Full stopLoss replaces the Partial stop (one stop per position)
    _ts(venue, stopLoss="96")
    assert venue.partial_sl is None and sl.order.status.bybit == "Deactivated"
    row = venue.position_row(venue.engine.position())
    assert row["stopLoss"] == "96" and row["tpslMode"] == "Partial"  # the TPs still are
    # DCP and cancel-all StopOrder leave the position's Partial TP/SL; cancel-all takes them
    assert venue.dcp_cancel(5)[0] == []
    venue.cancel_all({"category": "linear", "symbol": "X", "orderFilter": "StopOrder"}, 6)
    assert _open(venue) == ["PartialTakeProfit", "PartialTakeProfit"]
    venue.cancel_all({"category": "linear", "symbol": "X"}, 7)
    assert _open(venue) == [] and venue.engine.take_profit_levels() == []
    assert venue.position_row(venue.engine.position())["tpslMode"] == "Full"
    # with a Full take-profit set, a Partial one is refused until it is cleared
    _ts(venue, takeProfit="103")
    with pytest.raises(ApiError):
        _ts(venue, tpslMode="Partial", takeProfit="104", tpSize="0.5")
    _ts(venue, takeProfit="0")
    _ts(venue, tpslMode="Partial", takeProfit="104", tpSize="0.5")
    assert venue.engine.take_profit_levels() == [(104.0, 0.5)]


def test_a_flip_deactivates_the_old_sides_orders_and_lists_the_new_ones() -> None:
    venue = _venue()  # long 1 at 100
    _ts(venue, tpslMode="Partial", takeProfit="104", tpSize="0.5", tpOrderType="Limit",
        tpLimitPrice="104")
    old = venue.partial_tps[0]
    venue.create({"category": "linear", "symbol": "X", "side": "Sell", "orderType": "Market",
                  "qty": "2", "tpslMode": "Partial", "takeProfit": "95", "tpOrderType": "Limit",
                  "tpLimitPrice": "95"}, 4)
    nan = float("nan")
    venue.on_bar((120_000, 100.0, 100.5, 99.5, 100.0, 1.0), nan, nan, 5)
    pos = venue.engine.position()
    assert pos.side < 0 and pos.size == 1.0
    assert old.order.status.bybit == "Deactivated"
    assert [(r.order.request.trigger_price, r.order.request.qty, r.order.request.side.bybit)
            for r in venue.partial_tps] == [(95.0, 1.0, "Buy")]
    assert venue.engine.take_profit_levels() == [(95.0, 1.0)]
