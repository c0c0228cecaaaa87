"""Type stubs of trade._kernels.sim: the compiled simulation kernel (docs/fill_model.md)."""

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from typing_extensions import disjoint_base

from trade._kernels.position import Position
from trade.core.models import AdapterEvent, Balance, Order, OrderRequest
from trade.sim.config import SimConfig

BAR_ERRORS: dict[int, str]
REJECT_CODES: dict[str, int]
ORDER_TYPE_CODES: dict[str, int]
TIME_IN_FORCE_CODES: dict[str, int]
EXEC_TYPE_CODES: dict[str, int]
EXIT_REASON_CODES: dict[str, int]
BAR_MESSAGES: dict[int, str]
EXIT_REASON_NAMES: tuple[str, ...]

# The batch functions take any C-contiguous buffer (int64 timestamps, float64 prices and
# outputs) through typed memoryviews; callers pass numpy arrays.
_F64 = Any
_I64 = Any

@disjoint_base
class SimExchange:
    """The compiled exchange, advanced one 1m bar at a time; one thread owns an instance."""

    config: SimConfig
    symbol: str
    def __init__(self, config: SimConfig) -> None: ...
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
    def set_leverage(self, leverage: float) -> None: ...
    def reject_code(self, order_id: str) -> int: ...
    def set_trading_stop(
        self,
        *,
        take_profit: float | None = None,
        stop_loss: float | None = None,
        trailing_distance: float | None = None,
        trailing_active_price: float | None = None,
    ) -> None: ...
    def set_take_profit_levels(
        self, levels: Sequence[tuple[float, float]], *, limit: bool = False, by_mark: bool = False
    ) -> None: ...
    def set_stop_mode(self, *, limit: bool, by_mark: bool) -> None: ...
    def take_profit_levels(self) -> list[tuple[float, float]]: ...
    def on_bar(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = ...,
        mark_price: float = ...,
        funding_rate: float = ...,
    ) -> None: ...
    def on_bar_open(self, ts: int, open: float) -> None: ...
    def on_bar_rest(
        self,
        ts: int,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float = ...,
        mark_price: float = ...,
        funding_rate: float = ...,
    ) -> None: ...
    def finish(self) -> None: ...
    def position(self) -> Position: ...
    def balance(self) -> Balance: ...
    def open_orders(self) -> list[Order]: ...
    @property
    def bars_processed(self) -> int: ...
    def drain_events(self) -> list[AdapterEvent]: ...
    def trade_log(self) -> pa.Table: ...
    def equity_curve(self) -> pa.Table: ...

def validate_bar_arrays(
    ts: _I64, o: _F64, h: _F64, l: _F64, c: _F64, v: Any, mark: Any, fr: Any
) -> None: ...
def run_batch_arrays(
    ts: _I64,
    o: _F64,
    h: _F64,
    l: _F64,
    c: _F64,
    volume: Any,
    mark: Any,
    fr: Any,
    signals: Any,
    config: SimConfig,
    eq_out: _F64,
    wallet_out: _F64,
    qty_out: _F64,
    validate: bool = True,
    risk: _F64 | None = None,
) -> tuple[pa.Table, float]: ...
def run_batch_summary_arrays(
    ts: _I64,
    o: _F64,
    h: _F64,
    l: _F64,
    c: _F64,
    volume: Any,
    mark: Any,
    fr: Any,
    signals: Any,
    config: SimConfig,
    cuts: _I64,
    g_day: _I64,
    g_seg: _I64,
    g_close: _F64,
    seg: _F64,
    validate: bool = True,
    risk: _F64 | None = None,
) -> tuple[pa.Table, float, int]: ...

# The signal-row rules (trade/sim/signals.py steps 1-3), written once in the kernel; the event
# path (trade.sim.rowact) asks them and turns the answer into orders.
def row_orders(
    held: int,
    size: float,
    resting: bool,
    bar: int,
    placed_bar: int,
    expire_bars: int,
    entry_long: bool,
    entry_short: bool,
    exit_long: bool,
    exit_short: bool,
    exit_pct: float,
    allow_flip: bool,
    qty_step: float,
) -> tuple[bool, float, int, float]: ...
def entry_qty(
    size_mode: int,
    value: float,
    equity: float,
    ref: float,
    sl: float,
    leverage: float,
    taker_fee: float,
    qty_step: float,
    min_qty: float,
    min_notional: float,
) -> float: ...
def entry_order(
    direction: int, qty: float, flip_qty: float, ref: float, limit_offset: float, tick: float
) -> tuple[bool, float, float]: ...

# The drawdown rule of the summary mode over a whole curve (trade.metrics uses it).
def max_drawdown(values: _F64, base: float) -> float: ...
def minute_aligned(ts: _I64) -> bool: ...

def run_portfolio_arrays(
    members: list[tuple[Any, ...]], validate: bool = True
) -> list[tuple[pa.Table, float]]: ...
