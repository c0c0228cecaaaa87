"""Two kernels, one answer (docs/architecture.md, invariant 6).

Hypothesis generates bar series (gaps, wicks, funding boundaries, missing
minutes) and signal or order streams; the compiled batch runner, the compiled
step engine and the plain-Python reference simulator must agree: identical
trade logs (integers and strings exactly, floats to 1e-9 relative) and equity
curves equal to 1e-9 relative.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from trade.core import OrderRequest, OrderType, Side, TimeInForce
from trade.sim import SimExchange, run_batch
from trade.sim.config import Intrabar, SimConfig, SizeMode
from trade.sim.driver import run_signals
from trade.sim.margin import MARGIN_FIELDS, MarginRisk
from trade.sim.reference import ReferenceExchange
from trade.sim.signals import SignalArrays

REL = 1e-9
EIGHT_H = 8 * 3_600_000


# ----------------------------------------------------------------- strategies
@st.composite
def bar_series(draw: st.DrawFn, min_bars: int = 30, max_bars: int = 240) -> pa.Table:
    n = draw(st.integers(min_bars, max_bars))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vol = draw(st.sampled_from([0.0005, 0.003, 0.02]))
    # start a little before a funding boundary so settlements happen inside short series
    start = EIGHT_H * 2000 - 60_000 * draw(st.integers(1, 120))
    steps = np.ones(n, dtype=np.int64)
    if draw(st.booleans()):  # missing minutes, like a real feed with gaps
        steps[rng.random(n) < 0.05] = rng.integers(2, 30)
    ts = start + np.cumsum(steps) * 60_000
    rets = rng.standard_t(3, n) * vol
    close = 100.0 * np.exp(np.cumsum(rets))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1]
    gaps = rng.random(n) < 0.05  # price gaps between bars
    open_[gaps] *= np.exp(rng.normal(0, vol * 5, gaps.sum()))
    wick = np.minimum(np.abs(rng.standard_t(3, (2, n))) * vol * 0.5, 0.5)
    flat = rng.random(n) < 0.05  # zero-range bars
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    high[flat] = low[flat] = open_[flat] = close[flat]
    cols: dict[str, Any] = {
        "ts": ts.astype(np.int64),
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": rng.random(n) * 10,
    }
    if draw(st.booleans()):
        cols["funding_rate"] = rng.choice([0.0001, -0.0003, 0.0, np.nan], n)
    if draw(st.booleans()):  # a mark price near the close, sometimes missing (= the close)
        mark = close * np.exp(rng.normal(0, vol, n))
        mark[rng.random(n) < 0.1] = np.nan
        cols["mark_price"] = mark
    return pa.table(cols)


configs = st.builds(
    SimConfig,
    symbol=st.just("BTCUSDT"),
    initial_balance=st.sampled_from([1_000.0, 10_000.0]),
    leverage=st.sampled_from([1.0, 2.0, 5.0, 10.0, 25.0, 50.0]),
    taker_fee=st.sampled_from([0.0, 0.00055]),
    maker_fee=st.sampled_from([0.0, 0.0002, -0.0001]),
    slippage=st.sampled_from([0.0, 0.0005]),
    maintenance_margin_rate=st.sampled_from([0.005, 0.01]),
    funding_rate=st.sampled_from([0.0, 0.0001, -0.0002]),
    intrabar=st.sampled_from(list(Intrabar)),
    qty_step=st.sampled_from([0.0, 0.001]),
    min_qty=st.sampled_from([0.0, 0.001]),
    min_notional=st.sampled_from([0.0, 5.0]),
    tick_size=st.sampled_from([0.0, 0.01, 0.5]),
)


def _maybe(draw: st.DrawFn, rng: np.random.Generator, n: int, values: list[float]) -> np.ndarray:
    mode = draw(st.sampled_from(["zero", "const", "random"]))
    if mode == "zero":
        return np.zeros(n)
    if mode == "const":
        return np.full(n, draw(st.sampled_from(values)))
    return rng.choice(np.array([*values, 0.0, np.nan]), n)


@st.composite
def signal_sets(draw: st.DrawFn, n_bars: int) -> SignalArrays:
    step = draw(st.sampled_from([1, 3, 5, 15]))
    idx = np.arange(step - 1, n_bars, step, dtype=np.int64)
    n = len(idx)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = draw(st.sampled_from([0.05, 0.2, 0.5]))
    s = SignalArrays.empty(
        idx,
        size_mode=draw(st.sampled_from(list(SizeMode))),
        allow_flip=draw(st.booleans()),
        expire_bars=draw(st.sampled_from([0, 1, 5, 30])),
        entry_tif=draw(st.sampled_from(list(TimeInForce))),
    )
    s.entry_long[:] = rng.random(n) < p
    s.entry_short[:] = rng.random(n) < p
    s.exit_long[:] = rng.random(n) < p / 2
    s.exit_short[:] = rng.random(n) < p / 2
    if s.size_mode is SizeMode.FIXED_USDT:
        s.size_value[:] = draw(st.sampled_from([50.0, 500.0, 5_000.0, 1e9]))
    elif s.size_mode is SizeMode.PERCENT_EQUITY:
        s.size_value[:] = draw(st.sampled_from([10.0, 50.0, 100.0, 150.0]))
    else:
        s.size_value[:] = draw(st.sampled_from([0.5, 1.0, 2.0]))
    s.sl_pct[:] = _maybe(draw, rng, n, [0.002, 0.01, 0.05])
    s.tp_pct[:] = _maybe(draw, rng, n, [0.003, 0.02, 0.1])
    s.trail_pct[:] = _maybe(draw, rng, n, [0.003, 0.01])
    s.trail_activation[:] = _maybe(draw, rng, n, [0.001, 0.005, 0.02])
    s.be_activation[:] = _maybe(draw, rng, n, [0.002, 0.01])
    s.be_offset[:] = _maybe(draw, rng, n, [0.0005, 0.001])
    s.exit_pct[:] = draw(st.sampled_from([100.0, 50.0, 25.0]))
    s.entry_limit_offset[:] = _maybe(draw, rng, n, [0.001, 0.005])
    # split take-profits and limit / mark-price brackets (docs/fill_model.md rule 4, A-D)
    if draw(st.booleans()):
        s.take_profit_levels = draw(tp_levels())
    s.tp_limit, s.sl_limit, s.tp_by_mark, s.sl_by_mark = (
        draw(st.booleans()) for _ in range(4))
    return s


@st.composite
def tp_levels(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    """1-4 split take-profits: strictly increasing pcts, sizes of the remainder in (0, 1]."""
    pcts = sorted(set(draw(st.lists(st.sampled_from([0.001, 0.002, 0.003, 0.005, 0.01, 0.02]),
                                    min_size=1, max_size=4))))
    return tuple((pct, draw(st.sampled_from([0.25, 0.5, 1.0, 0.333]))) for pct in pcts)


@st.composite
def batch_cases(draw: st.DrawFn) -> tuple[pa.Table, SignalArrays, SimConfig]:
    bars = draw(bar_series())
    return bars, draw(signal_sets(bars.num_rows)), draw(configs)


# ----------------------------------------------------------------- comparison
def _close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= REL * max(abs(a), abs(b), 1.0)


def assert_tables_agree(left: pa.Table, right: pa.Table, what: str) -> None:
    assert left.schema.equals(right.schema), f"{what}: schemas differ"
    assert left.num_rows == right.num_rows, (
        f"{what}: {left.num_rows} rows vs {right.num_rows}\n"
        f"{left.to_pandas().tail(5)}\n{right.to_pandas().tail(5)}"
    )
    for name in left.column_names:
        a, b = left.column(name).to_pylist(), right.column(name).to_pylist()
        for row, (x, y) in enumerate(zip(a, b, strict=True)):
            ok = _close(x, y) if isinstance(x, float) else x == y
            assert ok, f"{what}: column {name} row {row}: {x!r} != {y!r}"


def assert_results_agree(left: Any, right: Any, what: str) -> None:
    assert_tables_agree(left.trades, right.trades, f"{what} trades")
    assert_tables_agree(left.equity, right.equity, f"{what} equity")
    assert _close(left.final_balance, right.final_balance), (
        f"{what}: final balance {left.final_balance} != {right.final_balance}"
    )
    assert_margins_agree(left.margin, right.margin, what)


def assert_margins_agree(left: MarginRisk | None, right: MarginRisk | None, what: str) -> None:
    """Counts exactly, ratios to 1e-9 relative (the idle fast path takes the exposure at the
    run's extreme marks: the last ulp of a ratio of two rounded terms may differ)."""
    assert left is not None and right is not None, f"{what}: a margin record is missing"
    for name in MARGIN_FIELDS:
        a, b = getattr(left, name), getattr(right, name)
        ok = _close(a, b) if isinstance(a, float) else a == b
        assert ok, f"{what}: margin {name}: {a!r} != {b!r}"


# ---------------------------------------------------------------------- tests
@given(batch_cases())
def test_batch_equals_step_equals_reference(case: tuple[pa.Table, SignalArrays, SimConfig]) -> None:
    bars, signals, cfg = case
    batch = run_batch(bars, signals, cfg)
    step = run_signals(SimExchange(cfg), bars, signals, cfg)
    ref = run_signals(ReferenceExchange(cfg), bars, signals, cfg)
    assert_results_agree(batch, ref, "batch vs reference")
    assert_results_agree(step, ref, "step vs reference")
    # the ledger closes: final wallet = initial + sum of net trade PnL
    net = sum(batch.trades.column("net_pnl").to_pylist())
    assert _close(cfg.initial_balance + net, batch.final_balance) or abs(
        cfg.initial_balance + net - batch.final_balance
    ) < 1e-6 * cfg.initial_balance


ORDER_TYPES = [OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT]


@st.composite
def order_actions(draw: st.DrawFn, n_bars: int) -> list[list[tuple[str, Any]]]:
    """For each bar, a list of actions to apply after it closes."""
    actions: list[list[tuple[str, Any]]] = []
    for _ in range(n_bars):
        todo: list[tuple[str, Any]] = []
        for _ in range(draw(st.integers(0, 2))):
            kind = draw(st.sampled_from(["submit", "submit", "submit", "cancel", "amend", "stop",
                                         "levels", "stop_mode"]))
            if kind == "submit":
                todo.append((kind, {
                    "side": draw(st.sampled_from([Side.BUY, Side.SELL])),
                    "type": draw(st.sampled_from(ORDER_TYPES)),
                    "qty_frac": draw(st.sampled_from([0.1, 0.5, 1.0, 3.0])),
                    "px_off": draw(st.sampled_from([-0.01, -0.002, 0.0, 0.002, 0.01])),
                    "lim_off": draw(st.sampled_from([-0.003, 0.0, 0.003])),
                    "tif": draw(st.sampled_from(list(TimeInForce))),
                    "reduce": draw(st.booleans()),
                    "sl": draw(st.sampled_from([None, 0.005, 0.02])),
                    "tp": draw(st.sampled_from([None, 0.005, 0.03])),
                    "trail": draw(st.sampled_from([None, 0.003, 0.01])),
                    "trail_act": draw(st.sampled_from([None, 0.002, 0.01])),
                    "levels": draw(st.one_of(st.just(()), tp_levels())),
                    "flags": tuple(draw(st.booleans()) for _ in range(4)),
                }))
            elif kind == "levels":
                # absolute (price offset, share of the position) pairs, limit, by_mark
                todo.append((kind, (draw(st.lists(st.tuples(
                    st.sampled_from([0.001, 0.003, 0.01, -0.002]),
                    st.sampled_from([0.2, 0.5, 1.0, 2.0])), max_size=3)),
                    draw(st.booleans()), draw(st.booleans()))))
            elif kind == "stop_mode":
                todo.append((kind, (draw(st.booleans()), draw(st.booleans()))))
            elif kind == "cancel":
                todo.append((kind, draw(st.integers(0, 5))))
            elif kind == "amend":
                pick = draw(st.integers(0, 5))
                todo.append((kind, (pick, draw(st.sampled_from([-0.004, 0.004])))))
            else:
                todo.append((kind, (draw(st.sampled_from([None, 0.0, 0.01])),
                                    draw(st.sampled_from([None, 0.0, 0.01])),
                                    draw(st.sampled_from([None, 0.0, 0.5])))))
        actions.append(todo)
    return actions


def _apply(ex: Any, action: tuple[str, Any], close: float, cfg: SimConfig) -> str:
    """Apply one action to an exchange; return a comparable outcome string."""
    kind, arg = action
    if kind == "submit":
        otype: OrderType = arg["type"]
        price = close * (1 + arg["px_off"]) if otype in (OrderType.LIMIT,) else None
        trigger = close * (1 + arg["px_off"]) if otype.is_conditional else None
        if otype is OrderType.STOP_LIMIT:
            price = close * (1 + arg["px_off"] + arg["lim_off"])
        tif = arg["tif"]
        if tif is TimeInForce.POST_ONLY and otype is not OrderType.LIMIT:
            tif = TimeInForce.GTC
        qty = round(cfg.initial_balance * arg["qty_frac"] / close, 6)
        req = OrderRequest(
            cfg.symbol, arg["side"], qty, otype, price=price, trigger_price=trigger,
            time_in_force=tif, reduce_only=arg["reduce"],
            stop_loss_offset=arg["sl"], take_profit_offset=arg["tp"],
            trailing_offset=arg["trail"],
            trailing_activation=arg["trail_act"] if arg["trail"] is not None else None,
            take_profit_levels=arg["levels"], tp_limit=arg["flags"][0], sl_limit=arg["flags"][1],
            tp_by_mark=arg["flags"][2], sl_by_mark=arg["flags"][3],
        )
        order = ex.submit(req)
        return f"submit {order.order_id} {order.status.name} {order.reject_reason!r}"
    opens = ex.open_orders()
    if kind == "cancel":
        if not opens:
            return "cancel none"
        target = opens[arg % len(opens)]
        return f"cancel {ex.cancel(target.order_id).status.name}"
    if kind == "amend":
        k, off = arg
        priced = [o for o in opens if o.request.price is not None]
        if not priced:
            return "amend none"
        target = priced[k % len(priced)]
        assert target.request.price is not None
        try:
            order = ex.amend(target.order_id, price=target.request.price * (1 + off))
        except ValueError as exc:
            return f"amend refused {type(exc).__name__}"
        return f"amend {order.status.name} {order.request.price:.10g}"
    pos = ex.position()
    if kind == "levels":
        offs, limit, by_mark = arg
        if pos.side == 0:
            return "levels flat"
        ex.set_take_profit_levels(
            [(pos.entry_price * (1 + off * pos.side), pos.size * share) for off, share in offs],
            limit=limit, by_mark=by_mark)
        return f"levels {len(ex.take_profit_levels())}"
    if kind == "stop_mode":
        if pos.side == 0:
            return "stop mode flat"
        ex.set_stop_mode(limit=arg[0], by_mark=arg[1])
        return "stop mode set"
    tp, sl, trail = arg
    if pos.side == 0:
        return "stop flat"
    ex.set_trading_stop(
        take_profit=None if tp is None else (pos.entry_price * (1 + tp * pos.side) if tp else 0.0),
        stop_loss=None if sl is None else (pos.entry_price * (1 - sl * pos.side) if sl else 0.0),
        trailing_distance=None if trail is None else trail,
    )
    return "stop set"


def _snapshot(ex: Any) -> tuple[Any, ...]:
    pos, bal = ex.position(), ex.balance()
    orders = tuple((o.order_id, o.status.name, round(o.filled_qty, 9)) for o in ex.open_orders())
    levels = tuple(x for level in ex.take_profit_levels() for x in level)
    return (pos.side, pos.size, pos.entry_price, pos.stop_loss, pos.take_profit,
            pos.trailing_stop, bal.wallet_balance, bal.equity, bal.used_margin, orders, *levels)


def _snapshots_agree(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(
        _close(x, y) if isinstance(x, float) else x == y for x, y in zip(a, b, strict=True)
    )


@given(st.data())
def test_step_engine_equals_reference_on_random_order_streams(data: st.DataObject) -> None:
    bars = data.draw(bar_series(min_bars=20, max_bars=120))
    cfg = data.draw(configs)
    actions = data.draw(order_actions(bars.num_rows))
    fast, ref = SimExchange(cfg), ReferenceExchange(cfg)
    rows = bars.to_pylist()
    for i, row in enumerate(rows):
        args = (row["ts"], row["open"], row["high"], row["low"], row["close"], row["volume"])
        fr = row.get("funding_rate", math.nan)
        fr = math.nan if fr is None else fr
        mk = row.get("mark_price", math.nan)
        mk = math.nan if mk is None else mk
        fast.on_bar(*args, mark_price=mk, funding_rate=fr)
        ref.on_bar(*args, mark_price=mk, funding_rate=fr)
        a, b = _snapshot(fast), _snapshot(ref)
        assert _snapshots_agree(a, b), f"after bar {i}: {a} != {b}"
        for action in actions[i]:
            out_fast = _apply(fast, action, row["close"], cfg)
            out_ref = _apply(ref, action, row["close"], cfg)
            assert out_fast == out_ref, f"bar {i} action {action}: {out_fast} != {out_ref}"
    fast.finish()
    ref.finish()
    assert_tables_agree(fast.trade_log(), ref.trade_log(), "trades")
    assert_tables_agree(fast.equity_curve(), ref.equity_curve(), "equity")
