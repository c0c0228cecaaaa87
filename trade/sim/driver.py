"""Drive any step-API exchange from precomputed signals (the rules in trade/sim/signals.py).

This is the readable twin of the compiled batch loop: `run_signals(SimExchange(cfg), ...)`
and `run_signals(ReferenceExchange(cfg), ...)` must both equal `run_batch(...)`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core.enums import OrderStatus
from trade.core.models import Order
from trade.sim.config import SimConfig
from trade.sim.margin import MarginTracker
from trade.sim.results import BatchResult
from trade.sim.rowact import EntrySpec, EntryState, RowIntent, act_on_row, entry_qty
from trade.sim.signals import SignalArrays
from trade.sim.step import StepEngine

# the driver accepts any step engine (compiled or reference)
StepExchange = StepEngine


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
    state = EntryState()
    margin = MarginTracker()
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
        track_margin(margin, exchange, float(lo[i]), float(h[i]),
                     float(mark[i]) if mark is not None else math.nan, float(c[i]))
        if j >= len(exec_idx) or exec_idx[j] != i:
            continue
        entry = _act(exchange, signals, j, i, float(c[i]), config, state)
        if entry is not None:
            margin.on_entry(rejected=entry.status is OrderStatus.REJECTED)
        j += 1
    exchange.finish()
    exchange.drain_events()
    return BatchResult(
        exchange.trade_log(), exchange.equity_curve(), exchange.balance().wallet_balance,
        margin.result(),
    )


def track_margin(tracker: MarginTracker, exchange: StepExchange, low: float, high: float,
                 mark: float, close: float) -> None:
    """Feed `tracker` the 1m bar `exchange` has just processed (its state after rules 1-7)."""
    pos = exchange.position()
    if pos.side == 0:
        return
    bal = exchange.balance()
    tracker.on_bar(equity=bal.equity, used_margin=bal.used_margin, side=pos.side,
                   size=pos.size, mark=close if math.isnan(mark) else mark,
                   liq_price=pos.liq_price, low=low, high=high)


def _act(
    ex: StepExchange,
    s: SignalArrays,
    j: int,
    i: int,
    ref: float,
    cfg: SimConfig,
    state: EntryState,
) -> Order | None:
    def entry_for(direction: int, equity: float) -> EntrySpec | None:
        sl = _nz(float(s.sl_pct[j]))
        qty = entry_qty(
            s.size_mode, float(s.size_value[j]), equity=equity, ref=ref, sl=sl,
            leverage=cfg.leverage, taker_fee=cfg.taker_fee, qty_step=cfg.qty_step,
            min_qty=cfg.min_qty, min_notional=cfg.min_notional,
        )
        return EntrySpec(
            qty, sl, _nz(float(s.tp_pct[j])), _nz(float(s.trail_pct[j])),
            _nz(float(s.be_activation[j])), _nz(float(s.be_offset[j])),
            _nz(float(s.entry_limit_offset[j])), _nz(float(s.trail_activation[j])),
        )

    intent = RowIntent(
        bool(s.entry_long[j]), bool(s.entry_short[j]), bool(s.exit_long[j]),
        bool(s.exit_short[j]), float(s.exit_pct[j]),
    )
    return act_on_row(
        ex, cfg.symbol, intent, bar=i, ref=ref, state=state, allow_flip=s.allow_flip,
        expire_bars=s.expire_bars, qty_step=cfg.qty_step, entry_for=entry_for,
        entry_tif=s.entry_tif, tick=cfg.tick_size,
    )
