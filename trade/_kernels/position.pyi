"""Type stubs of trade._kernels.position: the one Position type (architecture invariant 1)."""

from typing import Any, ClassVar

from typing_extensions import disjoint_base

@disjoint_base
class Position:
    """An isolated-margin USDT-perpetual position; `side` +1 long, -1 short, 0 flat."""

    symbol: str
    side: int
    size: float
    entry_price: float
    leverage: float
    margin: float
    liq_price: float
    bust_price: float
    mark_price: float
    unrealized_pnl: float
    realized_pnl: float
    fees_paid: float
    funding_paid: float
    stop_loss: float
    take_profit: float
    trailing_distance: float
    trailing_stop: float
    mae: float
    mfe: float
    maintenance_margin_rate: float
    opened_ts: int
    updated_ts: int
    def __init__(self, symbol: str = ..., **fields: float) -> None: ...
    @classmethod
    def fields(cls) -> tuple[str, ...]: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def notional(self) -> float: ...
    @property
    def signed_size(self) -> float: ...
    def to_dict(self) -> dict[str, Any]: ...
    def copy(self) -> Position: ...
    def __eq__(self, other: object, /) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]
    def __reduce__(self) -> tuple[Any, ...]: ...
