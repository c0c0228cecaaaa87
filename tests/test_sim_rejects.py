"""A refused order carries a numeric reason (RejectCode), the same in the kernel and the
reference; the exchange simulator maps it to Bybit's retCode in one table."""

from __future__ import annotations

import math

import pytest

from tests.conftest_exsim import RawClient, make_server, synthetic_bars
from trade._kernels.sim import REJECT_CODES
from trade.core import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from trade.exchange_sim.protocol import BYBIT_REJECT
from trade.sim import SimConfig, SimExchange
from trade.sim.reference import ReferenceExchange
from trade.sim.rejects import RejectCode

CFG = SimConfig(symbol="BTCUSDT", initial_balance=1_000.0, min_qty=0.001, min_notional=5.0)


def test_reject_codes_mirror_the_kernel_enum() -> None:
    assert {c.name: c.value for c in RejectCode} == REJECT_CODES
    assert set(BYBIT_REJECT) == set(RejectCode)  # every reason has its Bybit answer


def _req(**kw: object) -> OrderRequest:
    base: dict[str, object] = {"symbol": "BTCUSDT", "side": Side.BUY, "qty": 0.01,
                               "order_type": OrderType.LIMIT, "price": 29_000.0}
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


CASES: list[tuple[str, dict[str, object], RejectCode]] = [
    ("min qty", {"qty": 0.0005}, RejectCode.MIN_QTY),
    ("post-only crossing", {"price": 31_000.0, "time_in_force": TimeInForce.POST_ONLY},
     RejectCode.POST_ONLY),
    ("reduce-only flat", {"reduce_only": True}, RejectCode.RO_FLAT),
    ("min notional", {"qty": 0.001, "price": 100.0}, RejectCode.MIN_NOTIONAL),
    ("balance", {"qty": 1.0}, RejectCode.BALANCE),
    ("accepted", {}, RejectCode.NONE),
]


@pytest.mark.parametrize(("name", "kw", "code"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("engine_cls", [SimExchange, ReferenceExchange])
def test_kernel_and_reference_give_the_same_code(engine_cls: type, name: str,
                                                 kw: dict[str, object],
                                                 code: RejectCode) -> None:
    engine = engine_cls(CFG)
    assert engine.submit(_req()).status is OrderStatus.REJECTED  # no price yet
    first = engine.submit(_req())
    assert engine.reject_code(first.order_id) == RejectCode.NO_PRICE
    engine.on_bar(0, 30_000.0, 30_010.0, 29_990.0, 30_000.0, 1.0, math.nan, math.nan)
    order = engine.submit(_req(**kw))
    assert engine.reject_code(order.order_id) == code
    assert (order.status is OrderStatus.REJECTED) == (code != RejectCode.NONE)


def test_simulator_answers_from_the_table() -> None:
    with make_server(synthetic_bars(n=60), warm=5, sim_config=CFG) as sim:
        raw = RawClient(sim.base_url)
        last = float(sim.market.close[4])

        def create(**kw: object) -> dict[str, object]:
            params: dict[str, object] = {"category": "linear", "symbol": "BTCUSDT",
                                         "side": "Buy", "orderType": "Limit", "qty": "0.01",
                                         "price": f"{round(last * 0.95, 1)}"}
            params.update(kw)
            return raw.post("/v5/order/create", **params)

        assert create(reduceOnly=True)["retCode"] == BYBIT_REJECT[RejectCode.RO_FLAT][0]
        assert create(qty="1")["retCode"] == BYBIT_REJECT[RejectCode.BALANCE][0]
        assert create(qty="0.001", price="100")["retCode"] == \
            BYBIT_REJECT[RejectCode.MIN_NOTIONAL][0]
        # a crossing post-only is accepted, then Rejected with Bybit's enum value
        body = create(price=f"{round(last * 1.05, 1)}", timeInForce="PostOnly")
        assert body["retCode"] == 0
        rows = raw.get("/v5/order/history", category="linear", symbol="BTCUSDT")
        row = rows["result"]["list"][0]
        assert row["orderStatus"] == "Rejected"
        assert row["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
