"""The one adapter interface (docs/architecture.md, invariant 3).

PlayEngine only sees this protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from trade._kernels.position import Position
from trade.core.models import AdapterEvent, Balance, Order, OrderRequest


@runtime_checkable
class ExchangeAdapter(Protocol):
    """Backtest, paper and live adapters all implement this.

    Calls return at once; what the exchange does with an order arrives later as
    events (`OrderUpdate`, `FillEvent`, `PositionUpdate`, `BalanceUpdate`),
    collected with `drain_events()` in the order they happened.
    """

    def submit(self, request: OrderRequest) -> Order:
        """Place an order; returns its first known state (Created/New/Untriggered/Rejected)."""
        ...

    def cancel(self, symbol: str, order_id: str) -> Order: ...

    def amend(
        self,
        symbol: str,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order: ...

    def set_trading_stop(
        self,
        symbol: str,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None:
        """Attach (or with 0, clear) TP/SL/trailing stop on the open position.

        `trailing_active_price` (Bybit's activePrice) keeps a new trail unarmed until the
        price reaches it.
        """
        ...

    def open_orders(self, symbol: str) -> list[Order]: ...

    def position(self, symbol: str) -> Position: ...

    def balance(self) -> Balance: ...

    def drain_events(self) -> list[AdapterEvent]: ...
