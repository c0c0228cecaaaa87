"""Order, fill and account records that cross the adapter boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from trade._kernels.position import Position
from trade.core.enums import ExecType, OrderStatus, OrderType, Side, TimeInForce
from trade.core.lifecycle import check_transition


def _finite_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _optional_price(name: str, value: float | None) -> None:
    if value is not None:
        _finite_positive(name, value)


#: the most take-profit levels a position carries (the kernel's fixed-size table)
MAX_TP_LEVELS = 16


def check_levels(levels: object) -> None:
    """Split take-profit levels: a tuple of (pct, size) with 0 < pct (strictly increasing)
    and 0 < size <= 1."""
    if not isinstance(levels, tuple):
        raise ValueError(f"take_profit_levels must be a tuple of (pct, size), got {levels!r}")
    if len(levels) > MAX_TP_LEVELS:
        raise ValueError(f"take_profit_levels holds at most {MAX_TP_LEVELS} levels, "
                         f"got {len(levels)}")
    prev = 0.0
    for k, level in enumerate(levels):
        if not (isinstance(level, tuple) and len(level) == 2):
            raise ValueError(f"take_profit_levels[{k}] must be a (pct, size) pair, got {level!r}")
        pct, size = level
        _finite_positive(f"take_profit_levels[{k}] pct", pct)
        if not pct > prev:
            raise ValueError(f"take_profit_levels pcts must be strictly increasing, "
                             f"level {k} has {pct!r} after {prev!r}")
        prev = pct
        if not (isinstance(size, int | float) and 0 < size <= 1):
            raise ValueError(f"take_profit_levels[{k}] size must be in (0, 1], got {size!r}")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a strategy asks an exchange to do. Validated on construction.

    `trigger_direction` follows Bybit: 1 = trigger when price rises to
    `trigger_price`, 2 = when it falls to it. It is inferred by adapters from
    the side when left at 0 (a buy stop triggers on a rise, a sell stop on a fall).
    """

    symbol: str
    side: Side
    qty: float
    order_type: OrderType = OrderType.MARKET
    price: float | None = None
    trigger_price: float | None = None
    trigger_direction: int = 0
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    close_on_trigger: bool = False
    take_profit: float | None = None
    stop_loss: float | None = None
    trailing_distance: float | None = None
    order_link_id: str = ""
    # Brackets relative to the opening fill price (fractions, e.g. 0.01 = 1 %). The
    # simulator applies them at the fill; the live adapter sets them with
    # trading-stop right after the fill. Take precedence over absolute levels.
    stop_loss_offset: float | None = None
    take_profit_offset: float | None = None
    trailing_offset: float | None = None
    break_even_activation: float | None = None
    break_even_offset: float = 0.0
    # The trailing stop arms only once the best price since entry has moved this fraction of
    # the entry price in favour (None = armed at the fill). Needs a trailing distance/offset.
    trailing_activation: float | None = None
    # Split take-profits (Bybit tpslMode Partial): (pct, size) pairs, pct a fraction of the
    # opening fill price (0.01 = 1 %), size a fraction 0 < size <= 1 of what the earlier
    # levels leave (the last level closes what is left). They replace take_profit(_offset).
    take_profit_levels: tuple[tuple[float, float], ...] = ()
    # the take-profit(s) are reduce-only limits at their level (Bybit tpOrderType Limit)
    tp_limit: bool = False
    # the stop loss is a reduce-only limit at its level (Bybit slOrderType Limit)
    sl_limit: bool = False
    # the take-profit(s) / stop trigger on the mark price (checked once per 1m bar)
    tp_by_mark: bool = False
    sl_by_mark: bool = False

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError("symbol must not be empty")
        if not isinstance(self.side, Side):
            raise ValueError(f"side must be a Side, got {self.side!r}")
        _finite_positive("qty", self.qty)
        needs_price = self.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        if needs_price and self.price is None:
            raise ValueError(f"{self.order_type.name} order needs a price")
        if not needs_price and self.price is not None:
            raise ValueError(f"{self.order_type.name} order takes no price (got {self.price!r})")
        _optional_price("price", self.price)
        if self.order_type.is_conditional and self.trigger_price is None:
            raise ValueError(f"{self.order_type.name} order needs a trigger_price")
        if not self.order_type.is_conditional and self.trigger_price is not None:
            raise ValueError(f"{self.order_type.name} order takes no trigger_price")
        _optional_price("trigger_price", self.trigger_price)
        if self.trigger_direction not in (0, 1, 2):
            raise ValueError(f"trigger_direction must be 0, 1 or 2, got {self.trigger_direction!r}")
        if self.time_in_force is TimeInForce.POST_ONLY and self.order_type is not OrderType.LIMIT:
            raise ValueError("PostOnly is only valid for LIMIT orders")
        _optional_price("take_profit", self.take_profit)
        _optional_price("stop_loss", self.stop_loss)
        _optional_price("trailing_distance", self.trailing_distance)
        for name in (
            "stop_loss_offset",
            "take_profit_offset",
            "trailing_offset",
            "break_even_activation",
            "trailing_activation",
        ):
            _optional_price(name, getattr(self, name))
        if not (math.isfinite(self.break_even_offset) and self.break_even_offset >= 0):
            raise ValueError(f"break_even_offset must be >= 0, got {self.break_even_offset!r}")
        if self.stop_loss_offset is not None and self.stop_loss_offset >= 1:
            raise ValueError(f"stop_loss_offset is a fraction < 1, got {self.stop_loss_offset!r}")
        if (self.trailing_activation is not None and self.trailing_offset is None
                and self.trailing_distance is None):
            raise ValueError("trailing_activation needs a trailing_offset or trailing_distance")
        if len(self.order_link_id) > 36:
            raise ValueError("order_link_id is limited to 36 characters (Bybit's limit)")
        check_levels(self.take_profit_levels)
        for name in ("tp_limit", "sl_limit", "tp_by_mark", "sl_by_mark"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a bool, got {getattr(self, name)!r}")

    @property
    def effective_trigger_direction(self) -> int:
        if self.trigger_direction:
            return self.trigger_direction
        return 1 if self.side is Side.BUY else 2


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the exchange knows it. Immutable: a status change makes a new Order."""

    order_id: str
    request: OrderRequest
    status: OrderStatus
    created_ts: int
    updated_ts: int
    filled_qty: float = 0.0
    avg_fill_price: float = 0.0
    cum_fee: float = 0.0
    reject_reason: str = ""

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def order_link_id(self) -> str:
        return self.request.order_link_id

    @property
    def leaves_qty(self) -> float:
        return max(self.request.qty - self.filled_qty, 0.0)

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal

    def moved_to(self, status: OrderStatus, ts: int, **changes: object) -> Order:
        """A copy in `status`, refusing moves the lifecycle table does not allow."""
        check_transition(self.status, status, order_id=self.order_id)
        return replace(self, status=status, updated_ts=ts, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (Bybit: an `execution` row). `fee` > 0 is paid, < 0 is a rebate."""

    exec_id: str
    order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    is_maker: bool
    ts: int
    exec_type: ExecType = ExecType.TRADE
    order_link_id: str = ""
    closed_pnl: float = 0.0


@dataclass(frozen=True, slots=True)
class Balance:
    """The USDT ledger of an isolated-margin account."""

    wallet_balance: float
    equity: float
    used_margin: float
    available_balance: float
    ts: int = 0


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    order: Order
    ts: int


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    position: Position
    ts: int


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    balance: Balance
    ts: int


@dataclass(frozen=True, slots=True)
class FillEvent:
    fill: Fill
    ts: int


#: what `ExchangeAdapter.drain_events` returns: one of the four event types
AdapterEvent = OrderUpdate | FillEvent | PositionUpdate | BalanceUpdate


@dataclass(slots=True)
class EventLog:
    """An append-only list of adapter events (handy for tests and journals)."""

    events: list[AdapterEvent] = field(default_factory=list)

    def append(self, event: AdapterEvent) -> None:
        self.events.append(event)

    def fills(self) -> list[Fill]:
        return [e.fill for e in self.events if isinstance(e, FillEvent)]
