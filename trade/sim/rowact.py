"""One row of signals -> orders: steps 1-3 of the rules in trade/sim/signals.py, written once.

The reference batch driver (over a step engine) and PlayEngine (over any ExchangeAdapter,
live included) both act through `act_on_row`; the compiled batch loop in kernels/sim.pyx is
the only other copy, and the differential and parity tests hold the three together.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from trade._kernels.position import Position
from trade.core.enums import OrderType, Side, TimeInForce
from trade.core.models import Balance, Order, OrderRequest
from trade.sim.config import SizeMode, round_to_tick


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


@dataclass(slots=True)
class EntryState:
    """The resting entry limit order a runner owns, if any."""

    order_id: str = ""
    placed_bar: int = -1


def floor_step(qty: float, step: float) -> float:
    """Round a quantity down to the instrument's step (0 = no rounding)."""
    if step <= 0:
        return qty
    return math.floor(qty / step + 1e-9) * step


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
    """Quantity of a new entry at reference price `ref` (0 = skip the entry)."""
    if mode is SizeMode.FIXED_USDT:
        notional = value
    elif mode is SizeMode.PERCENT_EQUITY:
        notional = equity * value / 100 * leverage
    else:
        if sl <= 0:
            return 0.0  # risk-based sizing needs a stop
        notional = equity * value / 100 / sl
    # capped so that the margin plus the opening taker fee fit in equity
    notional = min(notional, equity * leverage / (1 + leverage * taker_fee))
    qty = floor_step(notional / ref, qty_step)
    if qty <= 0 or qty < min_qty or qty * ref < min_notional:
        return 0.0
    return qty


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
) -> None:
    """Act on one row after 1m bar number `bar` closed at `ref`.

    `entry_for(direction, equity)` sizes an entry (None or qty 0 = skip); it is only called
    when an entry is due, so callers may compute brackets lazily. `entry_tif` is the time in
    force of limit entries (market entries and flips are GTC); an entry the venue cancels
    (IOC/FOK) or rejects (PostOnly crossing) is not retried.
    """
    resting = bool(state.order_id) and state.order_id in {o.order_id for o in venue.open_orders()}
    # 1. an entry limit past its expiry is cancelled
    if resting and expire_bars > 0 and bar - state.placed_bar >= expire_bars:
        venue.cancel(state.order_id)
        resting = False
    # 2. exits: a reduce-only market order for exit_pct of the position (100 = all, unrounded)
    pos = venue.position()
    held, remaining = pos.side, pos.size
    if pos.side != 0 and ((pos.side > 0 and intent.exit_long) or
                          (pos.side < 0 and intent.exit_short)):
        pct = 0.0 if math.isnan(intent.exit_pct) else intent.exit_pct
        qty = pos.size if pct >= 100 else floor_step(pos.size * pct / 100, qty_step)
        if qty > 0:
            side = Side.SELL if pos.side > 0 else Side.BUY
            venue.submit(OrderRequest(symbol, side, qty, reduce_only=True))
            remaining = pos.size - qty
    # entries see the position net of this row's exit: a full exit leaves it flat
    if remaining <= 0:
        held = 0
    # 3. entries: both or neither set, or an entry limit resting -> nothing
    if intent.entry_long == intent.entry_short or resting:
        return
    direction = 1 if intent.entry_long else -1
    flip_qty = 0.0
    if held == direction:
        return  # one position per symbol
    if held == -direction:
        if not allow_flip:
            return
        flip_qty = remaining
    spec = entry_for(direction, venue.balance().equity)
    if spec is None or spec.qty <= 0:
        return
    side = Side.BUY if direction > 0 else Side.SELL
    brackets = {
        "stop_loss_offset": spec.sl if spec.sl > 0 else None,
        "take_profit_offset": spec.tp if spec.tp > 0 else None,
        "trailing_offset": spec.trail if spec.trail > 0 else None,
        # the activation only means something with a trail
        "trailing_activation": (spec.trail_activation
                                if spec.trail > 0 and spec.trail_activation > 0 else None),
        "break_even_activation": spec.be_activation if spec.be_activation > 0 else None,
        "break_even_offset": spec.be_offset,
    }
    if spec.limit_offset > 0 and flip_qty == 0:
        off = spec.limit_offset
        # the limit price is on the tick grid, as the exchange requires and live sends it
        price = round_to_tick(ref * (1 - off) if direction > 0 else ref * (1 + off), tick)
        order = venue.submit(OrderRequest(
            symbol, side, spec.qty, OrderType.LIMIT, price=price,
            time_in_force=entry_tif, **brackets,  # type: ignore[arg-type]
        ))
        if order.is_open:
            state.order_id, state.placed_bar = order.order_id, bar
        return
    # flat: open; opposite (allow_flip): one market order for the rest of the position + new size
    # (market orders are GTC: the entry TIF is for limit entries only)
    venue.submit(OrderRequest(symbol, side, spec.qty + flip_qty, **brackets))  # type: ignore[arg-type]
