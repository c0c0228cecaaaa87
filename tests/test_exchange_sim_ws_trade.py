"""Order entry over WebSocket (/v5/trade): a raw client and ccxt.pro's *_ws methods."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from trade.exchange_sim import ExchangeSimServer
from trade.exchange_sim.protocol import ws_auth_signature

S = "BTCUSDT"


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server(synthetic_bars(n=100), warm=10) as server:
        yield server


def _ask(ws: websocket.WebSocket, msg: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(msg))
    out: dict[str, Any] = json.loads(ws.recv())
    return out


def _header() -> dict[str, str]:
    return {"X-BAPI-TIMESTAMP": str(time.time_ns() // 1_000_000), "X-BAPI-RECV-WINDOW": "5000"}


def test_raw_ws_order_entry(sim: ExchangeSimServer) -> None:
    ws = websocket.create_connection(sim.ws_trade_url, timeout=10)
    try:
        order = {"category": "linear", "symbol": S, "side": "Buy", "orderType": "Limit",
                 "qty": "0.01", "price": "20000", "orderLinkId": "ws-1"}
        refused = _ask(ws, {"reqId": "r0", "header": _header(), "op": "order.create",
                            "args": [order]})
        assert refused["retCode"] == 10003  # not authenticated yet
        expires = time.time_ns() // 1_000_000 + 10_000
        auth = _ask(ws, {"op": "auth", "args": [KEY, expires, ws_auth_signature(SECRET,
                                                                                expires)]})
        assert auth["retCode"] == 0 and auth["op"] == "auth"
        assert _ask(ws, {"op": "auth", "args": [KEY, expires, "x"]})["retCode"] == 20001
        pong = _ask(ws, {"op": "ping"})
        assert pong["op"] == "pong" and pong["retCode"] == 0
        made = _ask(ws, {"reqId": "r1", "header": _header(), "op": "order.create",
                         "args": [order]})
        assert made["retCode"] == 0 and made["reqId"] == "r1"
        assert made["data"]["orderLinkId"] == "ws-1" and made["data"]["orderId"]
        assert made["header"]["X-Bapi-Limit"] == "10"
        again = _ask(ws, {"reqId": "r1", "header": _header(), "op": "order.create",
                          "args": [order]})
        assert again["retCode"] == 20006  # reqId is duplicated
        dup = _ask(ws, {"reqId": "r2", "header": _header(), "op": "order.create",
                        "args": [order]})
        assert dup["retCode"] == 110072  # the REST endpoint's own codes
        amended = _ask(ws, {"reqId": "r3", "header": _header(), "op": "order.amend",
                            "args": [{"category": "linear", "symbol": S, "orderLinkId": "ws-1",
                                      "price": "19000"}]})
        assert amended["retCode"] == 0
        rows = sim.inspect(lambda v: [(r.order.order_link_id, r.order.request.price)
                                      for r in v.orders.values()])
        assert rows == [("ws-1", 19000.0)]
        stale = {"X-BAPI-TIMESTAMP": str(time.time_ns() // 1_000_000 - 60_000)}
        assert _ask(ws, {"reqId": "r4", "header": stale, "op": "order.cancel",
                         "args": [{"category": "linear", "symbol": S,
                                   "orderLinkId": "ws-1"}]})["retCode"] == 10002
        assert _ask(ws, {"reqId": "r5", "header": _header(), "op": "order.cancel",
                         "args": [{"category": "spot", "symbol": S,
                                   "orderLinkId": "ws-1"}]})["retCode"] == 10404
        done = _ask(ws, {"reqId": "r6", "header": _header(), "op": "order.cancel",
                         "args": [{"category": "linear", "symbol": S, "orderLinkId": "ws-1"}]})
        assert done["retCode"] == 0
        assert _ask(ws, {"op": "order.nothing", "header": _header()})["retCode"] == 10404
    finally:
        ws.close()


def test_ccxt_pro_order_entry_over_websocket(sim: ExchangeSimServer) -> None:
    ccxtpro = pytest.importorskip("ccxt.pro")

    async def session() -> tuple[Any, Any, Any]:
        ex = ccxtpro.bybit({"apiKey": KEY, "secret": SECRET,
                            "options": {"defaultType": "swap"}})
        ex.urls["api"] = {k: sim.base_url for k in ("spot", "futures", "v2", "public",
                                                    "private")}
        ex.urls["api"]["ws"] = {
            "public": {k: sim.ws_public_url for k in ("spot", "inverse", "option", "linear")},
            "private": {"spot": {"unified": sim.ws_private_url,
                                 "nonUnified": sim.ws_private_url},
                        "contract": sim.ws_private_url, "usdc": sim.ws_private_url,
                        "trade": sim.ws_trade_url}}
        try:
            await ex.load_markets()
            made = await ex.create_order_ws("BTC/USDT:USDT", "limit", "buy", 0.01, 20000)
            edited = await ex.edit_order_ws(made["id"], "BTC/USDT:USDT", "limit", "buy", 0.01,
                                            19000)
            cancelled = await ex.cancel_order_ws(made["id"], "BTC/USDT:USDT")
            return made, edited, cancelled
        finally:
            await ex.close()

    made, edited, cancelled = asyncio.run(session())
    assert made["id"] and edited["id"] == made["id"] and cancelled["id"] == made["id"]
    statuses = sim.inspect(lambda v: [r.order.status.bybit for r in v.orders.values()])
    assert statuses == ["Cancelled"]
