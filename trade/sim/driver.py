"""Drive any step-API exchange from precomputed signals (the rules in trade/sim/signals.py).

This is the readable twin of the compiled batch loop: `run_signals(SimExchange(cfg), ...)`
and `run_signals(ReferenceExchange(cfg), ...)` must both equal `run_batch(...)`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core.enums import OrderType, Side, TimeInForce
from trade.core.models import OrderRequest
from trade.sim.config import SimConfig, SizeMode
from trade.sim.results import BatchResult
from trade.sim.signals import SignalArrays
from trade.sim.step import StepEngine

# the driver accepts any step engine (compiled or reference)
StepExchange = StepEngine


def _floor_step(qty: float, step: float) -> float:
    if step <= 0:
        return qty
    return math.floor(qty / step + 1e-9) * step


def _nz(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def _column(bars: pa.Table, name: str) -> npt.NDArray[np.float64]:
    values: npt.NDArray[np.float64] = np.asarray(bars.column(name).to_numpy(), dtype=np.float64)
    return values


def run_signals(
    exchange: StepExchange, bars: pa.Table, signals: SignalArrays, config: SimConfig
) -> BatchResult:
    """Walk the 1m bars through `exchange`, acting on `signals` at each exec close."""
    n = bars.num_rows
    signals.validate(n)
    ts = bars.column("ts").to_numpy().astype(np.int64, copy=False)
    o, h, lo, c = (_column(bars, k) for k in ("open", "high", "low", "close"))
    vol = _column(bars, "volume") if "volume" in bars.column_names else np.zeros(n)
    mark = _column(bars, "mark_price") if "mark_price" in bars.column_names else None
    fund = _column(bars, "funding_rate") if "funding_rate" in bars.column_names else None
    exec_idx = signals.exec_close_idx
    j = 0
    entry_order: str = ""
    entry_placed_bar = -1
    for i in range(n):
        exchange.on_bar(
            int(ts[i]),
            float(o[i]),
            float(h[i]),
            float(lo[i]),
            float(c[i]),
            float(vol[i]),
            float(mark[i]) if mark is not None else math.nan,
            float(fund[i]) if fund is not None else math.nan,
        )
        exchange.drain_events()
        if j >= len(exec_idx) or exec_idx[j] != i:
            continue
        entry_order, entry_placed_bar = _act(
            exchange, signals, j, i, float(c[i]), config, entry_order, entry_placed_bar
        )
        j += 1
    exchange.finish()
    exchange.drain_events()
    return BatchResult(
        exchange.trade_log(), exchange.equity_curve(), exchange.balance().wallet_balance
    )


def _act(
    ex: StepExchange,
    s: SignalArrays,
    j: int,
    i: int,
    ref: float,
    cfg: SimConfig,
    entry_order: str,
    entry_placed_bar: int,
) -> tuple[str, int]:
    open_ids = {o.order_id for o in ex.open_orders()}
    resting = entry_order in open_ids
    # 1. an entry limit past its expiry is cancelled
    if resting and s.expire_bars > 0 and i - entry_placed_bar >= s.expire_bars:
        ex.cancel(entry_order)
        resting = False
    # 2. exits
    pos = ex.position()
    held, remaining = pos.side, pos.size
    if pos.side != 0 and ((pos.side > 0 and s.exit_long[j]) or (pos.side < 0 and s.exit_short[j])):
        pct = _nz(float(s.exit_pct[j]))
        qty = pos.size if pct >= 100 else _floor_step(pos.size * pct / 100, cfg.qty_step)
        if qty > 0:
            side = Side.SELL if pos.side > 0 else Side.BUY
            ex.submit(OrderRequest(cfg.symbol, side, qty, reduce_only=True))
            remaining = pos.size - qty
    # entries see the position net of this row's exit: a full exit leaves it flat
    if remaining <= 0:
        held = 0
    # 3. entries
    want_long, want_short = bool(s.entry_long[j]), bool(s.entry_short[j])
    if want_long == want_short or resting:
        return entry_order, entry_placed_bar
    direction = 1 if want_long else -1
    flip_qty = 0.0
    if held == direction:
        return entry_order, entry_placed_bar
    if held == -direction:
        if not s.allow_flip:
            return entry_order, entry_placed_bar
        flip_qty = remaining
    equity = ex.balance().equity
    sl = _nz(float(s.sl_pct[j]))
    value = float(s.size_value[j])
    if s.size_mode is SizeMode.FIXED_USDT:
        notional = value
    elif s.size_mode is SizeMode.PERCENT_EQUITY:
        notional = equity * value / 100 * cfg.leverage
    else:
        if sl <= 0:
            return entry_order, entry_placed_bar  # risk-based sizing needs a stop
        notional = equity * value / 100 / sl
    # capped so that the margin plus the opening taker fee fit in equity
    notional = min(notional, equity * cfg.leverage / (1 + cfg.leverage * cfg.taker_fee))
    qty = _floor_step(notional / ref, cfg.qty_step)
    if qty <= 0 or qty < cfg.min_qty or qty * ref < cfg.min_notional:
        return entry_order, entry_placed_bar
    offset = _nz(float(s.entry_limit_offset[j]))
    tp = _nz(float(s.tp_pct[j]))
    trail = _nz(float(s.trail_pct[j]))
    be_act = _nz(float(s.be_activation[j]))
    side = Side.BUY if direction > 0 else Side.SELL
    brackets: dict[str, object] = {
        "stop_loss_offset": sl if sl > 0 else None,
        "take_profit_offset": tp if tp > 0 else None,
        "trailing_offset": trail if trail > 0 else None,
        "break_even_activation": be_act if be_act > 0 else None,
        "break_even_offset": _nz(float(s.be_offset[j])),
    }
    if offset > 0 and flip_qty == 0:
        price = ref * (1 - offset) if direction > 0 else ref * (1 + offset)
        order = ex.submit(
            OrderRequest(
                cfg.symbol,
                side,
                qty,
                OrderType.LIMIT,
                price=price,
                time_in_force=TimeInForce.GTC,
                **brackets,  # type: ignore[arg-type]
            )
        )
        if order.is_open:
            return order.order_id, i
        return entry_order, entry_placed_bar
    ex.submit(OrderRequest(cfg.symbol, side, qty + flip_qty, **brackets))  # type: ignore[arg-type]
    return entry_order, entry_placed_bar
