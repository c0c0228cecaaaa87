"""trade: a Bybit USDT-perpetual engine; one YAML Play runs in backtest, paper, demo and live."""

from trade.core import (
    Clock,
    ExchangeAdapter,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ExchangeAdapter",
    "Fill",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Position",
    "Side",
    "TimeInForce",
    "__version__",
]
