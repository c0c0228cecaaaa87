"""Core types: Position, orders, fills, enums, Clock and the ExchangeAdapter protocol."""

from trade._kernels.position import Position
from trade.core.adapter import ExchangeAdapter
from trade.core.clock import Clock, SimulatedClock, WallClock
from trade.core.enums import (
    EXIT_REASONS,
    ExecType,
    ExitReason,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from trade.core.errors import InputError, TradeError
from trade.core.lifecycle import (
    IllegalTransitionError,
    can_transition,
    check_transition,
    is_terminal,
)
from trade.core.models import (
    AdapterEvent,
    Balance,
    BalanceUpdate,
    EventLog,
    Fill,
    FillEvent,
    Order,
    OrderRequest,
    OrderUpdate,
    PositionUpdate,
)

__all__ = [
    "EXIT_REASONS",
    "AdapterEvent",
    "Balance",
    "BalanceUpdate",
    "Clock",
    "EventLog",
    "ExchangeAdapter",
    "ExecType",
    "ExitReason",
    "Fill",
    "FillEvent",
    "IllegalTransitionError",
    "InputError",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "Position",
    "PositionUpdate",
    "Side",
    "SimulatedClock",
    "TimeInForce",
    "TradeError",
    "WallClock",
    "can_transition",
    "check_transition",
    "is_terminal",
]
