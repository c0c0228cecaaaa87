"""The step API every simulator implements: the compiled SimExchange and the reference.

The batch driver, the exchange simulator and the backtest adapter accept any engine of
this shape, so the reference simulator can stand in for the kernel anywhere.
"""

from __future__ import annotations

import math
from typing import Protocol

import pyarrow as pa

from trade._kernels.position import Position
from trade.core.models import AdapterEvent, Balance, Order, OrderRequest


class StepEngine(Protocol):
    """One symbol's exchange, advanced one 1m bar at a time (docs/fill_model.md)."""

    def submit(self, request: OrderRequest) -> Order: ...

    def cancel(self, order_id: str) -> Order: ...

    def amend(
        self,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order: ...

    def set_trading_stop(
        self,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None: ...

    def set_leverage(self, leverage: float) -> None: ...

    def reject_code(self, order_id: str) -> int: ...

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
    ) -> None: ...

    def on_bar_open(self, ts: int, open: float) -> None: ...

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
    ) -> None: ...

    def finish(self) -> None: ...

    def position(self) -> Position: ...

    def balance(self) -> Balance: ...

    def open_orders(self) -> list[Order]: ...

    def drain_events(self) -> list[AdapterEvent]: ...

    def trade_log(self) -> pa.Table: ...

    def equity_curve(self) -> pa.Table: ...
