"""The one adapter interface (docs/architecture.md, invariant 3).

PlayEngine only sees this protocol."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from trade._kernels.position import Position
from trade.core.models import AdapterEvent, Balance, Order, OrderRequest


@runtime_checkable
class ExchangeAdapter(Protocol):
    """What the engine trades through: backtest, paper and live adapters all implement it.

    Calls return at once; what the exchange does with an order arrives later as
    events (`OrderUpdate`, `FillEvent`, `PositionUpdate`, `BalanceUpdate`),
    collected with `drain_events()` in the order they happened. An adapter trades one
    account; `symbol` arguments name the instrument (an adapter bound to one symbol
    refuses others). Implementations: `trade.sim.BacktestAdapter`,
    `trade.sim.PaperAdapter`, `trade.live.JournaledPaperAdapter`,
    `trade.live.LiveAdapter`, `trade.live.runner.NullAdapter` (docs/architecture.md,
    "The one adapter interface").
    """

    def submit(self, request: OrderRequest) -> Order:
        """Place an order.

        Parameters
        ----------
        request : OrderRequest
            The order, validated on construction; brackets relative to the fill price
            (`stop_loss_offset`, ...) are applied by the adapter at the opening fill.

        Returns
        -------
        Order
            Its first known state: Created (not yet acknowledged), New, Untriggered (a
            conditional order) or Rejected (`reject_reason` says why). Fills follow as
            events.
        """
        ...

    def cancel(self, symbol: str, order_id: str) -> Order:
        """Cancel a resting order.

        Parameters
        ----------
        symbol : str
            The order's instrument.
        order_id : str
            The id `submit` returned.

        Returns
        -------
        Order
            The order as now known (Cancelled or Deactivated once the exchange confirms;
            a live adapter may return it unchanged and report the move as an event).

        Raises
        ------
        KeyError
            No order with that id is known (the warm-up adapter knows none).
        """
        ...

    def amend(
        self,
        symbol: str,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        """Change a resting order in place (None leaves a field as it is).

        Parameters
        ----------
        symbol : str
            The order's instrument.
        order_id : str
            The id `submit` returned.
        qty, price, trigger_price : float, optional
            The new quantity, limit price, trigger price.

        Returns
        -------
        Order
            The order as now known.

        Raises
        ------
        KeyError
            No order with that id is known.
        """
        ...

    def set_trading_stop(
        self,
        symbol: str,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None:
        """Attach, change or (with 0) clear the open position's TP, SL and trailing stop.

        Parameters
        ----------
        symbol : str
            The position's instrument.
        take_profit, stop_loss : float, optional
            Price levels; None leaves a level as it is, 0 clears it.
        trailing_distance : float, optional
            The trail in price units; 0 clears it.
        trailing_active_price : float, optional
            Bybit's activePrice: a new trail stays unarmed until the price reaches it.
        """
        ...

    def open_orders(self, symbol: str) -> list[Order]:
        """The resting (non-terminal) orders of `symbol`, oldest first."""
        ...

    def position(self, symbol: str) -> Position:
        """The position of `symbol` (a flat one, size 0, when none is open)."""
        ...

    def balance(self) -> Balance:
        """The account's wallet balance, equity and available margin (USDT)."""
        ...

    def drain_events(self) -> list[AdapterEvent]:
        """Every event since the last call, in the order it happened (then forgotten).

        Returns
        -------
        list of AdapterEvent
            `OrderUpdate`, `FillEvent`, `PositionUpdate` and `BalanceUpdate` instances.
        """
        ...
