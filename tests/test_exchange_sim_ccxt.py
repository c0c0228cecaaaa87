"""Unmodified ccxt (`bybit`, and `ccxt.pro` streams) runs a whole session against the
simulator, configured only with keys and the simulator's URLs (127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from trade.exchange_sim import ExchangeSimServer

ccxt = pytest.importorskip("ccxt")
ccxtpro = pytest.importorskip("ccxt.pro")

SYM = "BTC/USDT:USDT"
WARM = 490  # past the first 8h funding mark after the first bar


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server(synthetic_bars(n=600), warm=WARM) as server:
        yield server


def _urls(sim: ExchangeSimServer) -> dict[str, Any]:
    """Every REST and WebSocket URL ccxt knows for Bybit, pointed at the simulator."""
    rest = {k: sim.base_url for k in ("spot", "futures", "v2", "public", "private")}
    public = {k: sim.ws_public_url for k in ("spot", "inverse", "option", "linear")}
    private = {"spot": {"unified": sim.ws_private_url, "nonUnified": sim.ws_private_url},
               "contract": sim.ws_private_url, "usdc": sim.ws_private_url,
               "trade": f"{sim.ws_base}/v5/trade"}
    return {**rest, "ws": {"public": public, "private": private}}


def _exchange(cls: Any, sim: ExchangeSimServer) -> Any:
    ex = cls({"apiKey": KEY, "secret": SECRET, "options": {"defaultType": "swap"}})
    ex.urls["api"] = _urls(sim)
    return ex


def test_ccxt_default_path_whole_session(sim: ExchangeSimServer) -> None:
    ex = _exchange(ccxt.bybit, sim)
    # markets: load_markets asks coin info, spot/linear/inverse/option instruments, the key
    markets = ex.load_markets()
    assert list(markets) == [SYM]
    market = markets[SYM]
    assert market["precision"]["price"] == 0.1 and market["limits"]["amount"]["min"] == 0.001
    last_close = float(sim.market.close[WARM - 1])

    ticker = ex.fetch_ticker(SYM)
    assert ticker["last"] == pytest.approx(last_close)
    assert ticker["bid"] < ticker["ask"] and ticker["ask"] - ticker["bid"] == pytest.approx(0.1)
    book = ex.fetch_order_book(SYM, 50)
    assert len(book["bids"]) == len(book["asks"]) == 50
    assert book["bids"][0][0] == ticker["bid"] and book["asks"][0][0] == ticker["ask"]
    assert book["bids"][-1][1] > book["bids"][0][1]  # depth grows away from the touch
    trades = ex.fetch_trades(SYM, limit=5)
    assert len(trades) == 5 and trades[-1]["price"] == pytest.approx(last_close)
    ohlcv = ex.fetch_ohlcv(SYM, "1m", limit=5)
    assert [c[0] for c in ohlcv] == [int(sim.market.ts[i]) for i in range(WARM - 5, WARM)]
    assert ex.fetch_funding_rate(SYM)["symbol"] == SYM
    assert len(ex.fetch_funding_rate_history(SYM)) == 1  # the one 8h mark replayed so far

    balance = ex.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(10_000.0)
    fee = ex.fetch_trading_fee(SYM)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.00055)
    assert ex.fetch_margin_mode(SYM)["marginMode"] == "isolated"
    assert ex.fetch_leverage(SYM)["longLeverage"] == 1
    ex.set_leverage(3, SYM)
    assert ex.fetch_leverage(SYM)["longLeverage"] == 3

    # market order with TP/SL: filled at the next bar's open
    entry = ex.create_order(SYM, "market", "buy", 0.02, None,
                            {"takeProfit": round(last_close * 1.5, 1),
                             "stopLoss": round(last_close * 0.5, 1)})
    assert sim.step() == 1
    filled = ex.fetch_closed_order(entry["id"], SYM)
    assert filled["status"] == "closed" and filled["filled"] == 0.02
    positions = ex.fetch_positions([SYM])
    assert len(positions) == 1 and positions[0]["side"] == "long"
    assert positions[0]["contracts"] == 0.02
    assert positions[0]["takeProfitPrice"] == round(last_close * 1.5, 1)
    # leverage with the position open: allowed when the margin suffices, as on Bybit
    ex.set_leverage(5, SYM)
    assert ex.fetch_leverage(SYM)["longLeverage"] == 5
    after = ex.fetch_positions([SYM])[0]
    assert after["contracts"] == 0.02 and after["entryPrice"] == positions[0]["entryPrice"]
    assert after["initialMargin"] == pytest.approx(positions[0]["initialMargin"] * 3 / 5)

    limit = ex.create_order(SYM, "limit", "buy", 0.01, round(last_close * 0.8, 1))
    cond = ex.create_order(SYM, "market", "buy", 0.01, None,
                           {"triggerPrice": round(last_close * 1.3, 1),
                            "triggerDirection": "above"})
    assert {o["id"] for o in ex.fetch_open_orders(SYM)} == {limit["id"], cond["id"]}
    amended = ex.edit_order(limit["id"], SYM, "limit", "buy", 0.02, round(last_close * 0.7, 1))
    assert amended["id"] == limit["id"]
    open_limit = ex.fetch_open_order(limit["id"], SYM)
    assert (open_limit["amount"], open_limit["price"]) == (0.02, round(last_close * 0.7, 1))
    ex.cancel_order(limit["id"], SYM)
    ex.cancel_order(cond["id"], SYM)
    assert ex.fetch_open_orders(SYM) == []

    my_trades = ex.fetch_my_trades(SYM)
    assert [t["order"] for t in my_trades] == [entry["id"]]
    closed = ex.fetch_closed_orders(SYM)
    assert entry["id"] in {o["id"] for o in closed}
    canceled = ex.fetch_canceled_orders(SYM)
    assert limit["id"] in {o["id"] for o in canceled}
    # an untriggered conditional order that is cancelled ends Deactivated, as on Bybit
    statuses = {o["id"]: o["info"]["orderStatus"] for o in ex.fetch_canceled_and_closed_orders(SYM)}
    assert statuses[cond["id"]] == "Deactivated"

    # close with reduce-only
    ex.create_order(SYM, "market", "sell", 0.02, None, {"reduceOnly": True})
    assert sim.step() == 1
    assert ex.fetch_positions([SYM])[0]["contracts"] in (0, None)
    ledger = ex.fetch_ledger("USDT")
    assert len(ledger) == 2 and all(e["currency"] == "USDT" for e in ledger)
    after = ex.fetch_balance()["USDT"]["total"]
    assert after == pytest.approx(10_000.0 + sum(e["amount"] * (1 if e["direction"] == "in"
                                                                 else -1) for e in ledger))
    # reduce-only with nothing to reduce: Bybit's 110017 (ccxt: InvalidOrder)
    with pytest.raises(ccxt.InvalidOrder):
        ex.create_order(SYM, "market", "sell", 0.01, None, {"reduceOnly": True})


def test_ccxt_pro_streams(sim: ExchangeSimServer) -> None:
    async def session() -> dict[str, Any]:
        ex = _exchange(ccxtpro.bybit, sim)
        out: dict[str, Any] = {}
        try:
            await ex.load_markets()
            out["book"] = await asyncio.wait_for(ex.watch_order_book(SYM), 10)
            out["ticker"] = await asyncio.wait_for(ex.watch_ticker(SYM), 10)
            # ccxt's first watch_positions answers with the REST snapshot (position/list)
            out["snapshot"] = await asyncio.wait_for(ex.watch_positions([SYM]), 10)
            ohlcv = asyncio.ensure_future(ex.watch_ohlcv(SYM, "1m"))
            orders = asyncio.ensure_future(ex.watch_orders(SYM))
            positions = asyncio.ensure_future(ex.watch_positions([SYM]))
            for _ in range(200):
                if await asyncio.to_thread(_subscribed, sim):
                    break
                await asyncio.sleep(0.05)
            await ex.create_order(SYM, "market", "buy", 0.01)
            await asyncio.to_thread(sim.step)
            out["ohlcv"] = await asyncio.wait_for(ohlcv, 10)
            out["orders"] = await asyncio.wait_for(orders, 10)
            out["positions"] = await asyncio.wait_for(positions, 10)
        finally:
            await ex.close()
        return out

    out = asyncio.run(session())
    assert out["snapshot"][0]["contracts"] in (0, None)
    assert out["book"]["bids"][0][0] < out["book"]["asks"][0][0]
    assert out["ticker"]["last"] == pytest.approx(float(sim.market.close[WARM - 1]))
    assert out["ohlcv"][-1][0] == int(sim.market.ts[WARM])
    assert out["orders"][0]["symbol"] == SYM
    assert out["positions"][0]["symbol"] == SYM


def _subscribed(sim: ExchangeSimServer) -> bool:
    """The private topics ccxt subscribes to (order, position) are active on the server."""
    topics = sim.inspect(lambda _v: [set(c.topics) for c in sim._conns.values()
                                     if c.kind == "private"])
    return any({"order", "position"} <= t for t in topics)
