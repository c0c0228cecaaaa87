"""One row of signals -> orders through a venue: steps 1-3 of the rules in trade/sim/signals.py.

The rules themselves are written once, in the compiled kernel (trade/_kernels/batch.pyx, the
very functions its batch loop acts with, exposed by trade._kernels.sim as `row_orders`,
`entry_qty`, `entry_order`); this module only reads the venue's state, asks them, and turns
their answer into OrderRequests.
The reference batch driver (over a step engine) and PlayEngine (over any ExchangeAdapter,
live included) act through `act_on_row`; the differential and parity tests hold the paths
together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from trade._kernels import sim as _sim
from trade._kernels.position import Position
from trade.core.enums import OrderType, Side, TimeInForce
from trade.core.models import Balance, Order, OrderRequest
from trade.sim.config import SizeMode


class OrderVenue(Protocol):
    """The few calls a row needs, on one symbol (a step engine, or an adapter bound to one)."""

    def submit(self, request: OrderRequest) -> Order: ...

    def cancel(self, order_id: str) -> Order: ...

    def position(self) -> Position: ...

    def balance(self) -> Balance: ...

    def open_orders(self) -> list[Order]: ...


@dataclass(frozen=True, slots=True)
class RowIntent:
    """What a row of signals asks for."""

    entry_long: bool = False
    entry_short: bool = False
    exit_long: bool = False
    exit_short: bool = False
    exit_pct: float = 100.0


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """A sized entry with its brackets (fractions of the fill price; 0 = none)."""

    qty: float
    sl: float = 0.0
    tp: float = 0.0
    trail: float = 0.0
    be_activation: float = 0.0
    be_offset: float = 0.0
    limit_offset: float = 0.0
    trail_activation: float = 0.0  # fraction of entry the price must move before the trail arms
    # split take-profits ((pct, size) pairs; they replace `tp`) and limit / mark brackets
    # (OrderRequest's fields of the same names)
    take_profit_levels: tuple[tuple[float, float], ...] = ()
    tp_limit: bool = False
    sl_limit: bool = False
    tp_by_mark: bool = False
    sl_by_mark: bool = False


@dataclass(slots=True)
class EntryState:
    """The resting entry limit order a runner owns, if any."""

    order_id: str = ""
    placed_bar: int = -1


def entry_qty(
    mode: SizeMode,
    value: float,
    *,
    equity: float,
    ref: float,
    sl: float,
    leverage: float,
    taker_fee: float,
    qty_step: float,
    min_qty: float,
    min_notional: float,
) -> float:
    """Quantity of a new entry at reference price `ref` (0 = skip the entry): the kernel's."""
    return _sim.entry_qty(int(mode), value, equity, ref, sl, leverage, taker_fee, qty_step,
                          min_qty, min_notional)


def act_on_row(
    venue: OrderVenue,
    symbol: str,
    intent: RowIntent,
    *,
    bar: int,
    ref: float,
    state: EntryState,
    allow_flip: bool,
    expire_bars: int,
    qty_step: float,
    entry_for: Callable[[int, float], EntrySpec | None],
    entry_tif: TimeInForce = TimeInForce.GTC,
    tick: float = 0.0,
) -> Order | None:
    """Act on one row after 1m bar number `bar` closed at `ref`; returns the entry order it
    placed (its status says whether the venue rejected it), None when it placed none.

    `entry_for(direction, equity)` sizes an entry (None or qty 0 = skip); it is only called
    when an entry is due, so callers may compute brackets lazily. `entry_tif` is the time in
    force of limit entries (market entries and flips are GTC); an entry the venue cancels
    (IOC/FOK) or rejects (PostOnly crossing) is not retried.
    """
    resting = bool(state.order_id) and state.order_id in {o.order_id for o in venue.open_orders()}
    pos = venue.position()
    cancel, exit_qty, direction, flip_qty = _sim.row_orders(
        pos.side, pos.size, resting, bar, state.placed_bar, expire_bars, intent.entry_long,
        intent.entry_short, intent.exit_long, intent.exit_short, intent.exit_pct, allow_flip,
        qty_step)
    if cancel:
        venue.cancel(state.order_id)
    if exit_qty > 0:
        side = Side.SELL if pos.side > 0 else Side.BUY
        venue.submit(OrderRequest(symbol, side, exit_qty, reduce_only=True))
    if direction == 0:
        return None
    spec = entry_for(direction, venue.balance().equity)
    if spec is None or spec.qty <= 0:
        return None
    is_limit, qty, price = _sim.entry_order(direction, spec.qty, flip_qty, ref,
                                            spec.limit_offset, tick)
    side = Side.BUY if direction > 0 else Side.SELL
    brackets = {
        "stop_loss_offset": spec.sl if spec.sl > 0 else None,
        "take_profit_offset": spec.tp if spec.tp > 0 and not spec.take_profit_levels else None,
        "trailing_offset": spec.trail if spec.trail > 0 else None,
        "trailing_activation": (spec.trail_activation
                                if spec.trail > 0 and spec.trail_activation > 0 else None),
        "break_even_activation": spec.be_activation if spec.be_activation > 0 else None,
        "break_even_offset": spec.be_offset,
        "take_profit_levels": spec.take_profit_levels,
        "tp_limit": spec.tp_limit,
        "sl_limit": spec.sl_limit,
        "tp_by_mark": spec.tp_by_mark,
        "sl_by_mark": spec.sl_by_mark,
    }
    if is_limit:
        order = venue.submit(OrderRequest(
            symbol, side, qty, OrderType.LIMIT, price=price,
            time_in_force=entry_tif, **brackets,  # type: ignore[arg-type]
        ))
        if order.is_open:
            state.order_id, state.placed_bar = order.order_id, bar
        return order
    # market orders are GTC: the entry TIF is for limit entries only
    return venue.submit(OrderRequest(symbol, side, qty, **brackets))  # type: ignore[arg-type]
