"""Every order parameter the simulator accepts is honoured or refused with Bybit's code;
batch endpoints answer per item; numbers are on the instrument's grid."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest_exsim import RawClient, make_server, synthetic_bars
from trade.exchange_sim import ExchangeSimServer
from trade.sim import SimConfig

S = "BTCUSDT"


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    with make_server(synthetic_bars(n=200), warm=20,
                     rate_limits={"/v5/order/create": 1000}) as server:
        yield server


def _create(raw: RawClient, **kw: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"category": "linear", "symbol": S, "side": "Buy",
                              "orderType": "Limit", "qty": "0.01", "price": "20000"}
    params.update(kw)
    return raw.post("/v5/order/create", **params)


@pytest.mark.parametrize("extra", [
    {"positionIdx": 1}, {"positionIdx": 2}, {"positionIdx": 7},
    {"tpslMode": "Sometimes", "takeProfit": "40000"},
    {"tpslMode": "Partial", "takeProfit": "40000", "tpOrderType": "Limit",
     "tpLimitPrice": "39990"},  # the kernel places the limit at the trigger price
    {"tpslMode": "Partial", "takeProfit": "40000", "tpOrderType": "Limit"},
    {"takeProfit": "40000", "tpOrderType": "Limit", "tpLimitPrice": "39990"},
    {"takeProfit": "40000", "tpTriggerBy": "MarkPrice"},
    {"stopLoss": "15000", "slTriggerBy": "IndexPrice"},
    {"orderLinkId": "has space"}, {"orderLinkId": "semi;colon"}, {"orderLinkId": "x" * 37},
    {"smpType": "CancelMaker"},
])
def test_unsupported_options_are_refused_not_ignored(sim: ExchangeSimServer,
                                                      extra: dict[str, Any]) -> None:
    raw = RawClient(sim.base_url)
    body = _create(raw, **extra)
    assert body["retCode"] == 10001, body
    assert raw.get("/v5/order/realtime", category="linear", symbol=S)["result"]["list"] == []


def test_supported_spellings_are_accepted(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    body = _create(raw, positionIdx=0, tpslMode="Full", takeProfit="40000",
                   tpTriggerBy="LastPrice", tpOrderType="Market", orderLinkId="Ok_link-1")
    assert body["retCode"] == 0, body


def test_qty_zero_reduce_only_closes_the_whole_position(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    assert _create(raw, orderType="Market", qty="0", reduceOnly=True,
                   closeOnTrigger=True)["retCode"] == 110017  # nothing to close
    assert _create(raw, orderType="Market", qty="0.03")["retCode"] == 0
    sim.step()
    assert _create(raw, side="Sell", orderType="Market", qty="0", reduceOnly=True,
                   closeOnTrigger=True)["retCode"] == 0
    sim.step()
    pos = raw.get("/v5/position/list", category="linear", symbol=S)["result"]["list"][0]
    assert pos["size"] == "0"
    assert _create(raw, qty="0")["retCode"] == 10001  # an opening order needs a quantity


def test_active_and_conditional_order_limits(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    for _ in range(10):
        assert _create(raw, orderType="Market", triggerPrice="40000",
                       triggerDirection=1)["retCode"] == 0
    assert _create(raw, orderType="Market", triggerPrice="40000",
                   triggerDirection=1)["retCode"] == 110009
    sim.inspect(lambda v: [v.engine.submit(_limit_request()) for _ in range(500)])
    assert _create(raw)["retCode"] == 110020


def _limit_request() -> Any:
    from trade.core import OrderRequest, OrderType, Side

    return OrderRequest(symbol=S, side=Side.BUY, qty=0.001, order_type=OrderType.LIMIT,
                        price=10000.0)


def test_batch_place_amend_cancel(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    orders = [{"symbol": S, "side": "Buy", "orderType": "Limit", "qty": "0.01",
               "price": str(20000 + k), "orderLinkId": f"b-{k}"} for k in range(3)]
    orders.append({"symbol": S, "side": "Buy", "orderType": "Limit", "qty": "0.01",
                   "price": "20000", "orderLinkId": "b-0"})  # duplicate link id
    body = raw.post("/v5/order/create-batch", category="linear", request=orders)
    assert body["retCode"] == 0
    codes = [c["code"] for c in body["retExtInfo"]["list"]]
    assert codes == [0, 0, 0, 110072]
    made = body["result"]["list"]
    assert [m["orderLinkId"] for m in made] == ["b-0", "b-1", "b-2", "b-0"]
    assert all(m["orderId"] for m in made[:3]) and made[3]["orderId"] == ""
    body = raw.post("/v5/order/amend-batch", category="linear", request=[
        {"symbol": S, "orderLinkId": "b-0", "price": "19000"},
        {"symbol": S, "orderId": "nope", "price": "19000"}])
    assert [c["code"] for c in body["retExtInfo"]["list"]] == [0, 110001]
    body = raw.post("/v5/order/cancel-batch", category="linear", request=[
        {"symbol": S, "orderLinkId": f"b-{k}"} for k in range(3)])
    assert [c["code"] for c in body["retExtInfo"]["list"]] == [0, 0, 0]
    assert raw.get("/v5/order/realtime", category="linear", symbol=S)["result"]["list"] == []
    too_many = raw.post("/v5/order/create-batch", category="linear", request=orders * 3)
    assert too_many["retCode"] == 10001


def test_one_instrument_type_from_the_store_to_instruments_info() -> None:
    from trade.core import InputError
    from trade.core.instrument import Instrument
    from trade.data.schema import Instrument as StoreInstrument

    assert StoreInstrument is Instrument  # the store keeps the very type the simulator serves
    inst = Instrument(symbol="ETHUSDT", tick_size=0.01, qty_step=0.01, min_qty=0.01,
                      min_notional=5.0, max_leverage=50.0)
    assert (inst.symbol, inst.base_coin, inst.tick_size, inst.price_scale) == \
        ("ETHUSDT", "ETH", 0.01, 2)
    with pytest.raises(InputError, match="tick_size"):
        Instrument(tick_size=0.0)
    bars = synthetic_bars(n=30, price=2_000.0)
    config = SimConfig(symbol="ETHUSDT")
    with make_server(bars, warm=5, symbol="ETHUSDT", instrument=inst, sim_config=config) as sim:
        raw = RawClient(sim.base_url)
        info = raw.get("/v5/market/instruments-info", category="linear")["result"]["list"][0]
        assert info["priceScale"] == "2" and info["priceFilter"]["tickSize"] == "0.01"
        assert info["lotSizeFilter"]["qtyStep"] == "0.01"
        assert info["leverageFilter"]["maxLeverage"] == "50"
        book = raw.get("/v5/market/orderbook", category="linear", symbol="ETHUSDT",
                       limit=5)["result"]
        assert all(len(px.partition(".")[2]) <= 2 for px, _ in book["b"] + book["a"])


def test_open_interest_from_the_bars_column() -> None:
    import pyarrow as pa

    bars = synthetic_bars(n=120)
    oi = pa.array([1_000.0 + k for k in range(120)])
    bars = bars.append_column("open_interest", oi)
    with make_server(bars, warm=61) as sim:
        raw = RawClient(sim.base_url)
        body = raw.get("/v5/market/open-interest", category="linear", symbol=S,
                       intervalTime="15min", limit=3)
        rows = body["result"]["list"]
        first = int(sim.market.ts[0])
        # marks every 15 min up to the last close (bar 60 closes at first + 61 min)
        marks = [t for t in range(first + 60_000, first + 61 * 60_000 + 1, 60_000)
                 if t % 900_000 == 0]
        want = sorted(marks, reverse=True)[:3]
        assert [int(r["timestamp"]) for r in rows] == want
        for r in rows:
            k = (int(r["timestamp"]) - 60_000 - first) // 60_000
            assert r["openInterest"] == str(int(1_000 + k))
        assert body["result"]["nextPageCursor"]  # more marks before
        bad = raw.get("/v5/market/open-interest", category="linear", symbol=S,
                      intervalTime="2min")
        assert bad["retCode"] == 10001
    with make_server(synthetic_bars(n=30), warm=5) as sim:
        body = RawClient(sim.base_url).get("/v5/market/open-interest", category="linear",
                                           symbol=S, intervalTime="5min")
        assert body["retCode"] == 0 and body["result"]["list"] == []  # no such column
