"""Several symbols on one server: one USDT wallet, each symbol's position margined from it,
wallet and position endpoints listing them all (pybit, as a client would)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
import requests
from pybit.exceptions import InvalidRequestError

from tests.conftest_exsim import KEY, SECRET, Collector, close_ws, synthetic_bars, ws_kwargs
from trade.core import SimulatedClock
from trade.exchange_sim import ExchangeSimServer, make_http, make_websocket
from trade.sim import SimConfig

BTC, ETH = "BTCUSDT", "ETHUSDT"


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    btc = synthetic_bars(120, seed=7, price=30_000.0)
    eth = synthetic_bars(120, seed=3, price=2_000.0)
    clock = SimulatedClock(int(btc.column("ts")[0].as_py()) + 5 * 60_000)
    server = ExchangeSimServer({BTC: btc, ETH: eth}, api_keys={KEY: SECRET}, clock=clock,
                               sim_config=SimConfig(symbol=BTC, initial_balance=10_000.0),
                               ws_ack_delay_s=0.02)
    with server:
        yield server


def _subscribed(sim: ExchangeSimServer, kind: str, n: int) -> bool:
    """The server has activated `n` topics on `kind` connections (waits up to 2 s)."""
    done = threading.Event()
    for _ in range(200):
        if sum(len(c.topics) for c in list(sim._conns.values()) if c.kind == kind) >= n:
            return True
        done.wait(0.01)
    return False


def _buy(http: Any, symbol: str, qty: str) -> str:
    res = http.place_order(category="linear", symbol=symbol, side="Buy", orderType="Market",
                           qty=qty)
    oid: str = res["result"]["orderId"]
    return oid


def test_two_symbols_trade_from_one_wallet(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    ids = {_buy(http, BTC, "0.05"), _buy(http, ETH, "0.5")}
    assert len(ids) == 2  # order ids never repeat across symbols
    sim.step()
    positions = http.get_positions(category="linear", settleCoin="USDT")["result"]["list"]
    by_symbol = {row["symbol"]: row for row in positions}
    assert set(by_symbol) == {BTC, ETH}
    assert float(by_symbol[BTC]["size"]) == 0.05 and float(by_symbol[ETH]["size"]) == 0.5
    one = http.get_positions(category="linear", symbol=ETH)["result"]["list"]
    assert [r["symbol"] for r in one] == [ETH]
    # one wallet: both entries' fees came out of it, both margins are held from it
    execs = [r for s in (BTC, ETH)
             for r in http.get_executions(category="linear", symbol=s)["result"]["list"]]
    assert {r["symbol"] for r in execs} == {BTC, ETH}
    fees = sum(float(r["execFee"]) for r in execs)
    margin = sum(float(by_symbol[s]["positionIM"]) for s in (BTC, ETH))
    wallet = http.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]
    assert float(wallet["totalWalletBalance"]) == pytest.approx(10_000.0 - fees, abs=1e-6)
    assert float(wallet["totalInitialMargin"]) == pytest.approx(margin, abs=1e-6)
    assert float(wallet["totalAvailableBalance"]) == pytest.approx(
        10_000.0 - fees - margin, abs=1e-6)
    upl = sum(float(by_symbol[s]["unrealisedPnl"]) for s in (BTC, ETH))
    assert float(wallet["totalEquity"]) == pytest.approx(10_000.0 - fees + upl, abs=1e-6)
    # the ledger lists both symbols' trades, the cash balance that of the one wallet
    log = http.get_transaction_log(accountType="UNIFIED")["result"]["list"]
    assert {r["symbol"] for r in log} == {BTC, ETH}
    assert float(log[0]["cashBalance"]) == pytest.approx(10_000.0 - fees, abs=1e-6)


def test_the_wallet_margins_every_symbol(sim: ExchangeSimServer) -> None:
    """At 1x, 10 000 USDT carries ~6 000 of BTC; ~6 000 of ETH more is refused (110007),
    though ETH alone would have had room."""
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    btc_px = float(sim.listings[BTC].market.close[sim.fed - 1])
    eth_px = float(sim.listings[ETH].market.close[sim.listings[ETH].fed - 1])
    _buy(http, BTC, f"{6_000 / btc_px:.3f}")
    sim.step()
    with pytest.raises(InvalidRequestError) as err:
        _buy(http, ETH, f"{6_000 / eth_px:.3f}")
    assert err.value.status_code == 110007
    _buy(http, ETH, f"{2_000 / eth_px:.3f}")  # what is left is still available


def test_market_data_and_cancels_per_symbol(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    tickers = http.get_tickers(category="linear")["result"]["list"]
    assert {t["symbol"] for t in tickers} == {BTC, ETH}
    infos = http.get_instruments_info(category="linear")["result"]["list"]
    assert {i["symbol"] for i in infos} == {BTC, ETH}
    eth_k = http.get_kline(category="linear", symbol=ETH, interval="1")["result"]
    assert eth_k["symbol"] == ETH
    assert float(eth_k["list"][0][4]) == float(sim.listings[ETH].market.close[4])
    with pytest.raises(InvalidRequestError) as err:
        http.get_kline(category="linear", symbol="SOLUSDT", interval="1")
    assert err.value.status_code == 10001
    low = float(sim.listings[ETH].market.close[4]) * 0.9
    res = http.place_order(category="linear", symbol=ETH, side="Buy", orderType="Limit",
                           qty="0.1", price=f"{low:.1f}")
    oid = res["result"]["orderId"]
    # an ETH order is not found under BTC; cancel-all without a symbol finds it
    with pytest.raises(InvalidRequestError):
        http.cancel_order(category="linear", symbol=BTC, orderId=oid)
    done = http.cancel_all_orders(category="linear", settleCoin="USDT")["result"]["list"]
    assert [d["orderId"] for d in done] == [oid]
    row = http.get_order_history(category="linear", symbol=ETH, orderId=oid)["result"]["list"]
    assert row[0]["orderStatus"] == "Cancelled"


def test_streams_carry_each_symbol(sim: ExchangeSimServer) -> None:
    http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
    pub, priv = Collector(), Collector()
    public = make_websocket(sim.ws_base, "linear", **ws_kwargs())
    private = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET,
                             **ws_kwargs())
    try:
        public.kline_stream(1, ETH, pub)
        public.kline_stream(1, BTC, pub)
        private.execution_stream(priv)
        private.position_stream(priv)
        assert _subscribed(sim, "public", 2) and _subscribed(sim, "private", 2)
        _buy(http, ETH, "0.5")
        _buy(http, BTC, "0.01")
        sim.step(2)
        assert pub.wait_for(lambda _: len(pub.rows(f"kline.1.{ETH}")) == 2
                            and len(pub.rows(f"kline.1.{BTC}")) == 2)
        eth = sim.listings[ETH].market
        got = [float(k["close"]) for k in pub.rows(f"kline.1.{ETH}")]
        assert got == pytest.approx([float(eth.close[5]), float(eth.close[6])], rel=1e-12)
        assert priv.wait_for(lambda _: {r["symbol"] for r in priv.rows("execution")}
                             == {BTC, ETH})
        assert priv.wait_for(lambda _: {r["symbol"] for r in priv.rows("position")}
                             == {BTC, ETH})
    finally:
        close_ws(public, private)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_lists_every_symbol_of_the_store(tmp_path: Path) -> None:
    from trade.data import open_store
    from trade.data.schema import Instrument as StoreInstrument

    store = open_store(tmp_path / "store")
    for sym, seed, price in ((BTC, 7, 30_000.0), (ETH, 3, 2_000.0)):
        bars = synthetic_bars(60, seed=seed, price=price)
        turnover = pc.multiply(bars.column("volume"), bars.column("close"))
        store.write_bars(sym, bars.append_column("turnover", turnover))
    store.write_instrument(StoreInstrument(symbol=ETH, tick_size=0.01, qty_step=0.01,
                                           min_qty=0.01))
    proc = subprocess.Popen(
        [sys.executable, "-m", "trade", "exchange-sim", "--data-dir", str(tmp_path / "store"),
         "--port", "0", "--speed", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "REST http://127.0.0.1:" in line, line + proc.stderr.read()
        assert f"bars of {BTC}" in line and f"bars of {ETH}" in line
        base = line.split("REST ")[1].split()[0]
        body = requests.get(base + "/v5/market/instruments-info",
                            params={"category": "linear"}, timeout=5).json()
        ticks = {r["symbol"]: r["priceFilter"]["tickSize"] for r in body["result"]["list"]}
        assert ticks == {BTC: "0.1", ETH: "0.01"}  # the store's instrument of each symbol
    finally:
        proc.send_signal(2)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode in (0, 130), out + err
