"""The batch runner and the step API are one kernel: same signals, same trades, same equity.

1. Hand-made signal sets, with SimExchange driven by a small loop written here.
2. Random bars and random signal streams (hypothesis): run_batch == driver(SimExchange)
   == driver(ReferenceExchange) (identical trade logs, equity to 1e-9 relative).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trade.core import (
    FillEvent,
    OrderRequest,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Side,
    TimeInForce,
)
from trade.sim import (
    BatchResult,
    Intrabar,
    SignalArrays,
    SimConfig,
    SimExchange,
    SizeMode,
    run_batch,
)
from trade.sim.driver import run_signals
from trade.sim.reference import ReferenceExchange

MIN = 60_000
H8 = 8 * 3_600_000


def random_bars(seed: int, n: int, vol: float = 0.002, gaps: bool = True) -> pa.Table:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    o = np.r_[100.0, c[:-1]]
    if gaps:  # some bars open away from the previous close
        jump = rng.random(n) < 0.05
        o = np.where(jump, o * np.exp(rng.normal(0, 4 * vol, n)), o)
    h = np.maximum(o, c) * (1 + rng.exponential(vol / 2, n))
    lo = np.minimum(o, c) * (1 - rng.exponential(vol / 2, n))
    start = H8 - 30 * MIN  # crosses funding boundaries
    ts = start + np.arange(n, dtype=np.int64) * MIN
    return pa.table(
        {
            "ts": ts,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": rng.uniform(0, 10, n),
            "funding_rate": np.where(rng.random(n) < 0.5, np.nan, rng.normal(0, 0.001, n)),
        }
    )


EXACT = ("trade_id", "symbol", "side", "entry_ts", "exit_ts", "exit_reason")


def _same_column(x: list, y: list, name: str, rel: float) -> None:
    if rel == 0.0 or name in EXACT:
        assert x == y, name
    else:
        close = (math.isclose(p, q, rel_tol=rel, abs_tol=1e-9) for p, q in zip(x, y, strict=True))
        assert all(close), name


def assert_same(a: BatchResult, b: BatchResult, rel: float = 0.0) -> None:
    """Identical trade logs (floats to `rel` when given) and equity curves."""
    assert a.trades.num_rows == b.trades.num_rows
    assert a.equity.num_rows == b.equity.num_rows
    for table_a, table_b in ((a.trades, b.trades), (a.equity, b.equity)):
        for name in table_a.column_names:
            col_a, col_b = table_a.column(name).to_pylist(), table_b.column(name).to_pylist()
            _same_column(col_a, col_b, name, rel)
    assert math.isclose(a.final_balance, b.final_balance, rel_tol=rel, abs_tol=1e-9)


def simple_loop(bars: pa.Table, s: SignalArrays, cfg: SimConfig) -> BatchResult:
    """A deliberately small step driver: market entries (FIXED_USDT) and full exits only."""
    ex = SimExchange(cfg)
    rows = bars.to_pylist()
    signal_at = {int(i): j for j, i in enumerate(s.exec_close_idx)}
    for i, r in enumerate(rows):
        ex.on_bar(
            r["ts"],
            r["open"],
            r["high"],
            r["low"],
            r["close"],
            r["volume"],
            math.nan,
            r["funding_rate"],
        )
        j = signal_at.get(i)
        if j is None:
            continue
        pos = ex.position()
        if (pos.side > 0 and s.exit_long[j]) or (pos.side < 0 and s.exit_short[j]):
            side = Side.SELL if pos.side > 0 else Side.BUY
            ex.submit(OrderRequest(cfg.symbol, side, pos.size, reduce_only=True))
        if bool(s.entry_long[j]) == bool(s.entry_short[j]) or pos.side != 0:
            continue
        qty = s.size_value[j] / r["close"]
        side = Side.BUY if s.entry_long[j] else Side.SELL
        ex.submit(
            OrderRequest(
                cfg.symbol,
                side,
                qty,
                stop_loss_offset=s.sl_pct[j] or None,
                take_profit_offset=s.tp_pct[j] or None,
            )
        )
    ex.finish()
    return BatchResult(ex.trade_log(), ex.equity_curve(), ex.balance().wallet_balance)


HAND_MADE = [
    # (entry_long rows, entry_short rows, exit_long rows, exit_short rows, sl, tp)
    ([0, 10, 30], [], [5, 20], [], 0.0, 0.0),
    ([], [2, 12, 40], [], [8, 25], 0.01, 0.02),
    ([1, 9, 17, 33], [5, 21, 45], [3, 13, 35], [7, 23], 0.004, 0.004),
    ([0], [0, 4], [], [], 0.003, 0.0),  # both set on row 0: nothing
]


@pytest.mark.parametrize("case", range(len(HAND_MADE)))
def test_batch_equals_a_hand_driven_step_loop(case: int) -> None:
    el, es, xl, xs, sl, tp = HAND_MADE[case]
    bars = random_bars(case, 600)
    s = SignalArrays.empty(np.arange(9, 600, 10), size_mode=SizeMode.FIXED_USDT)
    s.entry_long[el] = 1
    s.entry_short[es] = 1
    s.exit_long[xl] = 1
    s.exit_short[xs] = 1
    s.size_value[:] = 2_000.0
    s.sl_pct[:] = sl
    s.tp_pct[:] = tp
    cfg = SimConfig(leverage=2.0, slippage=0.0003, funding_rate=0.0001)
    batch = run_batch(bars, s, cfg)
    step = simple_loop(bars, s, cfg)
    assert batch.n_trades > 0
    assert_same(batch, step)


def random_signals(seed: int, n_bars: int, every: int) -> SignalArrays:
    rng = np.random.default_rng(seed)
    idx = np.arange(every - 1, n_bars, every)
    m = len(idx)
    s = SignalArrays.empty(
        idx,
        size_mode=SizeMode(int(rng.integers(0, 3))),
        allow_flip=bool(rng.integers(0, 2)),
        expire_bars=int(rng.choice([0, 3, 20])),
    )
    s.entry_long[:] = rng.random(m) < 0.15
    s.entry_short[:] = rng.random(m) < 0.15
    s.exit_long[:] = rng.random(m) < 0.08
    s.exit_short[:] = rng.random(m) < 0.08
    s.size_value[:] = {0: 3_000.0, 1: 30.0, 2: 1.0}[int(s.size_mode)]
    s.sl_pct[:] = np.where(rng.random(m) < 0.7, rng.uniform(0.001, 0.02, m), 0.0)
    s.sl_pct[rng.random(m) < 0.05] = np.nan
    s.tp_pct[:] = np.where(rng.random(m) < 0.6, rng.uniform(0.001, 0.03, m), 0.0)
    s.trail_pct[:] = np.where(rng.random(m) < 0.3, rng.uniform(0.001, 0.01, m), 0.0)
    s.be_activation[:] = np.where(rng.random(m) < 0.3, rng.uniform(0.001, 0.01, m), 0.0)
    s.be_offset[:] = rng.uniform(0, 0.002, m)
    s.exit_pct[:] = np.where(rng.random(m) < 0.3, rng.uniform(10, 100, m), 100.0)
    s.entry_limit_offset[:] = np.where(rng.random(m) < 0.3, rng.uniform(0.0005, 0.005, m), 0.0)
    return s


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    every=st.sampled_from([1, 3, 15]),
    leverage=st.sampled_from([1.0, 5.0, 50.0]),
    intrabar=st.sampled_from(list(Intrabar)),
    qty_step=st.sampled_from([0.0, 0.001]),
    slippage=st.sampled_from([0.0, 0.0005]),
    vol=st.sampled_from([0.001, 0.01]),
)
def test_batch_step_and_reference_agree(
    seed: int,
    every: int,
    leverage: float,
    intrabar: Intrabar,
    qty_step: float,
    slippage: float,
    vol: float,
) -> None:
    n = 400
    bars = random_bars(seed, n, vol)
    s = random_signals(seed + 1, n, every)
    cfg = SimConfig(
        leverage=leverage,
        intrabar=intrabar,
        qty_step=qty_step,
        slippage=slippage,
        funding_rate=0.0003,
        maintenance_margin_rate=0.005,
    )
    batch = run_batch(bars, s, cfg)
    step = run_signals(SimExchange(cfg), bars, s, cfg)
    ref = run_signals(ReferenceExchange(cfg), bars, s, cfg)
    assert_same(batch, step)
    assert_same(batch, ref, rel=1e-9)


def _event_key(ev: object) -> tuple:
    """An adapter event as a comparable tuple (floats rounded to 9 significant places)."""

    def r(x: float) -> float:
        return float(f"{x:.9g}")

    if isinstance(ev, OrderUpdate):
        o = ev.order
        return (
            "order",
            o.order_id,
            o.status,
            o.created_ts,
            o.updated_ts,
            r(o.filled_qty),
            r(o.avg_fill_price),
            r(o.cum_fee),
            o.reject_reason,
            ev.ts,
            o.request,
        )
    if isinstance(ev, FillEvent):
        f = ev.fill
        return (
            "fill",
            f.exec_id,
            f.order_id,
            f.side,
            r(f.qty),
            r(f.price),
            r(f.fee),
            f.is_maker,
            f.ts,
            f.exec_type,
            r(f.closed_pnl),
            ev.ts,
        )
    assert isinstance(ev, PositionUpdate)
    d = ev.position.to_dict()
    return ("position", ev.ts, *(r(v) if isinstance(v, float) else v for v in d.values()))


def _random_action(rng: np.random.Generator, close: float, symbol: str) -> tuple:
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    qty = float(rng.choice([0.5, 1.0, 3.0, 20.0, 200.0]))

    def px() -> float:
        return close * (1 + rng.normal(0, 0.005))

    r = rng.random()
    if r < 0.15:
        tp = close * 1.03 if side is Side.BUY else close * 0.97
        sl_off = 0.01 if rng.random() < 0.5 else None
        trail = 0.005 if rng.random() < 0.3 else None
        ro = bool(rng.random() < 0.3)
        req = OrderRequest(
            symbol,
            side,
            qty,
            reduce_only=ro,
            take_profit=tp,
            stop_loss_offset=sl_off,
            trailing_offset=trail,
        )
        return ("submit", req)
    if r < 0.25:
        tif = TimeInForce(int(rng.integers(0, 4)))
        return (
            "submit",
            OrderRequest(symbol, side, qty, OrderType.LIMIT, price=px(), time_in_force=tif),
        )
    if r < 0.32:
        direction = int(rng.integers(0, 3))
        return (
            "submit",
            OrderRequest(
                symbol,
                side,
                qty,
                OrderType.STOP_MARKET,
                trigger_price=px(),
                trigger_direction=direction,
            ),
        )
    if r < 0.38:
        return (
            "submit",
            OrderRequest(symbol, side, qty, OrderType.STOP_LIMIT, trigger_price=px(), price=px()),
        )
    if r < 0.42:
        return ("cancel",)
    if r < 0.46:
        return ("amend", close * 0.99)
    if r < 0.50:
        sl = close * 0.99 if rng.random() < 0.5 else 0.0
        return ("trading_stop", sl, float(rng.choice([0.0, close * 0.003])))
    return ("none",)


def _apply(ex: SimExchange | ReferenceExchange, action: tuple) -> list[tuple]:
    out: list[tuple] = []
    try:
        if action[0] == "submit":
            ex.submit(action[1])
        elif action[0] == "cancel" and ex.open_orders():
            ex.cancel(ex.open_orders()[0].order_id)
        elif action[0] == "amend" and ex.open_orders():
            last = ex.open_orders()[-1]
            if last.request.price is not None:
                ex.amend(last.order_id, price=action[1])
        elif action[0] == "trading_stop" and ex.position().side:
            ex.set_trading_stop(stop_loss=action[1], trailing_distance=action[2])
    except ValueError as exc:
        out.append(("error", str(exc)))
    return out + [_event_key(e) for e in ex.drain_events()]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), leverage=st.sampled_from([1.0, 10.0]))
def test_step_events_equal_the_reference_for_random_order_streams(
    seed: int, leverage: float
) -> None:
    rng = np.random.default_rng(seed)
    cfg = SimConfig(
        leverage=leverage,
        slippage=0.0005,
        funding_rate=0.0002,
        intrabar=Intrabar(int(rng.integers(0, 2))),
    )
    sim, ref = SimExchange(cfg), ReferenceExchange(cfg)
    logs: tuple[list[tuple], list[tuple]] = ([], [])
    for b in random_bars(seed, 250, 0.005).to_pylist():
        bar = (b["ts"], b["open"], b["high"], b["low"], b["close"], b["volume"])
        action = _random_action(rng, b["close"], cfg.symbol)
        for log, ex in zip(logs, (sim, ref), strict=True):
            ex.on_bar(*bar, math.nan, b["funding_rate"])
            log.extend(_event_key(e) for e in ex.drain_events())
            log.extend(_apply(ex, action))
    for log, ex in zip(logs, (sim, ref), strict=True):
        ex.finish()
        log.extend(_event_key(e) for e in ex.drain_events())
    assert any(k[0] == "fill" for k in logs[0])
    assert logs[0] == logs[1]
