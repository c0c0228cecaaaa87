"""One clock: at real time the replay runs on the wall clock; faster replays report the
market clock, and both ccxt (wall-clock signatures) and clients that copy the server's
time are accepted."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest_exsim import KEY, SECRET, RawClient, synthetic_bars
from trade.exchange_sim import ExchangeSimServer

ccxt = pytest.importorskip("ccxt")
WARM_MIN = 120


def _server(speed: float) -> ExchangeSimServer:
    bars = synthetic_bars(n=600)
    start = int(bars.column("ts")[0].as_py()) + WARM_MIN * 60_000
    return ExchangeSimServer(bars, api_keys={KEY: SECRET}, speed=speed, start_ms=start)


@pytest.fixture()
def realtime() -> Iterator[ExchangeSimServer]:
    with _server(1.0) as server:
        yield server


@pytest.fixture()
def fast() -> Iterator[ExchangeSimServer]:
    with _server(60.0) as server:
        yield server


def _ccxt(sim: ExchangeSimServer) -> object:
    ex = ccxt.bybit({"apiKey": KEY, "secret": SECRET, "options": {"defaultType": "swap"}})
    ex.urls["api"] = {k: sim.base_url for k in ("spot", "futures", "v2", "public", "private")}
    return ex


def test_real_time_replay_runs_on_the_wall_clock(realtime: ExchangeSimServer) -> None:
    sim = realtime
    ex = _ccxt(sim)
    server_ms = ex.fetch_time()
    assert abs(server_ms - time.time() * 1000) < 5_000
    assert sim.wall_shift_ms % 60_000 == 0 and sim.wall_shift_ms > 0
    # the newest closed bar is the one that closed at the current wall-clock minute
    # (the clock read after the bar: a minute may roll over between two requests)
    last_open = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=1)[-1][0]
    after_ms = ex.fetch_time()
    assert 0 <= after_ms - (last_open + 60_000) < 2 * 60_000
    hour = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", since=server_ms - 3_600_000)
    assert len(hour) >= 59  # a bot asking for the last hour gets it
    ex.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, round(hour[-1][4] * 0.9, 1))
    order = ex.fetch_open_orders("BTC/USDT:USDT")[0]
    assert abs(order["timestamp"] - server_ms) < 5_000  # orders carry the same clock


def test_fast_replay_reports_the_market_clock(fast: ExchangeSimServer) -> None:
    sim = fast
    ex = _ccxt(sim)
    server_ms = ex.fetch_time()
    assert abs(server_ms - sim.market_now_ms()) < 60_000 * 2  # market, not wall time
    assert abs(server_ms - time.time() * 1000) > 86_400_000
    hour = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", since=server_ms - 3_600_000)
    assert len(hour) >= 59
    # unmodified ccxt signs with the wall clock: accepted
    assert ex.fetch_balance()["USDT"]["total"] == pytest.approx(10_000.0)


def test_fast_replay_accepts_a_copied_market_clock_and_refuses_others(
        fast: ExchangeSimServer) -> None:
    sim = fast
    raw = RawClient(sim.base_url)
    body = raw.get("/v5/market/time")
    offset = int(body["result"]["timeNano"]) // 1_000_000 - time.time_ns() // 1_000_000

    def signed_with(shift: int) -> int:
        raw.shift_ms = shift
        return int(raw.get("/v5/position/list", category="linear", symbol="BTCUSDT")["retCode"])

    assert signed_with(0) == 0  # the wall clock
    assert signed_with(offset) == 0  # a client that copied /v5/market/time
    assert signed_with(offset - 86_400_000) == 10002  # neither clock
    assert signed_with(60_000) == 10002  # a minute ahead of the wall clock
