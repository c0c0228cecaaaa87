"""Paper trading: the simulation kernel fills the Play's orders on live 1m bars.

`JournaledPaperAdapter` is `trade.sim.PaperAdapter` (the same compiled `SimExchange` the
backtest uses, so fills follow docs/fill_model.md exactly) that also writes every order,
cancel, amend, trading-stop, fill and final order state to the session's journal, in the
same records a demo or live session writes (`trade.live.journal`).

Entry holds, as in demo/live (`LiveAdapter.submit`): while `entry_hold` says why (a missed
or stale bar, set by the runner), an order that is not reduce-only is refused
(`order_refused`), unless it goes against the position: then it is sent reduce-only, at
most what is left of the position, so it can close it but never open or flip one.

Threading: engine thread only, like the adapter it extends.
"""

from __future__ import annotations

from dataclasses import replace

from trade.core import (
    AdapterEvent,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Side,
)
from trade.live.executor import trading_stop_levels
from trade.live.journal import Journal, fill_fields, order_fields, order_final_fields
from trade.sim import PaperAdapter, SimConfig


class JournaledPaperAdapter(PaperAdapter):
    """See the module docstring."""

    def __init__(self, config: SimConfig, journal: Journal) -> None:
        super().__init__(config)
        self.journal = journal
        self.placed: list[str] = []  # ids of the orders submitted, in order
        self.fills = 0
        self.entry_hold = ""  # why the bar being decided may not enter (set by the runner)
        self.refused = 0

    def submit(self, request: OrderRequest) -> Order:
        if self.entry_hold and not request.reduce_only:
            held = self._held(request)
            if held is None:
                self.refused += 1
                link = request.order_link_id or f"held-{self.refused}"
                self.journal.write("order_refused", link=link,
                                   reason=f"entry held: {self.entry_hold}",
                                   side=request.side.bybit, qty=request.qty)
                return Order(link, replace(request, order_link_id=link), OrderStatus.REJECTED,
                             0, 0, reject_reason=f"entry held: {self.entry_hold}")
            request = held
        order = super().submit(request)
        self.placed.append(order.order_id)
        self.journal.write("order", **order_fields(order.order_id, request))
        return order

    def _held(self, request: OrderRequest) -> OrderRequest | None:
        """While entries are held: the closing part of `request` (reduce-only), or None."""
        pos = self.position(request.symbol)
        direction = 1 if request.side is Side.BUY else -1
        room = pos.size - sum(o.leaves_qty for o in self.open_orders(request.symbol)
                              if o.request.reduce_only and o.request.side is request.side)
        if pos.side != -direction or room <= 0:
            return None
        size = min(request.qty, room)
        self.journal.write("order_trimmed", reason=self.entry_hold, side=request.side.bybit,
                           qty=request.qty, to=size)
        return OrderRequest(request.symbol, request.side, size, reduce_only=True,
                            order_link_id=request.order_link_id)

    def cancel(self, symbol: str, order_id: str) -> Order:
        order = super().cancel(symbol, order_id)
        self.journal.write("cancel", link=order_id)
        return order

    def amend(self, symbol: str, order_id: str, *, qty: float | None = None,
              price: float | None = None, trigger_price: float | None = None) -> Order:
        order = super().amend(symbol, order_id, qty=qty, price=price,
                              trigger_price=trigger_price)
        self.journal.write("amend", link=order_id, qty=qty, price=price, trigger=trigger_price)
        return order

    def set_trading_stop(self, symbol: str, *, take_profit: float | None = None,
                         stop_loss: float | None = None,
                         trailing_distance: float | None = None,
                         trailing_active_price: float | None = None) -> None:
        super().set_trading_stop(symbol, take_profit=take_profit, stop_loss=stop_loss,
                                 trailing_distance=trailing_distance,
                                 trailing_active_price=trailing_active_price)
        levels = trading_stop_levels(take_profit, stop_loss, trailing_distance,
                                     trailing_active_price)
        self.journal.write("trading_stop", **levels)

    def drain_events(self) -> list[AdapterEvent]:
        events = super().drain_events()
        for ev in events:
            if isinstance(ev, FillEvent):
                self.fills += 1
                self.journal.write("fill", **fill_fields(ev.fill))
            elif isinstance(ev, OrderUpdate) and ev.order.status.is_terminal:
                self.journal.write("order_final", **order_final_fields(ev.order))
        return events


__all__ = ["JournaledPaperAdapter"]
