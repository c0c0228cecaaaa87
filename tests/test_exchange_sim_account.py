"""Leverage as Bybit changes it (also with a position open), and ids that never repeat."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from tests.conftest_exsim import T0, RawClient, make_server, synthetic_bars
from trade.exchange_sim import ExchangeSimServer
from trade.sim import SimConfig

S = "BTCUSDT"


@pytest.fixture()
def sim() -> Iterator[ExchangeSimServer]:
    config = SimConfig(symbol=S, initial_balance=1_000.0, leverage=1.0)
    with make_server(synthetic_bars(n=200), warm=20, sim_config=config) as server:
        yield server


def _lev(raw: RawClient, value: float) -> int:
    body = raw.post("/v5/position/set-leverage", category="linear", symbol=S,
                    buyLeverage=str(value), sellLeverage=str(value))
    return int(body["retCode"])


def _market(raw: RawClient, side: str, qty: str, **kw: object) -> str:
    body = raw.post("/v5/order/create", category="linear", symbol=S, side=side,
                    orderType="Market", qty=qty, **kw)
    assert body["retCode"] == 0, body
    return str(body["result"]["orderId"])


def _position(raw: RawClient) -> dict[str, str]:
    rows = raw.get("/v5/position/list", category="linear", symbol=S)["result"]["list"]
    assert len(rows) == 1
    return dict(rows[0])


def test_leverage_changes_with_a_position_and_ids_never_repeat(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    ids: list[str] = []
    exec_ids: list[str] = []
    for round_no, lev in enumerate((2, 3, 4)):
        assert _lev(raw, lev) == 0  # flat: always allowed
        ids.append(_market(raw, "Buy", "0.02"))
        sim.step()
        before = _position(raw)
        assert before["size"] == "0.02" and before["leverage"] == str(lev)
        # with the position open: 5x frees margin, and the position carries on
        assert _lev(raw, 5) == 0
        after = _position(raw)
        assert after["leverage"] == "5" and after["avgPrice"] == before["avgPrice"]
        assert float(after["positionIM"]) == pytest.approx(
            float(before["positionIM"]) * lev / 5, rel=1e-9)
        assert float(after["liqPrice"]) > float(before["liqPrice"])  # closer to the entry
        ids.append(_market(raw, "Sell", "0.02", reduceOnly=True))
        sim.step()
        execs = raw.get("/v5/execution/list", category="linear", symbol=S)["result"]["list"]
        exec_ids = [e["execId"] for e in execs]
        assert len(execs) == 2 * (round_no + 1)
    assert len(set(ids)) == len(ids)  # order ids never repeat within the simulator's life
    assert len(set(exec_ids)) == len(exec_ids)
    history = raw.get("/v5/order/history", category="linear", symbol=S)["result"]["list"]
    assert {o["orderId"] for o in history} == set(ids)  # nothing overwritten
    # realised PnL counts from the start, not from the last leverage change
    wallet = raw.get("/v5/account/wallet-balance", accountType="UNIFIED")["result"]["list"][0]
    assert float(wallet["coin"][0]["cumRealisedPnl"]) == pytest.approx(
        float(wallet["totalWalletBalance"]) - 1_000.0)


def test_leverage_refusals_use_bybit_codes(sim: ExchangeSimServer) -> None:
    raw = RawClient(sim.base_url)
    assert _lev(raw, 1) == 110043  # not modified
    assert _lev(raw, 101) == 110013  # above the risk limit's maximum (instrument: 100x)
    assert _lev(raw, 0.5) == 10001
    assert _lev(raw, 10) == 0
    price = float(sim.market.close[19])
    # a position worth ~9.5x the wallet at 10x: lowering to 5x needs more margin than is free
    qty = round(9.5 * 1_000.0 / price, 3)
    _market(raw, "Buy", f"{qty:.3f}")
    sim.step()
    assert float(_position(raw)["size"]) == pytest.approx(qty)
    assert _lev(raw, 5) == 110012  # insufficient available balance
    assert _position(raw)["leverage"] == "10"  # refused: nothing changed


def test_leverage_that_would_liquidate_at_once_is_110011() -> None:
    # flat at 30,000 for 30 bars, then 0.1% lower every bar
    close = np.r_[np.full(30, 30_000.0), 30_000.0 * 0.999 ** np.arange(1, 31)]
    open_ = np.r_[close[0], close[:-1]]
    bars = pa.table({"ts": T0 + np.arange(60, dtype=np.int64) * 60_000, "open": open_,
                     "high": np.maximum(open_, close), "low": np.minimum(open_, close),
                     "close": close, "volume": np.full(60, 5.0)})
    config = SimConfig(symbol=S, initial_balance=10_000.0, leverage=2.0)
    with make_server(bars, warm=20, sim_config=config) as sim:
        raw = RawClient(sim.base_url)
        _market(raw, "Buy", "0.1")
        sim.step(21)  # filled at 30,000; then ten bars 0.1% lower each
        pos = _position(raw)
        entry, mark = float(pos["avgPrice"]), float(pos["markPrice"])
        assert mark < entry * 0.991
        # at 80x the liquidation price would be entry x (1 - 1/80 + 0.005) > mark
        assert _lev(raw, 80) == 110011
        assert _position(raw)["leverage"] == "2"
        assert _lev(raw, 50) == 0  # liq = entry x 0.985, still below the mark
