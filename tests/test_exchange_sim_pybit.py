"""Unmodified pybit trades against the simulator: orders, fills, every private stream."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.conftest_exsim import (
    KEY,
    SECRET,
    Collector,
    close_ws,
    es_bars,
    make_server,
    synthetic_bars,
    ws_kwargs,
)
from trade.core import OrderRequest, OrderType, Side
from trade.exchange_sim import ExchangeSimServer, make_http, make_websocket
from trade.sim import SimConfig, SimExchange

SYMBOL = "ESUSDT"
CONFIG = SimConfig(symbol=SYMBOL, initial_balance=10_000.0, leverage=2.0, slippage=0.0002)
WARM = 30


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server(es_bars(), warm=WARM, symbol=SYMBOL, sim_config=CONFIG) as server:
        yield server


def _by_status(col: Collector, link: str, status: str) -> bool:
    return any(r["orderLinkId"] == link and r["orderStatus"] == status for r in col.rows("order"))


def test_market_order_fills_at_next_open_like_the_backtest_kernel(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    priv = Collector()
    ws = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET, **ws_kwargs())
    try:
        ws.order_stream(priv)
        ws.execution_stream(priv)
        ws.position_stream(priv)
        ws.wallet_stream(priv)
        # Wait until the server has activated the four subscriptions.
        assert _wait_subscribed(sim, 4)
        res = http.place_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Market",
                               qty="0.5", orderLinkId="mkt-1")
        assert res["retCode"] == 0 and res["result"]["orderLinkId"] == "mkt-1"
        assert priv.wait_for(lambda _: _by_status(priv, "mkt-1", "New"))
        assert not priv.rows("execution")  # nothing fills on the bar that decided it
        assert sim.step() == 1
        assert priv.wait_for(lambda _: _by_status(priv, "mkt-1", "Filled"))
        assert priv.wait_for(lambda _: bool(priv.rows("position")) and bool(priv.rows("wallet")))
        fill = priv.rows("execution")[0]

        # The same order through the backtest kernel directly: identical fill.
        ref = SimExchange(replace(CONFIG, tick_size=sim.instrument.tick_size))
        for i in range(WARM):
            ref.on_bar(*sim.market.bar(i))
        ref.submit(OrderRequest(SYMBOL, Side.BUY, 0.5, OrderType.MARKET))
        ref.on_bar(*sim.market.bar(WARM))
        ref_fill = next(e.fill for e in ref.drain_events() if hasattr(e, "fill"))
        assert float(fill["execPrice"]) == pytest.approx(ref_fill.price, rel=1e-12)
        # the open moved 2 bps against the buyer, then up onto the 0.1 tick grid
        tick = sim.instrument.tick_size
        expected = math.ceil(sim.market.open[WARM] * 1.0002 / tick - 1e-9) * tick
        assert float(fill["execPrice"]) == pytest.approx(expected, abs=1e-9)
        assert round(float(fill["execPrice"]) / tick, 9).is_integer()
        assert fill["execFee"] == f"{ref_fill.fee:.8f}".rstrip("0")  # USDT at 8 decimals, as Bybit
        assert fill["execQty"] == "0.5" and fill["side"] == "Buy" and fill["isMaker"] is False
        assert int(fill["execTime"]) == int(sim.market.ts[WARM])

        pos = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
        assert pos["side"] == "Buy" and pos["size"] == "0.5" and pos["leverage"] == "2"
        assert float(pos["avgPrice"]) == pytest.approx(ref_fill.price)
        ws_pos = priv.rows("position")[-1]
        assert ws_pos["size"] == pos["size"] and ws_pos["entryPrice"] == pos["avgPrice"]
        wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
        assert float(wallet["totalWalletBalance"]) == pytest.approx(10_000 - ref_fill.fee)
        execs = http.get_executions(category="linear", symbol=SYMBOL)["result"]["list"]
        assert [e["execId"] for e in execs] == [fill["execId"]]
        hist = http.get_order_history(category="linear", symbol=SYMBOL,
                                      orderLinkId="mkt-1")["result"]["list"]
        assert hist[0]["orderStatus"] == "Filled" and hist[0]["cumExecQty"] == "0.5"

        # Close it with a reduce-only market order; a reduce-only that would add is refused.
        http.set_trading_stop(category="linear", symbol=SYMBOL, stopLoss="1500", positionIdx=0)
        assert priv.wait_for(lambda _: priv.rows("position")[-1]["stopLoss"] == "1500")
        http.place_order(category="linear", symbol=SYMBOL, side="Sell", orderType="Market",
                         qty="0.5", reduceOnly=True, orderLinkId="close-1")
        sim.step()
        assert priv.wait_for(lambda _: _by_status(priv, "close-1", "Filled"))
        assert priv.wait_for(lambda _: priv.rows("position")[-1]["size"] == "0")
        flat = http.get_positions(category="linear", symbol=SYMBOL)["result"]["list"][0]
        assert flat["size"] == "0" and flat["side"] == ""
    finally:
        close_ws(ws)


def _wait_subscribed(sim: ExchangeSimServer, n: int) -> bool:
    import threading

    done = threading.Event()
    for _ in range(200):
        conns = sim._conns.values()
        if sum(len(c.topics) for c in list(conns) if c.kind == "private") >= n:
            return True
        done.wait(0.01)
    return False


def test_limit_amend_cancel_and_conditional_lifecycle(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    priv = Collector()
    ws = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET, **ws_kwargs())
    try:
        ws.order_stream(priv)
        assert _wait_subscribed(sim, 1)
        last = float(sim.market.close[WARM - 1])
        low = round(last * 0.9, 1)
        r = http.place_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Limit",
                             qty="0.2", price=str(low), orderLinkId="lim-1")
        oid = r["result"]["orderId"]
        assert priv.wait_for(lambda _: _by_status(priv, "lim-1", "New"))
        open_orders = http.get_open_orders(category="linear", symbol=SYMBOL)["result"]["list"]
        assert [o["orderId"] for o in open_orders] == [oid]
        assert open_orders[0]["price"] == str(low) and open_orders[0]["leavesQty"] == "0.2"

        http.amend_order(category="linear", symbol=SYMBOL, orderId=oid, price=str(low - 1))
        assert priv.wait_for(
            lambda _: any(o["price"] == str(low - 1) for o in priv.rows("order"))
        )
        http.cancel_order(category="linear", symbol=SYMBOL, orderLinkId="lim-1")
        assert priv.wait_for(lambda _: _by_status(priv, "lim-1", "Cancelled"))
        assert http.get_open_orders(category="linear", symbol=SYMBOL)["result"]["list"] == []
        one = http.get_open_orders(category="linear", symbol=SYMBOL, orderId=oid)
        assert one["result"]["list"][0]["orderStatus"] == "Cancelled"

        # A conditional (stop) order waits Untriggered; cancel-all deactivates it.
        http.place_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Market",
                         qty="0.1", triggerPrice=str(round(last * 1.2, 1)), triggerDirection=1,
                         orderLinkId="stop-1")
        assert priv.wait_for(lambda _: _by_status(priv, "stop-1", "Untriggered"))
        row = next(o for o in priv.rows("order") if o["orderLinkId"] == "stop-1")
        assert row["stopOrderType"] == "Stop" and row["triggerDirection"] == 1
        res = http.cancel_all_orders(category="linear", symbol=SYMBOL)["result"]
        assert [o["orderLinkId"] for o in res["list"]] == ["stop-1"]
        assert priv.wait_for(lambda _: _by_status(priv, "stop-1", "Deactivated"))
    finally:
        close_ws(ws)


def test_public_streams_follow_the_replay(sim: ExchangeSimServer) -> None:
    pub = Collector()
    ws = make_websocket(sim.ws_base, "linear", **ws_kwargs())
    try:
        ws.kline_stream(1, SYMBOL, pub)
        ws.kline_stream(5, SYMBOL, pub)
        ws.ticker_stream(SYMBOL, pub)
        ws.trade_stream(SYMBOL, pub)
        assert pub.wait_for(lambda items: any(m["topic"].startswith("tickers") for m in items))
        sim.step(5)
        assert pub.wait_for(lambda _: len(pub.rows(f"kline.1.{SYMBOL}")) == 5)
        k1 = pub.rows(f"kline.1.{SYMBOL}")
        assert [k["start"] for k in k1] == [int(t) for t in sim.market.ts[WARM : WARM + 5]]
        assert all(k["confirm"] is True for k in k1)
        assert float(k1[0]["open"]) == sim.market.open[WARM]
        assert pub.wait_for(lambda _: len(pub.rows(f"kline.5.{SYMBOL}")) == 5)
        k5 = pub.rows(f"kline.5.{SYMBOL}")
        closes = [int(k["start"]) + 300_000 == int(t) + 60_000
                  for k, t in zip(k5, sim.market.ts[WARM : WARM + 5], strict=True)]
        assert [k["confirm"] for k in k5] == closes
        assert pub.wait_for(lambda _: len(pub.rows(f"publicTrade.{SYMBOL}")) == 5)
        assert pub.wait_for(
            lambda items: sum(m["topic"] == f"tickers.{SYMBOL}" for m in items) == 6
        )
        tick = [m for m in pub.snapshot() if m["topic"] == f"tickers.{SYMBOL}"][-1]["data"]
        assert float(tick["lastPrice"]) == sim.market.close[WARM + 4]
        assert not math.isnan(float(tick["fundingRate"]))
    finally:
        close_ws(ws)


def test_pybit_session_over_the_account_endpoints() -> None:
    """pybit's own methods for every endpoint added for ccxt: one session, one wallet."""
    from pybit.exceptions import InvalidRequestError

    with make_server(synthetic_bars(n=600), warm=490,
                     sim_config=SimConfig(symbol="BTCUSDT", initial_balance=10_000.0)) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
        s = "BTCUSDT"
        assert http.get_api_key_information()["result"]["uta"] == 1
        assert http.get_account_info()["result"]["marginMode"] == "ISOLATED_MARGIN"
        assert [r["coin"] for r in http.get_coin_info()["result"]["rows"]] == ["USDT", "BTC"]
        fees = http.get_fee_rates(category="linear", symbol=s)["result"]["list"][0]
        assert (fees["takerFeeRate"], fees["makerFeeRate"]) == ("0.00055", "0.0002")
        book = http.get_orderbook(category="linear", symbol=s, limit=50)["result"]
        assert len(book["b"]) == len(book["a"]) == 50
        trades = http.get_public_trade_history(category="linear", symbol=s, limit=3)
        assert len(trades["result"]["list"]) == 3
        assert http.set_margin_mode(setMarginMode="ISOLATED_MARGIN")["retCode"] == 0
        with pytest.raises(InvalidRequestError) as err:
            http.switch_position_mode(category="linear", symbol=s, mode=0)
        assert err.value.status_code == 110025
        assert http.set_tp_sl_mode(category="linear", symbol=s, tpSlMode="Full")["retCode"] == 0
        http.set_leverage(category="linear", symbol=s, buyLeverage="2", sellLeverage="2")
        batch = http.place_batch_order(category="linear", request=[
            {"symbol": s, "side": "Buy", "orderType": "Market", "qty": "0.05"},
            {"symbol": s, "side": "Buy", "orderType": "Limit", "qty": "0.01",
             "price": "1000", "orderLinkId": "far-1"}])
        assert [c["code"] for c in batch["retExtInfo"]["list"]] == [0, 0]
        sim.step()
        # leverage with the position open
        http.set_leverage(category="linear", symbol=s, buyLeverage="4", sellLeverage="4")
        pos = http.get_positions(category="linear", symbol=s)["result"]["list"][0]
        assert (pos["size"], pos["leverage"]) == ("0.05", "4")
        amend = http.amend_batch_order(category="linear", request=[
            {"symbol": s, "orderLinkId": "far-1", "price": "1100"}])
        assert amend["retExtInfo"]["list"][0]["code"] == 0
        cancel = http.cancel_batch_order(category="linear", request=[
            {"symbol": s, "orderLinkId": "far-1"}])
        assert cancel["retExtInfo"]["list"][0]["code"] == 0
        http.place_order(category="linear", symbol=s, side="Sell", orderType="Market",
                         qty="0", reduceOnly=True, closeOnTrigger=True)
        sim.step()
        closed = http.get_closed_pnl(category="linear", symbol=s)["result"]["list"]
        assert len(closed) == 1 and closed[0]["closedSize"] == "0.05"
        log = http.get_transaction_log(accountType="UNIFIED", category="linear",
                                       currency="USDT")["result"]["list"]
        assert [r["type"] for r in log] == ["TRADE", "TRADE"]
        wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
        assert float(log[0]["cashBalance"]) == pytest.approx(
            float(wallet["totalWalletBalance"]), abs=1e-8)
