"""BacktestAdapter / PaperAdapter: the ExchangeAdapter protocol over a SimExchange."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trade.core import AdapterEvent, Balance, Order, OrderRequest, Position
from trade.sim.config import SimConfig
from trade.sim.exchange import SimExchange


@dataclass(frozen=True, slots=True)
class Bar:
    """One 1m bar (ts = open time, int ms UTC)."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    mark_price: float = math.nan
    funding_rate: float = math.nan


class BacktestAdapter:
    """ExchangeAdapter over the compiled simulator, advanced with `step(bar)`.

    Single-threaded: the engine thread that owns it makes every call.
    """

    def __init__(self, config: SimConfig, exchange: SimExchange | None = None) -> None:
        self.config = config
        self.exchange = exchange if exchange is not None else SimExchange(config)

    @property
    def symbol(self) -> str:
        return self.config.symbol

    def _check(self, symbol: str) -> None:
        if symbol != self.config.symbol:
            raise ValueError(f"this adapter trades {self.config.symbol!r}, not {symbol!r}")

    def step(self, bar: Bar) -> None:
        """Advance the simulator by one 1m bar."""
        self.exchange.on_bar(
            bar.ts,
            bar.open,
            bar.high,
            bar.low,
            bar.close,
            bar.volume,
            bar.mark_price,
            bar.funding_rate,
        )

    def finish(self) -> None:
        self.exchange.finish()

    def submit(self, request: OrderRequest) -> Order:
        self._check(request.symbol)
        order: Order = self.exchange.submit(request)
        return order

    def cancel(self, symbol: str, order_id: str) -> Order:
        self._check(symbol)
        order: Order = self.exchange.cancel(order_id)
        return order

    def amend(
        self,
        symbol: str,
        order_id: str,
        *,
        qty: float | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> Order:
        self._check(symbol)
        order: Order = self.exchange.amend(
            order_id, qty=qty, price=price, trigger_price=trigger_price
        )
        return order

    def set_trading_stop(
        self,
        symbol: str,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None:
        self._check(symbol)
        self.exchange.set_trading_stop(
            take_profit=take_profit,
            stop_loss=stop_loss,
            trailing_distance=trailing_distance,
            trailing_active_price=trailing_active_price,
        )

    def open_orders(self, symbol: str) -> list[Order]:
        self._check(symbol)
        orders: list[Order] = self.exchange.open_orders()
        return orders

    def position(self, symbol: str) -> Position:
        self._check(symbol)
        pos: Position = self.exchange.position()
        return pos

    def balance(self) -> Balance:
        bal: Balance = self.exchange.balance()
        return bal

    def drain_events(self) -> list[AdapterEvent]:
        events: list[AdapterEvent] = self.exchange.drain_events()
        return events


class PaperAdapter(BacktestAdapter):
    """The same simulator fed by live 1m bars (call `step` as each bar closes)."""
