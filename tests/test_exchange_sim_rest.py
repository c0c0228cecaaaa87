"""REST surface of the exchange simulator: market data, auth, errors, rate limits."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
import requests
from pybit.exceptions import InvalidRequestError

from tests.conftest_exsim import KEY, SECRET, T0, make_server, synthetic_bars
from trade.exchange_sim import ExchangeSimServer, FaultConfig, make_http
from trade.exchange_sim.market import MINUTE_MS


@pytest.fixture(scope="module")
def sim() -> Iterator[ExchangeSimServer]:
    server = make_server(synthetic_bars(3000), warm=2500)
    with server:
        yield server


def signed_post(sim: ExchangeSimServer, path: str, body: bytes, *, key: str = KEY,
                secret: str = SECRET, ts: int | None = None, recv: str = "5000",
                sign_body: bytes | None = None) -> requests.Response:
    stamp = str(ts if ts is not None else time.time_ns() // 1_000_000)
    payload = (stamp + key + recv).encode() + (body if sign_body is None else sign_body)
    sig = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    headers = {"X-BAPI-API-KEY": key, "X-BAPI-SIGN": sig, "X-BAPI-TIMESTAMP": stamp,
               "X-BAPI-RECV-WINDOW": recv, "Content-Type": "application/json"}
    return requests.post(sim.base_url + path, data=body, headers=headers, timeout=10)


def test_kline_pagination_covers_history_exactly(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url)
    bars = sim.market
    visible = sim.fed
    assert visible == 2500
    # Walk backwards with end=oldest-1, like a history downloader.
    got: list[int] = []
    end = int(bars.ts[visible - 1])
    while True:
        res = http.get_kline(category="linear", symbol="BTCUSDT", interval="1",
                             start=int(bars.ts[0]), end=end, limit=1000)["result"]["list"]
        if not res:
            break
        starts = [int(r[0]) for r in res]
        assert starts == sorted(starts, reverse=True)  # newest first
        got.extend(starts)
        end = starts[-1] - 1
    assert sorted(got) == [int(t) for t in bars.ts[:visible]]
    row = http.get_kline(category="linear", symbol="BTCUSDT", interval="1",
                         start=int(bars.ts[10]), limit=1)["result"]["list"][0]
    assert row[0] == str(int(bars.ts[10]))  # start only: the oldest bars from start on
    assert float(row[1]) == pytest.approx(float(bars.open[10]))
    assert all(isinstance(x, str) for x in row) and len(row) == 7


def test_kline_aggregates_higher_intervals(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url)
    m = sim.market
    rows = http.get_kline(category="linear", symbol="BTCUSDT", interval="15",
                          start=T0, end=T0 + 30 * MINUTE_MS, limit=3)["result"]["list"]
    assert [int(r[0]) for r in rows] == [T0 + 30 * MINUTE_MS, T0 + 15 * MINUTE_MS, T0]
    for r in rows:
        i = int((int(r[0]) - T0) // MINUTE_MS)
        seg = slice(i, i + 15)
        assert float(r[1]) == pytest.approx(m.open[i])
        assert float(r[2]) == pytest.approx(m.high[seg].max())
        assert float(r[3]) == pytest.approx(m.low[seg].min())
        assert float(r[4]) == pytest.approx(m.close[i + 14])
        assert float(r[5]) == pytest.approx(m.volume[seg].sum())
    mark = http.get_mark_price_kline(category="linear", symbol="BTCUSDT", interval="1",
                                     limit=2)["result"]["list"]
    assert len(mark) == 2 and len(mark[0]) == 5
    assert int(mark[0][0]) == int(m.ts[sim.fed - 1])  # no look-ahead past the last closed bar


def test_market_endpoints_shapes(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url)
    info = http.get_instruments_info(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert info["lotSizeFilter"]["qtyStep"] == "0.001"
    assert info["priceFilter"]["tickSize"] == "0.1"
    assert info["contractType"] == "LinearPerpetual" and info["fundingInterval"] == 480
    tick = http.get_tickers(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert float(tick["lastPrice"]) == pytest.approx(sim.market.close[sim.fed - 1])
    book = http.get_orderbook(category="linear", symbol="BTCUSDT", limit=5)["result"]
    assert len(book["b"]) == 5 and len(book["a"]) == 5
    assert float(book["b"][0][0]) < float(book["a"][0][0])
    now = http.get_server_time()
    assert abs(int(now["result"]["timeSecond"]) * 1000 - time.time() * 1000) < 5000
    assert set(now) == {"retCode", "retMsg", "result", "retExtInfo", "time"}


def test_funding_history_pages_8h_marks(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url)
    rows = http.get_funding_rate_history(category="linear", symbol="BTCUSDT")["result"]["list"]
    stamps = [int(r["fundingRateTimestamp"]) for r in rows]
    last_close = int(sim.market.ts[sim.fed - 1]) + MINUTE_MS
    expect = list(range(last_close - last_close % (8 * 3_600_000), T0, -8 * 3_600_000))
    assert stamps == expect and stamps
    one = http.get_funding_rate_history(category="linear", symbol="BTCUSDT",
                                        endTime=stamps[0] - 1, limit=1)["result"]["list"]
    assert [int(r["fundingRateTimestamp"]) for r in one] == stamps[1:2]
    with pytest.raises(InvalidRequestError) as err:
        http.get_funding_rate_history(category="linear", symbol="BTCUSDT", startTime=T0)
    assert err.value.status_code == 10001


def test_unknown_symbol_and_interval_are_param_errors(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url)
    for kwargs in ({"symbol": "NOPEUSDT", "interval": "1"}, {"symbol": "BTCUSDT", "interval": "7"}):
        with pytest.raises(InvalidRequestError) as err:
            http.get_kline(category="linear", **kwargs)
        assert err.value.status_code == 10001
    r = requests.get(sim.base_url + "/v5/market/nothing", timeout=5)
    assert r.status_code == 404


def test_auth_refuses_bad_key_signature_and_stale_timestamp(sim: ExchangeSimServer) -> None:
    body = json.dumps({"category": "linear", "symbol": "BTCUSDT", "orderId": "x"}).encode()
    assert signed_post(sim, "/v5/order/cancel", body, key="other").json()["retCode"] == 10003
    assert signed_post(sim, "/v5/order/cancel", body, secret="wrong").json()["retCode"] == 10004
    stale = time.time_ns() // 1_000_000 - 60_000
    assert signed_post(sim, "/v5/order/cancel", body, ts=stale).json()["retCode"] == 10002
    future = time.time_ns() // 1_000_000 + 5_000
    assert signed_post(sim, "/v5/order/cancel", body, ts=future).json()["retCode"] == 10002
    # A correct signature passes auth (and then the order is simply unknown).
    assert signed_post(sim, "/v5/order/cancel", body).json()["retCode"] == 110001


def test_signature_covers_raw_body_bytes(sim: ExchangeSimServer) -> None:
    compact = b'{"category":"linear","symbol":"BTCUSDT","orderId":"x"}'
    spaced = b'{"category": "linear", "symbol": "BTCUSDT", "orderId": "x"}'
    # Signed over the exact bytes sent: accepted, whatever the JSON formatting.
    assert signed_post(sim, "/v5/order/cancel", spaced).json()["retCode"] == 110001
    # Signed over a re-serialised copy of the same JSON: refused.
    assert signed_post(sim, "/v5/order/cancel", spaced,
                       sign_body=compact).json()["retCode"] == 10004


def test_wrong_keys_through_pybit() -> None:
    with make_server(synthetic_bars(50)) as sim:
        bad = make_http(sim.base_url, api_key=KEY, api_secret="nope")
        with pytest.raises(InvalidRequestError) as err:
            bad.get_positions(category="linear", symbol="BTCUSDT")
        assert err.value.status_code == 10004
        unknown = make_http(sim.base_url, api_key="ghost", api_secret=SECRET)
        with pytest.raises(InvalidRequestError) as err:
            unknown.get_wallet_balance(accountType="UNIFIED")
        assert err.value.status_code == 10003


def test_order_errors_use_bybit_codes() -> None:
    with make_server(synthetic_bars(50)) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)

        def code(**kw: object) -> int:
            params = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy",
                      "orderType": "Market", "qty": "0.01"}
            params.update(kw)
            with pytest.raises(InvalidRequestError) as err:
                http.place_order(**params)
            return int(err.value.status_code)

        assert code(symbol="ETHUSDT") == 10001
        assert code(qty="0.0001") == 10001  # below minOrderQty
        assert code(qty="0.0015") == 10001  # not a multiple of qtyStep
        assert code(orderType="Limit", price="100", qty="0.001") == 110094  # below min notional
        assert code(qty="5") == 110007  # needs 150k USDT of margin at 1x
        assert code(reduceOnly=True) == 110017  # nothing to reduce
        http.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                         qty="0.01", price="20000", orderLinkId="dup-1")
        assert code(orderType="Limit", price="20000", orderLinkId="dup-1") == 110072
        with pytest.raises(InvalidRequestError) as err:
            http.cancel_order(category="linear", symbol="BTCUSDT", orderId="no-such-order")
        assert err.value.status_code == 110001
        with pytest.raises(InvalidRequestError) as err:
            http.amend_order(category="linear", symbol="BTCUSDT", orderLinkId="nope", qty="1")
        assert err.value.status_code == 110001


def test_rate_limit_headers_and_10006() -> None:
    with make_server(synthetic_bars(50), rate_limits={"/v5/order/realtime": 3}) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET,
                         return_response_headers=True, retry_codes={-1})
        statuses = []
        for _ in range(3):
            body, _elapsed, headers = http.get_open_orders(category="linear", symbol="BTCUSDT")
            assert body["retCode"] == 0
            assert headers["X-Bapi-Limit"] == "3"
            statuses.append(int(headers["X-Bapi-Limit-Status"]))
        assert statuses == [2, 1, 0]
        with pytest.raises(InvalidRequestError) as err:
            http.get_open_orders(category="linear", symbol="BTCUSDT")
        assert err.value.status_code == 10006
        reset = int(err.value.resp_headers["X-Bapi-Limit-Reset-Timestamp"])
        assert 0 < reset - time.time() * 1000 <= 1100  # when the oldest call leaves the window
        assert err.value.resp_headers["X-Bapi-Limit-Status"] == "0"
        # Other endpoints have their own budget.
        body, _e, headers = http.get_positions(category="linear", symbol="BTCUSDT")
        assert body["retCode"] == 0 and headers["X-Bapi-Limit"] == "50"


def test_clock_skew_fault_trips_the_timestamp_window() -> None:
    with make_server(synthetic_bars(50)) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET, retry_codes={-1})
        assert http.get_positions(category="linear", symbol="BTCUSDT")["retCode"] == 0
        sim.configure_faults(FaultConfig(clock_skew_ms=-30_000))
        with pytest.raises(InvalidRequestError) as err:
            http.get_positions(category="linear", symbol="BTCUSDT")
        assert err.value.status_code == 10002
        skewed = int(http.get_server_time()["result"]["timeSecond"])
        assert skewed * 1000 < time.time() * 1000 - 25_000
