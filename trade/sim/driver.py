"""Drive any step-API exchange from precomputed signals (the rules in trade/sim/signals.py).

This is the readable twin of the compiled batch loop: `run_signals(SimExchange(cfg), ...)`
and `run_signals(ReferenceExchange(cfg), ...)` must both equal `run_batch(...)`.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core.enums import OrderStatus, OrderType
from trade.core.models import Order
from trade.sim.config import SimConfig
from trade.sim.margin import MarginTracker
from trade.sim.reference import ReferenceExchange
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
    *,
    equity_offset: float = 0.0,
    alloc: float = 1.0,
) -> Order | None:
    # entries are sized on the account's equity (a portfolio adds the other members' wallet
    # changes and unrealised PnL: equity_offset) times the member's allocation
    def entry_for(direction: int, equity: float) -> EntrySpec | None:
        sl = _nz(float(s.sl_pct[j]))
        qty = entry_qty(
            s.size_mode, float(s.size_value[j]), equity=(equity + equity_offset) * alloc,
            ref=ref, sl=sl,
            leverage=cfg.leverage, taker_fee=cfg.taker_fee, qty_step=cfg.qty_step,
            min_qty=cfg.min_qty, min_notional=cfg.min_notional,
        )
        return EntrySpec(
            qty, sl, _nz(float(s.tp_pct[j])), _nz(float(s.trail_pct[j])),
            _nz(float(s.be_activation[j])), _nz(float(s.be_offset[j])),
            _nz(float(s.entry_limit_offset[j])), _nz(float(s.trail_activation[j])),
            s.take_profit_levels, s.tp_limit, s.sl_limit, s.tp_by_mark, s.sl_by_mark,
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


def _pending_margin(ex: ReferenceExchange, cfg: SimConfig) -> float:
    """Margin and taker fee the unfilled market orders will take at the last close."""
    total = 0.0
    pos = ex.position()
    ref = ex.last_close
    for o in ex.open_orders():
        req = o.request
        if req.reduce_only or req.order_type is not OrderType.MARKET:
            continue
        opening = req.qty - o.filled_qty
        if pos.side != 0 and int(req.side) != pos.side:
            opening = opening - pos.size
        if opening > 0.0:
            total += opening * ref / cfg.leverage + opening * ref * cfg.taker_fee
    return total


def run_portfolio_signals(exchanges: list[ReferenceExchange], bars: list[pa.Table],
                          signals: list[SignalArrays], configs: list[SimConfig],
                          allocs: list[float]) -> list[BatchResult]:
    """The readable twin of `trade.sim.portfolio.run_portfolio` on reference exchanges.

    Minute by minute over the union of the members' minutes: every member with a bar in the
    minute processes it, then the members whose signal row acts after that minute do so in
    member order, each seeing the rest of the account (the others' wallet changes, margin in
    use and unrealised PnL, summed in member order) in its margin check and its sizing."""
    m = len(exchanges)
    cols = []
    for b in bars:
        n = b.num_rows
        cols.append((
            b.column("ts").to_numpy().astype(np.int64, copy=False),
            *(_column(b, k) for k in ("open", "high", "low", "close")),
            _column(b, "volume") if "volume" in b.column_names else np.zeros(n),
            _column(b, "mark_price") if "mark_price" in b.column_names else None,
            _column(b, "funding_rate") if "funding_rate" in b.column_names else None,
        ))
    for s, b in zip(signals, bars, strict=True):
        s.validate(b.num_rows)
    minutes: npt.NDArray[np.int64] = np.unique(np.concatenate([c[0] for c in cols]))
    row = [0] * m  # each member's next bar
    j = [0] * m  # each member's next signal row
    states = [EntryState() for _ in range(m)]
    trackers = [MarginTracker() for _ in range(m)]
    for t in minutes:
        acted: list[int] = []
        for k in range(m):
            ts, o, h, lo, c, vol, mark, fund = cols[k]
            i = row[k]
            if i >= len(ts) or ts[i] != t:
                continue
            ex = exchanges[k]
            ex.on_bar(int(ts[i]), float(o[i]), float(h[i]), float(lo[i]), float(c[i]),
                      float(vol[i]), float(mark[i]) if mark is not None else math.nan,
                      float(fund[i]) if fund is not None else math.nan)
            ex.drain_events()
            track_margin(trackers[k], ex, float(lo[i]), float(h[i]),
                         float(mark[i]) if mark is not None else math.nan, float(c[i]))
            row[k] = i + 1
            idx = signals[k].exec_close_idx
            if j[k] < len(idx) and idx[j[k]] == i:
                acted.append(k)
        for k in acted:
            ex = exchanges[k]
            w = used = upnl = 0.0
            for q in range(m):
                if q == k:
                    continue
                bal = exchanges[q].balance()
                w += bal.wallet_balance - configs[q].initial_balance
                used += bal.used_margin + _pending_margin(exchanges[q], configs[q])
                upnl += exchanges[q].position().unrealized_pnl
            ex.others_wallet, ex.others_used = w, used
            i = row[k] - 1
            entry = _act(ex, signals[k], j[k], i, float(cols[k][4][i]), configs[k], states[k],
                         equity_offset=w + upnl, alloc=allocs[k])
            if entry is not None:
                trackers[k].on_entry(rejected=entry.status is OrderStatus.REJECTED)
            j[k] += 1
    out = []
    for ex, tracker in zip(exchanges, trackers, strict=True):
        ex.finish()
        ex.drain_events()
        out.append(BatchResult(ex.trade_log(), ex.equity_curve(),
                               ex.balance().wallet_balance, tracker.result()))
    return out
