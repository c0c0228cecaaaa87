"""One readable test per rule of docs/fill_model.md, on a handful of hand-written 1m bars.

Every expected number is derived by hand from the rule (written next to the assertion).
"""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from trade.core import ExecType, FillEvent, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from trade.sim import BacktestAdapter, Bar, Intrabar, SimConfig, SimExchange, run_batch
from trade.sim.config import SizeMode
from trade.sim.driver import run_signals
from trade.sim.reference import ReferenceExchange
from trade.sim.signals import SignalArrays

MIN = 60_000
H8 = 8 * 3_600_000
T0 = 10 * H8  # a funding boundary: 80:00 UTC of day 0 (= 08:00 UTC of day 3)
TAKER = 0.00055
MAKER = 0.0002


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-12)


def make(**cfg: object) -> SimExchange:
    return SimExchange(SimConfig(**cfg))  # type: ignore[arg-type]


def bar(ex: SimExchange, i: int, o: float, h: float, lo: float, c: float, **kw: float) -> None:
    ex.on_bar(T0 + i * MIN, o, h, lo, c, 0.0, **kw)


def fills(ex: SimExchange) -> list:
    return [e.fill for e in ex.drain_events() if isinstance(e, FillEvent)]


def buy(qty: float, **kw: object) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, qty, **kw)  # type: ignore[arg-type]


def sell(qty: float, **kw: object) -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.SELL, qty, **kw)  # type: ignore[arg-type]


def trades(ex: SimExchange) -> list[dict]:
    return ex.trade_log().to_pylist()


def test_market_order_fills_at_next_open_with_slippage_and_taker_fee() -> None:
    ex = make(slippage=0.001)
    bar(ex, 0, 100, 100, 100, 100)
    order = ex.submit(buy(2.0))
    assert order.status is OrderStatus.NEW and order.order_id == "o-1"
    ex.drain_events()
    bar(ex, 1, 101, 102, 100, 101)
    (f,) = fills(ex)
    px = 101 * 1.001  # the next 1m open moved against the buyer
    assert f.price == approx(px) and f.qty == 2.0 and f.ts == T0 + MIN and not f.is_maker
    assert f.fee == approx(2 * px * TAKER)
    assert ex.balance().wallet_balance == approx(10_000 - 2 * px * TAKER)
    # equity at the close: wallet + (close - entry) x size
    assert ex.equity_curve()["equity"][-1].as_py() == approx(
        10_000 - 2 * px * TAKER + (101 - px) * 2
    )
    # a market sell goes the other way
    ex.submit(sell(2.0))
    bar(ex, 2, 110, 111, 109, 110)
    (t,) = trades(ex)
    assert t["exit_price"] == approx(110 * 0.999) and t["exit_reason"] == "signal"
    assert t["gross_pnl"] == approx((110 * 0.999 - px) * 2)


def test_limit_fills_when_traded_through_at_limit_price_maker() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(buy(1.0, order_type=OrderType.LIMIT, price=98.0))
    bar(ex, 1, 99, 99.5, 98.0, 99)  # touch only (l == price): no fill
    assert ex.position().side == 0 and len(ex.open_orders()) == 1
    bar(ex, 2, 99, 99.5, 97.5, 98.5)  # trades through: fills at the limit price, maker
    (f,) = [x for x in fills(ex) if x.qty > 0]
    assert f.price == 98.0 and f.is_maker and f.fee == approx(98.0 * MAKER) and f.ts == T0 + 2 * MIN
    assert ex.balance().wallet_balance == approx(10_000 - 98.0 * MAKER)


def test_limit_gap_fills_at_the_open() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(sell(1.0, order_type=OrderType.LIMIT, price=102.0))
    bar(ex, 1, 103, 104, 101, 103)  # opens beyond the sell limit: fills at the open
    f = fills(ex)[0]
    assert f.price == 103.0 and f.is_maker and ex.position().side == -1


def test_post_only_that_would_cross_is_rejected() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    po = dict(order_type=OrderType.LIMIT, time_in_force=TimeInForce.POST_ONLY)
    rejected = ex.submit(buy(1.0, price=100.0, **po))  # buy at >= last close crosses
    assert rejected.status is OrderStatus.REJECTED
    assert "post-only" in rejected.reject_reason
    ok = ex.submit(buy(1.0, price=99.0, **po))
    assert ok.status is OrderStatus.NEW


def test_marketable_limit_fills_as_taker_capped_at_its_price() -> None:
    ex = make(slippage=0.01)
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(buy(1.0, order_type=OrderType.LIMIT, price=100.5))  # crosses the last close
    bar(ex, 1, 100, 101, 99, 100)
    f = fills(ex)[0]
    # min(open x (1 + slip), limit) = min(101, 100.5), taker
    assert f.price == 100.5 and not f.is_maker and f.fee == approx(100.5 * TAKER)


def test_stop_market_triggers_on_touch_and_on_gap() -> None:
    ex = make(slippage=0.001)
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(buy(1.0, order_type=OrderType.STOP_MARKET, trigger_price=105.0))
    bar(ex, 1, 102, 104.9, 101, 104)  # not touched
    assert ex.open_orders()[0].status is OrderStatus.UNTRIGGERED
    bar(ex, 2, 104, 106, 103, 105)  # touched: fills at the trigger + slippage, taker
    f = fills(ex)[0]
    assert f.price == approx(105 * 1.001) and f.fee == approx(105 * 1.001 * TAKER)
    ex2 = make(slippage=0.001)
    bar(ex2, 0, 100, 100, 100, 100)
    ex2.submit(sell(1.0, order_type=OrderType.STOP_MARKET, trigger_price=95.0))
    bar(ex2, 1, 93, 94, 92, 93)  # opens beyond the trigger: the gap open is the trigger price
    assert fills(ex2)[0].price == approx(93 * 0.999)


def test_stop_limit_marketable_fills_at_once_otherwise_rests() -> None:
    ex = make(slippage=0.01)
    bar(ex, 0, 100, 100, 100, 100)
    req = buy(1.0, order_type=OrderType.STOP_LIMIT, trigger_price=105.0, price=105.5)
    ex.submit(req)
    bar(ex, 1, 104, 106, 103, 105)
    # limit 105.5 >= trigger 105: fills at min(105 x 1.01, 105.5) = 105.5, taker
    f = fills(ex)[0]
    assert f.price == 105.5 and not f.is_maker
    ex2 = make()
    bar(ex2, 0, 100, 100, 100, 100)
    ex2.submit(buy(1.0, order_type=OrderType.STOP_LIMIT, trigger_price=105.0, price=104.0))
    bar(ex2, 1, 104, 106, 103.5, 105)  # triggers; 104 < 105 is not marketable: rests
    (o,) = ex2.open_orders()
    assert o.status is OrderStatus.NEW and ex2.position().side == 0
    bar(ex2, 2, 104.5, 105, 103.9, 104.2)  # now a limit: l < 104 fills at 104, maker
    f2 = fills(ex2)[-1]
    assert f2.price == 104.0 and f2.is_maker


def _long_with(ex: SimExchange, **req: object) -> None:
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(buy(1.0, **req))


def test_tp_and_sl_in_one_bar_stop_wins() -> None:
    ex = make(slippage=0.001)
    _long_with(ex, stop_loss=97.0, take_profit=103.0)
    bar(ex, 1, 100, 100.5, 99.5, 100)  # entry at 100.1
    bar(ex, 2, 102, 104, 96, 100)  # touches both: the stop loss wins (sl_first)
    (t,) = trades(ex)
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == approx(97 * 0.999)
    assert t["exit_ts"] == T0 + 2 * MIN and t["entry_ts"] == T0 + MIN


def test_tp_and_sl_in_one_bar_ohlc_path_takes_the_nearer_extreme() -> None:
    ex = make(intrabar=Intrabar.OHLC_PATH)
    _long_with(ex, stop_loss=97.0, take_profit=103.0)
    bar(ex, 1, 100, 100.5, 99.5, 100)
    bar(ex, 2, 102, 104, 96, 100)  # open 102 is nearer the high: the path reaches TP first
    (t,) = trades(ex)
    assert t["exit_reason"] == "take_profit" and t["exit_price"] == 103.0  # no slippage on TP
    assert t["fees"] == approx(100 * TAKER + 103 * TAKER)


def test_trailing_stop_ratchets_then_is_checked_on_the_next_bar() -> None:
    ex = make()
    _long_with(ex, trailing_distance=2.0)
    bar(ex, 1, 100, 105, 99, 104)  # entry 100; trail starts at 98; this bar's high 105 -> 103
    assert ex.position().side == 1  # 103 is only checked from the next bar on
    assert ex.position().trailing_stop == 103.0
    bar(ex, 2, 104, 104.5, 102.5, 103)
    (t,) = trades(ex)
    assert t["exit_reason"] == "trailing_stop" and t["exit_price"] == 103.0


def test_break_even_moves_the_stop_from_the_next_bar() -> None:
    ex = make()
    _long_with(ex, stop_loss=95.0, break_even_activation=0.02, break_even_offset=0.001)
    bar(ex, 1, 100, 102.5, 99.9, 102)  # excursion 2.5 % >= 2 %: stop -> 100 x 1.001
    assert ex.position().stop_loss == approx(100.1)
    bar(ex, 2, 102, 102, 100, 100.5)
    (t,) = trades(ex)
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == approx(100.1)


def test_liquidation_before_a_stop_beyond_it_at_bankruptcy_price() -> None:
    ex = make(leverage=10.0, maintenance_margin_rate=0.005)
    _long_with(ex, stop_loss=89.0)
    bar(ex, 1, 100, 100, 99, 99.5)
    pos = ex.position()
    assert pos.liq_price == approx(100 * (1 - 0.1 + 0.005))  # 90.5
    assert pos.margin == approx(10.0)  # notional / leverage
    bar(ex, 2, 95, 95, 88, 89)  # low 88 <= liq 90.5 and the stop (89) lies beyond it
    (t,) = trades(ex)
    assert t["exit_reason"] == "liquidation" and t["exit_price"] == approx(90.0)  # bankruptcy
    assert t["gross_pnl"] == approx(-10.0)  # the whole margin is forfeited
    assert t["fees"] == approx(100 * TAKER)  # entry fee only: no fee on the bust trade
    assert ex.balance().wallet_balance == approx(10_000 - 100 * TAKER - 10.0)
    ev = ExecType.BUST_TRADE
    assert ev in [f.exec_type for f in fills(ex)]


def test_stop_inside_liquidation_fires_first() -> None:
    ex = make(leverage=10.0)
    _long_with(ex, stop_loss=95.0)
    bar(ex, 1, 100, 100, 99, 99.5)
    bar(ex, 2, 98, 98, 88, 89)
    (t,) = trades(ex)
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == 95.0


def test_funding_at_8h_boundaries_longs_pay_shorts_receive() -> None:
    for side, sign in ((buy, 1), (sell, -1)):
        ex = make(funding_rate=0.0001)
        ex.on_bar(T0 - 3 * MIN, 100, 100, 100, 100)
        ex.submit(side(2.0))
        ex.on_bar(T0 - 2 * MIN, 100, 100, 100, 100)  # fill; close time T0 - 60 s: no funding
        w0 = ex.balance().wallet_balance
        ex.on_bar(T0 - MIN, 100, 101, 99, 100.5)  # closes at T0, a multiple of 8 h
        (f,) = fills(ex)[-1:]
        assert f.exec_type is ExecType.FUNDING and f.qty == 0.0
        assert f.fee == approx(2 * 100.5 * 0.0001 * sign)  # size x close x rate x side
        assert ex.balance().wallet_balance == approx(w0 - 2 * 100.5 * 0.0001 * sign)
        ex.on_bar(T0, 100, 100, 100, 100)  # no funding on the next bar
        assert ex.balance().wallet_balance == approx(w0 - 2 * 100.5 * 0.0001 * sign)
    # a negative rate from the funding column: the long receives
    ex = make()
    ex.on_bar(T0 - 3 * MIN, 100, 100, 100, 100)
    ex.submit(buy(1.0))
    ex.on_bar(T0 - 2 * MIN, 100, 100, 100, 100)
    w0 = ex.balance().wallet_balance
    ex.on_bar(T0 - MIN, 100, 100, 100, 100, funding_rate=-0.001)
    assert ex.balance().wallet_balance == approx(w0 + 100 * 0.001)
    ex.finish()
    assert trades(ex)[0]["funding"] == approx(-0.1)


def test_reduce_only_is_clipped_and_rejected_when_flat() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    flat = ex.submit(sell(1.0, reduce_only=True))
    assert flat.status is OrderStatus.REJECTED and "reduce-only" in flat.reject_reason
    ex.submit(buy(1.0))
    bar(ex, 1, 100, 100, 100, 100)
    ro = ex.submit(sell(3.0, reduce_only=True))
    bar(ex, 2, 101, 101, 101, 101)
    assert ex.position().side == 0  # clipped to the position: never flips
    (t,) = trades(ex)
    assert t["qty"] == 1.0 and t["exit_reason"] == "signal"
    done = [o for o in ex.drain_events() if hasattr(o, "order") and o.order.order_id == ro.order_id]
    assert done[-1].order.status is OrderStatus.FILLED and done[-1].order.filled_qty == 1.0


def test_flip_closes_and_opens_the_remainder() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(buy(1.0))
    bar(ex, 1, 100, 100, 100, 100)
    ex.submit(sell(3.0))
    bar(ex, 2, 102, 102, 102, 102)
    (t,) = trades(ex)
    assert t["exit_reason"] == "flip" and t["gross_pnl"] == approx(2.0)
    pos = ex.position()
    assert pos.side == -1 and pos.size == 2.0 and pos.entry_price == 102.0
    # wallet: -entry fee + pnl - fee on the whole 3-unit fill
    assert ex.balance().wallet_balance == approx(10_000 - 100 * TAKER + 2.0 - 3 * 102 * TAKER)


def test_partial_close_is_a_trade_row_with_proportional_fees() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    ex.submit(buy(4.0))
    bar(ex, 1, 100, 100, 100, 100)
    ex.submit(sell(1.0))
    bar(ex, 2, 104, 104, 104, 104)
    (t,) = trades(ex)
    assert t["qty"] == 1.0 and t["gross_pnl"] == approx(4.0)
    assert t["fees"] == approx(4 * 100 * TAKER / 4 + 104 * TAKER)
    assert ex.position().size == 3.0 and ex.position().margin == approx(300.0)


def test_insufficient_balance_is_rejected() -> None:
    ex = make(initial_balance=1_000.0)
    bar(ex, 0, 100, 100, 100, 100)
    big = ex.submit(buy(10.0))  # needs 1000 margin + 0.55 fee > 1000 available
    assert big.status is OrderStatus.REJECTED and "insufficient" in big.reject_reason
    assert ex.submit(buy(9.0)).status is OrderStatus.NEW
    # a resting limit reserves qty x price / leverage: 594 of 1000, so a second one won't fit
    ex2 = make(initial_balance=1_000.0)
    bar(ex2, 0, 100, 100, 100, 100)
    assert ex2.submit(buy(6.0, order_type=OrderType.LIMIT, price=99.0)).status is OrderStatus.NEW
    assert ex2.balance().used_margin == approx(6 * 99.0)
    assert ex2.balance().available_balance == approx(1_000 - 6 * 99.0)
    second = ex2.submit(buy(6.0, order_type=OrderType.LIMIT, price=99.0))
    assert second.status is OrderStatus.REJECTED


def test_ioc_limit_not_filled_on_its_first_bar_is_cancelled() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    o = ex.submit(buy(1.0, order_type=OrderType.LIMIT, price=95.0, time_in_force=TimeInForce.IOC))
    bar(ex, 1, 100, 101, 99, 100)
    assert ex.open_orders() == []
    last = [e.order for e in ex.drain_events() if hasattr(e, "order")][-1]
    assert last.order_id == o.order_id and last.status is OrderStatus.CANCELLED


def test_mae_and_mfe_follow_1m_lows_and_highs() -> None:
    ex = make()
    _long_with(ex)
    bar(ex, 1, 100, 101, 99.5, 100)
    bar(ex, 2, 100, 104, 97, 101)
    bar(ex, 3, 101, 102, 100, 101)
    ex.submit(sell(1.0))
    bar(ex, 4, 101, 101, 101, 101)
    (t,) = trades(ex)
    assert t["mae"] == approx(-3.0) and t["mfe"] == approx(4.0)


def test_end_of_data_closes_at_last_close_with_taker_fee() -> None:
    ex = make(slippage=0.01)
    _long_with(ex)
    bar(ex, 1, 100, 100, 100, 100)
    bar(ex, 2, 100, 111, 100, 110)
    ex.finish()
    (t,) = trades(ex)
    entry = 100 * 1.01
    assert t["exit_reason"] == "end_of_data" and t["exit_price"] == 110.0  # no slippage
    assert t["exit_ts"] == T0 + 2 * MIN
    assert t["fees"] == approx(entry * TAKER + 110 * TAKER)
    assert t["net_pnl"] == approx(110 - entry - entry * TAKER - 110 * TAKER)
    assert ex.balance().wallet_balance == approx(10_000 + t["net_pnl"])
    ex.finish()  # a second finish changes nothing
    assert len(trades(ex)) == 1
    with pytest.raises(ValueError, match="finish"):
        bar(ex, 3, 100, 100, 100, 100)


def test_order_lifecycle_cancel_amend_and_terminal_orders() -> None:
    ex = make()
    bar(ex, 0, 100, 100, 100, 100)
    stop = ex.submit(sell(1.0, order_type=OrderType.STOP_MARKET, trigger_price=90.0))
    assert ex.amend(stop.order_id, trigger_price=91.0).request.trigger_price == 91.0
    assert ex.cancel(stop.order_id).status is OrderStatus.DEACTIVATED
    with pytest.raises(ValueError, match="not open"):
        ex.cancel(stop.order_id)
    with pytest.raises(ValueError, match="not found"):
        ex.cancel("o-99")
    lim = ex.submit(buy(1.0, order_type=OrderType.LIMIT, price=90.0))
    assert ex.amend(lim.order_id, price=91.0, qty=2.0).request.qty == 2.0
    with pytest.raises(ValueError):
        ex.amend(lim.order_id, price=-1.0)
    assert ex.open_orders()[0].request.price == 91.0


def test_backtest_adapter_checks_the_symbol_and_steps() -> None:
    ad = BacktestAdapter(SimConfig())
    ad.step(Bar(T0, 100, 100, 100, 100))
    with pytest.raises(ValueError, match="ETHUSDT"):
        ad.position("ETHUSDT")
    o = ad.submit(buy(1.0))
    ad.step(Bar(T0 + MIN, 101, 101, 101, 101))
    assert ad.position("BTCUSDT").entry_price == 101.0
    kinds = [type(e).__name__ for e in ad.drain_events()]
    assert kinds[0] == "OrderUpdate" and "FillEvent" in kinds and "PositionUpdate" in kinds
    assert o.order_id == "o-1"
    ad.set_trading_stop("BTCUSDT", stop_loss=50.0)
    assert ad.position("BTCUSDT").stop_loss == 50.0
    ad.set_trading_stop("BTCUSDT", stop_loss=0.0)
    assert ad.position("BTCUSDT").stop_loss == 0.0
    assert math.isclose(ad.balance().equity, 10_000 - 101 * TAKER)


# ------------------------------------------------- trailing activation and entry TIF (batch)
# The same hand-computed answers are required of the compiled batch loop, the compiled step
# engine and the reference simulator (both driven through trade.sim.driver.run_signals).

ENGINES = ["batch", "step", "reference"]


def run_engine(kind: str, rows: list[tuple[float, float, float, float]], sig: SignalArrays,
               cfg: SimConfig) -> list[dict]:
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    table = pa.table({
        "ts": pa.array([T0 + i * MIN for i in range(n)], pa.int64()),
        "open": cols[0], "high": cols[1], "low": cols[2], "close": cols[3],
        "volume": [0.0] * n,
    })
    if kind == "batch":
        result = run_batch(table, sig, cfg)
    else:
        engine = SimExchange(cfg) if kind == "step" else ReferenceExchange(cfg)
        result = run_signals(engine, table, sig, cfg)
    out: list[dict] = result.trades.to_pylist()
    return out


# entry 100 (the open of bar 1); trail 2 % of it = 2.0; activation 5 % -> arms at best >= 105
TRAIL_BARS = [
    (100.0, 100.0, 100.0, 100.0),  # 0: entry signal at the close
    (100.0, 104.0, 99.0, 103.0),   # 1: filled at 100; best 104: +4 % < 5 %, not armed
    (103.0, 103.5, 101.5, 102.0),  # 2: low 101.5 crosses best - 2 = 102, but not armed: no exit
    (102.0, 106.0, 101.9, 105.0),  # 3: best 106: +6 % arms it at 104, checked from bar 4 on
    (105.0, 107.0, 104.5, 106.0),  # 4: 104.5 > 104, no exit; ratchets to 107 - 2 = 105
    (106.0, 106.5, 104.0, 105.0),  # 5: low 104 <= 105: trailing stop at 105
    (105.0, 105.0, 105.0, 105.0),
    (105.0, 105.0, 105.0, 105.0),
]


def _mirror(rows: list[tuple[float, float, float, float]]) -> list[tuple[float, ...]]:
    """The same path upside down around 100 (a short sees what a long saw)."""
    return [(200 - o, 200 - lo, 200 - h, 200 - c) for o, h, lo, c in rows]


def _trail_signals(direction: int, activation: float, idx: list[int]) -> SignalArrays:
    sig = SignalArrays.empty(idx, size_mode=SizeMode.FIXED_USDT)
    sig.size_value[:] = 1_000.0  # qty = 1000 / 100 = 10
    (sig.entry_long if direction > 0 else sig.entry_short)[0] = 1
    sig.trail_pct[0] = 0.02
    sig.trail_activation[0] = activation
    return sig


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("sparse", [True, False], ids=["idle-fast-path", "every-bar"])
def test_trailing_stop_arms_only_after_the_activation_move(engine: str, direction: int,
                                                           sparse: bool) -> None:
    rows = TRAIL_BARS if direction > 0 else _mirror(TRAIL_BARS)
    # sparse: rows only at bars 0 and 7, so bars 1-6 go through the batch loop's idle fast path
    idx = [0, len(rows) - 1] if sparse else list(range(len(rows)))
    (t,) = run_engine(engine, rows, _trail_signals(direction, 0.05, idx), SimConfig())
    exit_px = 105.0 if direction > 0 else 95.0
    assert t["side"] == direction and t["entry_price"] == 100.0 and t["qty"] == 10.0
    assert t["exit_reason"] == "trailing_stop" and t["exit_price"] == exit_px
    assert t["exit_ts"] == T0 + 5 * MIN  # not on bar 2 (unarmed) nor bar 3 (armed at its close)
    assert t["gross_pnl"] == approx(50.0)
    assert t["fees"] == approx(10 * 100 * TAKER + 10 * exit_px * TAKER)
    # without an activation the trail starts at 98, ratchets to 102 on bar 1 and exits on bar 2
    (u,) = run_engine(engine, rows, _trail_signals(direction, 0.0, idx), SimConfig())
    assert u["exit_reason"] == "trailing_stop" and u["exit_ts"] == T0 + 2 * MIN
    assert u["exit_price"] == (102.0 if direction > 0 else 98.0)
    # NaN means none, like 0
    (w,) = run_engine(engine, rows, _trail_signals(direction, math.nan, idx), SimConfig())
    assert w == u


@pytest.mark.parametrize("engine", ENGINES)
def test_trailing_activation_never_reached_leaves_only_the_fixed_stop(engine: str) -> None:
    rows = [*TRAIL_BARS[:4], (105.0, 106.9, 104.5, 106.0), (106.0, 106.5, 96.0, 97.0),
            (97.0, 97.0, 97.0, 97.0)]
    sig = _trail_signals(1, 0.07, [0, len(rows) - 1])  # arms only at best >= 107
    sig.sl_pct[0] = 0.03  # a fixed stop at 97
    (t,) = run_engine(engine, rows, sig, SimConfig())
    # best 106.9 is +6.9 % < 7 %: never armed, so no trailing exit at 106.9 - 2 = 104.9 on
    # bar 5; its low 96 reaches the fixed stop at 97
    assert t["exit_reason"] == "stop_loss" and t["exit_price"] == 97.0
    assert t["exit_ts"] == T0 + 5 * MIN


def test_step_engine_trailing_activation_and_set_trading_stop_arms_at_once() -> None:
    for ex in (make(), ReferenceExchange(SimConfig())):
        _long_with(ex, trailing_distance=2.0, trailing_activation=0.05)
        bar(ex, 1, 100, 104, 99, 103)
        assert ex.position().trailing_distance == 2.0
        assert ex.position().trailing_stop == 0.0  # not armed: no level yet
        bar(ex, 2, 103, 103.5, 101.5, 102)
        assert ex.position().side == 1 and ex.position().trailing_stop == 0.0
        # trading-stop sets a trail without activation: armed at once at best 104 - 3 = 101
        ex.set_trading_stop(trailing_distance=3.0)
        assert ex.position().trailing_stop == 101.0
        bar(ex, 3, 102, 102.5, 100.5, 101)
        (t,) = ex.trade_log().to_pylist()
        assert t["exit_reason"] == "trailing_stop" and t["exit_price"] == 101.0


def test_trailing_activation_needs_a_trail_and_is_positive() -> None:
    with pytest.raises(ValueError, match="trailing_activation needs a trailing"):
        buy(1.0, trailing_activation=0.01)
    for bad in (0.0, -0.01, math.nan, math.inf):
        with pytest.raises(ValueError, match="trailing_activation"):
            buy(1.0, trailing_offset=0.01, trailing_activation=bad)
    sig = SignalArrays.empty([0, 1])
    sig.trail_activation[1] = -0.1
    with pytest.raises(ValueError, match="trail_activation is negative at row 1"):
        sig.validate(2)
    sig.trail_activation[1] = 0.1
    sig.entry_tif = 1  # type: ignore[assignment]
    with pytest.raises(ValueError, match="entry_tif must be a TimeInForce"):
        sig.validate(2)


LIMIT_BARS = [
    (100.0, 100.0, 100.0, 100.0),  # 0: long entry, limit at 100 x 0.99 = 99
    (100.0, 101.0, 99.5, 100.0),   # 1: first eligible bar, 99.5 does not trade through 99
    (99.5, 100.0, 98.0, 99.0),     # 2: trades through 99: a GTC fills here (maker)
    (99.0, 99.0, 97.0, 98.0),      # 3: (IOC re-entry from row 2: limit 98.01 fills)
    (98.0, 98.0, 98.0, 98.0),      # 4: end of data at 98
]


def _limit_signals(tif: TimeInForce, offset: float, entries: list[int]) -> SignalArrays:
    sig = SignalArrays.empty(list(range(len(LIMIT_BARS))), size_mode=SizeMode.FIXED_USDT,
                             entry_tif=tif)
    sig.size_value[:] = 990.0
    sig.entry_limit_offset[:] = offset
    sig.entry_long[entries] = 1
    return sig


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_ioc_fok_limit_entry_is_cancelled_after_its_first_bar(engine: str,
                                                              tif: TimeInForce) -> None:
    # GTC: the limit at 99 rests through bar 1 and fills on bar 2 at 99, maker
    (g,) = run_engine(engine, LIMIT_BARS, _limit_signals(TimeInForce.GTC, 0.01, [0, 2]),
                      SimConfig())
    assert g["entry_ts"] == T0 + 2 * MIN and g["entry_price"] == 99.0
    assert g["qty"] == approx(990 / 100)
    assert g["fees"] == approx(9.9 * 99 * MAKER + 9.9 * 98 * TAKER)
    # IOC/FOK: not filled on bar 1 -> cancelled; bar 2 trades through 99 but it is gone.
    # Only row 2's new signal enters: limit 99 x 0.99 = 98.01, qty 990 / 99 = 10, fills on bar 3
    (t,) = run_engine(engine, LIMIT_BARS, _limit_signals(tif, 0.01, [0, 2]), SimConfig())
    assert t["entry_ts"] == T0 + 3 * MIN and t["entry_price"] == approx(99 * 0.99)
    assert t["qty"] == approx(10.0)
    assert t["exit_reason"] == "end_of_data" and t["exit_price"] == 98.0
    # and with no second signal nothing is retried: no trade at all
    assert run_engine(engine, LIMIT_BARS, _limit_signals(tif, 0.01, [0]), SimConfig()) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_post_only_limit_entry_rests_or_is_rejected_when_it_would_cross(engine: str) -> None:
    # below the close it rests and fills like GTC, as maker
    (t,) = run_engine(engine, LIMIT_BARS, _limit_signals(TimeInForce.POST_ONLY, 0.01, [0]),
                      SimConfig())
    assert t["entry_ts"] == T0 + 2 * MIN and t["entry_price"] == 99.0
    assert t["fees"] == approx(9.9 * 99 * MAKER + 9.9 * 98 * TAKER)
    # an offset too small to move the price: 100 x (1 - 1e-17) == 100 crosses the close 100.
    # GTC: marketable, fills on bar 1 at min(open 100, limit 100) as taker
    (g,) = run_engine(engine, LIMIT_BARS, _limit_signals(TimeInForce.GTC, 1e-17, [0]),
                      SimConfig())
    assert g["entry_ts"] == T0 + MIN and g["entry_price"] == 100.0
    # PostOnly: rejected at once and not retried
    assert run_engine(engine, LIMIT_BARS, _limit_signals(TimeInForce.POST_ONLY, 1e-17, [0]),
                      SimConfig()) == []
