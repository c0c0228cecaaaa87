"""The step API every simulator implements: the compiled SimExchange and the reference.

The batch driver, the exchange simulator and the backtest adapter accept any engine of
this shape, so the reference simulator can stand in for the kernel anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

from trade._kernels.position import Position
from trade.core.models import AdapterEvent, Balance, Order, OrderRequest


class StepEngine(Protocol):
    """One symbol's exchange, advanced one 1m bar at a time (docs/fill_model.md).

    Implemented by the compiled `trade.sim.SimExchange` and by
    `trade.sim.reference.ReferenceExchange` (which must agree bar for bar). Not
    thread-safe: one thread owns an engine and makes every call. Orders wait for the next
    bar; each bar is given whole (`on_bar`) or split (`on_bar_open`, then `on_bar_rest`)."""

    def submit(self, request: OrderRequest) -> Order:
        """Place an order at the current simulated time.

        Returns the order in its first state: New, Untriggered (a conditional order) or
        Rejected with `reject_reason` (see `reject_code`); nothing fills before the next bar
        (a market order fills at its open). ValueError when the request is not an
        OrderRequest or names another symbol."""

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order: Cancelled, or Deactivated for an untriggered conditional
        order. ValueError when the id is unknown or the order is no longer open."""

    def amend(
        self,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        """Change the quantity, limit price or trigger price of an open order (None keeps
        a value). ValueError when the order is unknown or not open, the new quantity does
        not exceed the filled one, the order has no price or pending trigger to change, or
        a post-only order would cross."""

    def set_trading_stop(
        self,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None:
        """Set, change or clear (0) the open position's take-profit, stop-loss and
        trailing stop (None leaves a value as it is). ValueError without an open position,
        for a negative value, or an activation price without a trailing distance."""

    def set_take_profit_levels(
        self, levels: Sequence[tuple[float, float]], *, limit: bool = False, by_mark: bool = False
    ) -> None:
        """Replace the open position's take-profit(s) with split levels (Bybit tpslMode
        Partial): absolute `(price, qty)` pairs, each a reduce-only take-profit of a fixed qty
        (a qty above the position's size closes it); empty clears them. `limit`: each is a
        limit at its price (tpOrderType Limit, docs/fill_model.md rule 4, B); `by_mark`: they
        trigger on the mark price once per 1m bar (rule 4, D). ValueError without an open
        position or for a price / qty that is not finite and > 0."""

    def set_stop_mode(self, *, limit: bool, by_mark: bool) -> None:
        """How the open position's stop loss and trailing stop fill: `limit` = a reduce-only
        limit at the stop (slOrderType Limit, rule 4, C), `by_mark` = triggered by the mark
        price once per 1m bar (rule 4, D). ValueError without an open position."""

    def take_profit_levels(self) -> list[tuple[float, float]]:
        """The split take-profits still to fill, nearest first, as `(price, qty)` with qty
        at most the position's size; [] when the position has none (a Full-mode take-profit
        set by `set_trading_stop` on a position without split levels is not listed)."""

    def set_leverage(self, leverage: float) -> None:
        """Change the leverage, also with an open position (its margin and liquidation
        price follow). ValueError unless a finite number >= 1."""

    def reject_code(self, order_id: str) -> int:
        """Why an order was refused or cancelled by the exchange, as a
        `trade.sim.rejects.RejectCode` number (0: it was not). ValueError for an unknown id."""

    def on_bar(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        mark_price: float = math.nan,
        funding_rate: float = math.nan,
    ) -> None:
        """Process one 1m bar: exactly `on_bar_open` followed by `on_bar_rest`.

        `ts` is the bar's open time (ms, after the previous bar's); prices finite and > 0
        with a consistent OHLC; a NaN `mark_price` means the close, a NaN `funding_rate` the
        configured constant rate. ValueError on a bad bar, after `finish()`, or while
        a split bar awaits `on_bar_rest`."""

    def on_bar_open(self, ts: int, open: float) -> None:
        """Start a 1m bar at its open: queued market orders fill at `open` (fill rule 1)
        and nothing else happens until `on_bar_rest`. Lets a caller act between the open
        and the rest of the bar. ValueError as for `on_bar`."""

    def on_bar_rest(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = 0.0,
        mark_price: float = math.nan,
        funding_rate: float = math.nan,
    ) -> None:
        """Finish the bar `on_bar_open` started (the same `ts` and `open`): triggers,
        limits, brackets, liquidation, funding and the equity row (fill rules 2-7).
        ValueError without a preceding `on_bar_open`, for another ts or open, or a bad bar."""

    def finish(self) -> None:
        """End the run: close an open position at the last close (exit reason
        end_of_data) and cancel resting orders; later calls do nothing. ValueError while
        a split bar awaits `on_bar_rest`."""

    def position(self) -> Position:
        """The position as of the last processed bar (flat: side 0), valued at the last
        mark price."""

    def balance(self) -> Balance:
        """Wallet balance, equity (with unrealised PnL at the last mark), used and
        available margin."""

    def open_orders(self) -> list[Order]:
        """The orders still open (New, PartiallyFilled, Untriggered)."""

    def drain_events(self) -> list[AdapterEvent]:
        """The order, fill, position and balance events since the last call, in the
        order they happened; the engine's buffer is emptied."""

    def trade_log(self) -> pa.Table:
        """The closed trades so far (`trade.sim.TRADE_LOG_SCHEMA`)."""

    def equity_curve(self) -> pa.Table:
        """One row per processed bar: ts, equity, wallet balance, position quantity
        (`trade.sim.EQUITY_SCHEMA`)."""
