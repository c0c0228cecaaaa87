"""NotifyingAdapter: any ExchangeAdapter, with its fills and rejections passed to a sink.

The engine keeps calling the ExchangeAdapter protocol; this wrapper forwards every call
unchanged and hands what `drain_events` returns to `sink.on_events` (a `Notifier`). An
order refused at `submit` (returned Rejected) reaches the sink at once; if the same
rejection also arrives later as an event it is not passed twice.

Threading: whatever the wrapped adapter allows (engine thread only, for all of ours).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from trade.core import (
    AdapterEvent,
    Balance,
    ExchangeAdapter,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
)


class EventSink(Protocol):
    """Receives the events a `NotifyingAdapter` drained (a `Notifier` is one)."""

    def on_events(self, events: Iterable[AdapterEvent]) -> None:
        """Take the adapter's events, in order; must not raise (the engine thread calls it).

        Parameters
        ----------
        events : iterable of AdapterEvent
            What `drain_events` returned, or a rejection seen at `submit`.
        """
        ...


class NotifyingAdapter:
    """See the module docstring."""

    def __init__(self, inner: ExchangeAdapter, sink: EventSink) -> None:
        self.inner = inner
        self.sink = sink
        self._told_rejected: set[str] = set()  # order ids whose rejection the sink has

    def submit(self, request: OrderRequest) -> Order:
        order = self.inner.submit(request)
        if order.status is OrderStatus.REJECTED:
            self._told_rejected.add(order.order_id)
            self.sink.on_events([OrderUpdate(order, order.updated_ts)])
        return order

    def cancel(self, symbol: str, order_id: str) -> Order:
        return self.inner.cancel(symbol, order_id)

    def amend(
        self,
        symbol: str,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        return self.inner.amend(symbol, order_id, qty=qty, price=price,
                                trigger_price=trigger_price)

    def set_trading_stop(
        self,
        symbol: str,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None:
        self.inner.set_trading_stop(symbol, take_profit=take_profit, stop_loss=stop_loss,
                                    trailing_distance=trailing_distance,
                                    trailing_active_price=trailing_active_price)

    def open_orders(self, symbol: str) -> list[Order]:
        return self.inner.open_orders(symbol)

    def position(self, symbol: str) -> Position:
        return self.inner.position(symbol)

    def balance(self) -> Balance:
        return self.inner.balance()

    def drain_events(self) -> list[AdapterEvent]:
        events = self.inner.drain_events()
        fresh: list[AdapterEvent] = []
        for ev in events:
            # a rejection the sink already had from submit() is not told twice
            if isinstance(ev, OrderUpdate) and ev.order.order_id in self._told_rejected:
                self._told_rejected.discard(ev.order.order_id)
                continue
            fresh.append(ev)
        if fresh:
            self.sink.on_events(fresh)
        return events


__all__ = ["EventSink", "NotifyingAdapter"]
