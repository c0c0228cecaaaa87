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

    Trades one symbol (`config.symbol`) on one account; `exchange` defaults to a new
    `SimExchange(config)`. Single-threaded: the engine thread that owns it makes every call.
    """

    def __init__(self, config: SimConfig, exchange: SimExchange | None = None) -> None:
        self.config = config
        self.exchange = exchange if exchange is not None else SimExchange(config)

    @property
    def symbol(self) -> str:
        """The one symbol this adapter trades (the config's); other symbols raise ValueError."""
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
        """End the run: the simulator closes an open position at the last close (end_of_data)."""
        self.exchange.finish()

    def submit(self, request: OrderRequest) -> Order:
        """Place an order on the simulator (`trade.sim.StepEngine.submit`); ValueError for
        another symbol."""
        self._check(request.symbol)
        order: Order = self.exchange.submit(request)
        return order

    def cancel(self, symbol: str, order_id: str) -> Order:
        """Cancel an open order; ValueError for another symbol, an unknown or closed order."""
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
        """Change an open order's qty, price or trigger price (`StepEngine.amend`);
        ValueError for another symbol or what the simulator refuses."""
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
        """Set the position's take-profit, stop-loss or trailing stop
        (`StepEngine.set_trading_stop`); ValueError for another symbol or without a position."""
        self._check(symbol)
        self.exchange.set_trading_stop(
            take_profit=take_profit,
            stop_loss=stop_loss,
            trailing_distance=trailing_distance,
            trailing_active_price=trailing_active_price,
        )

    def open_orders(self, symbol: str) -> list[Order]:
        """The resting (not yet final) orders; ValueError for another symbol."""
        self._check(symbol)
        orders: list[Order] = self.exchange.open_orders()
        return orders

    def position(self, symbol: str) -> Position:
        """The position after the last bar; ValueError for another symbol."""
        self._check(symbol)
        pos: Position = self.exchange.position()
        return pos

    def balance(self) -> Balance:
        """The account's wallet balance, equity and margin after the last bar."""
        bal: Balance = self.exchange.balance()
        return bal

    def drain_events(self) -> list[AdapterEvent]:
        """The simulator's events since the last call, in the order they happened."""
        events: list[AdapterEvent] = self.exchange.drain_events()
        return events


class PaperAdapter(BacktestAdapter):
    """The same simulator fed by live 1m bars (call `step` as each bar closes).

    Single-threaded like BacktestAdapter: the live runner's engine thread owns it."""
