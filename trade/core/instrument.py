"""One USDT-perpetual instrument's trading rules, as Bybit's instruments-info lists them.

The one `Instrument` type for the store, the exchange simulator and the live stack
(the simulator serves it, live reads it back from instruments-info, the store keeps it
beside the bars). `Instrument.from_rules` converts any object with the same attributes
(e.g. the store's pydantic model) while those move over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from trade.core.errors import InputError


def step_decimals(step: float) -> int:
    """Decimals of a grid step as Bybit writes it (0.1 -> 1, 0.001 -> 3, 5 -> 0)."""
    text = f"{step:.12f}".rstrip("0").rstrip(".")
    return len(text.partition(".")[2])


@dataclass(frozen=True, slots=True)
class Instrument:
    """Defaults are Bybit's BTCUSDT linear contract (tick 0.1, qty step 0.001, min notional
    5 USDT, 100x, maintenance margin 0.5 % in the first risk-limit tier)."""

    symbol: str = "BTCUSDT"
    base_coin: str = "BTC"
    quote_coin: str = "USDT"
    tick_size: float = 0.1
    qty_step: float = 0.001
    min_qty: float = 0.001
    max_qty: float = 1190.0
    max_mkt_qty: float = 119.0
    min_notional: float = 5.0
    max_leverage: float = 100.0
    maintenance_margin_rate: float = 0.005
    launch_time: int = 1584230400000

    def __post_init__(self) -> None:
        positive = ("tick_size", "qty_step", "max_qty", "max_mkt_qty")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"instrument {self.symbol}: {name} must be > 0, got {value!r}")
        for name in ("min_qty", "min_notional"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"instrument {self.symbol}: {name} must be >= 0, got {value!r}")
        if not (math.isfinite(self.max_leverage) and self.max_leverage >= 1):
            raise InputError(f"instrument {self.symbol}: max_leverage must be >= 1")
        if not 0 <= self.maintenance_margin_rate < 1:
            raise InputError(f"instrument {self.symbol}: maintenance_margin_rate in [0, 1)")

    @property
    def price_scale(self) -> int:
        """Decimals of the tick (Bybit's priceScale)."""
        return step_decimals(self.tick_size)

    @property
    def qty_scale(self) -> int:
        return step_decimals(self.qty_step)

    @classmethod
    def from_rules(cls, rules: Any, **overrides: Any) -> Instrument:
        """From any object carrying some of these attributes (others keep the defaults)."""
        names = [f.name for f in fields(cls)]
        values = {n: getattr(rules, n) for n in names if hasattr(rules, n)}
        if "base_coin" not in values and "symbol" in values:
            values["base_coin"] = str(values["symbol"]).removesuffix("USDT") or values["symbol"]
        values.update(overrides)
        return cls(**values)
