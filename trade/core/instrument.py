"""One USDT-perpetual instrument's trading rules, as Bybit's instruments-info lists them.

The one `Instrument` type for the store, the exchange simulator and the live stack
(the simulator serves it, live reads it back from instruments-info and sizes and rounds
orders with it, the store keeps it beside the bars as JSON: `to_dict` / `from_dict`; a run
manifest's copy is read back with `from_mapping`).

Display: every price and quantity a person reads (reports, journals' summaries, CLI
tables) is written at the instrument's precision: `Instrument.price_text` /
`qty_text` (or `price_text(value, tick)` / `qty_text(value, step)` without an
instrument): `2255.45`, not `2,255.45100000` or `2255.4500000000003`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from trade.core.errors import InputError


def step_decimals(step: float) -> int:
    """Decimals of a grid step as Bybit writes it (0.1 -> 1, 0.001 -> 3, 5 -> 0)."""
    text = f"{step:.12f}".rstrip("0").rstrip(".")
    return len(text.partition(".")[2])


def step_text(value: float | None, step: float, *, grouped: bool = False,
              missing: str = "") -> str:
    """`value` written with the decimals of the grid `step` (rounded to them, half to even
    on the decimal; not moved onto the grid): 2255.451 at step 0.01 -> "2255.45";
    `grouped` adds thousands separators ("2,255.45"); None, NaN and inf give `missing`.
    A step <= 0 (unknown grid) writes the shortest exact form instead."""
    if value is None or not math.isfinite(value):
        return missing
    if not step > 0:
        return format(float(value), ",.15g" if grouped else ".15g")
    decimals = step_decimals(step)
    text = f"{value:,.{decimals}f}" if grouped else f"{value:.{decimals}f}"
    return text.lstrip("-") if float(text.replace(",", "")) == 0 else text  # never "-0.00"


def price_text(value: float | None, tick: float, *, grouped: bool = False,
               missing: str = "") -> str:
    """A price at the tick's decimals (see `step_text`)."""
    return step_text(value, tick, grouped=grouped, missing=missing)


def qty_text(value: float | None, step: float, *, grouped: bool = False,
             missing: str = "") -> str:
    """A quantity at the quantity step's decimals (see `step_text`)."""
    return step_text(value, step, grouped=grouped, missing=missing)


@dataclass(frozen=True, slots=True)
class Instrument:
    """Defaults are Bybit's BTCUSDT linear contract (tick 0.1, qty step 0.001, min notional
    5 USDT, 100x, maintenance margin 0.5 % in the first risk-limit tier)."""

    symbol: str = "BTCUSDT"
    base_coin: str = ""  # "" = the symbol without USDT
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
        if not self.symbol:
            raise InputError("instrument: symbol must not be empty")
        if not self.base_coin:  # ETHUSDT -> ETH (a frozen dataclass sets it once, here)
            object.__setattr__(self, "base_coin", self.symbol.removesuffix("USDT") or self.symbol)
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
        """Decimals of the quantity step."""
        return step_decimals(self.qty_step)

    # --- display (what a person reads: reports, journals' summaries, CLI tables) ------
    def price_text(self, value: float | None, *, grouped: bool = False,
                   missing: str = "") -> str:
        """A price at the tick's decimals: 2255.451 -> "2255.45" at tick 0.01."""
        return step_text(value, self.tick_size, grouped=grouped, missing=missing)

    def qty_text(self, value: float | None, *, grouped: bool = False,
                 missing: str = "") -> str:
        """A quantity at the quantity step's decimals: 0.30000000000000004 -> "0.300"."""
        return step_text(value, self.qty_step, grouped=grouped, missing=missing)

    def round_price(self, value: float) -> float:
        """`value` at the tick's decimals, as a float without binary noise (for records
        that keep numbers, e.g. JSON journals: 2255.4500000000003 -> 2255.45)."""
        return round(value, self.price_scale) if math.isfinite(value) else value

    def round_qty(self, value: float) -> float:
        """`value` at the quantity step's decimals, as a float without binary noise."""
        return round(value, self.qty_scale) if math.isfinite(value) else value

    def renamed(self, symbol: str) -> Instrument:
        """These rules under another symbol (its base coin derived from it)."""
        return replace(self, symbol=symbol, base_coin="")

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (the store's JSON form; `from_dict` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Any, *, where: str = "instrument") -> Instrument:
        """Strictly from a mapping (the store's JSON): unknown keys and values of the wrong
        type are refused; missing keys keep the defaults.

        Raises
        ------
        InputError
            Not a mapping, an unknown key, a wrong type or an invalid value; the message
            starts with `where`."""
        if not isinstance(values, dict):
            raise InputError(f"{where}: expected a mapping, found {type(values).__name__}")
        kinds = {f.name: f.type for f in fields(cls)}
        unknown = sorted(set(values) - set(kinds))
        if unknown:
            raise InputError(f"{where}: unknown field(s) {unknown}, expected some of "
                             f"{sorted(kinds)}")
        picked: dict[str, Any] = {}
        for key, value in values.items():
            kind = kinds[key]
            if kind == "str":
                ok = isinstance(value, str)
            elif kind == "int":
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                value = float(value) if ok else value
            if not ok:
                raise InputError(f"{where}: {key} must be a {kind}, found {value!r}")
            picked[key] = value
        try:
            return cls(**picked)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None

    @classmethod
    def from_mapping(cls, values: Any, **overrides: Any) -> Instrument:
        """From a mapping (e.g. a run manifest's `instrument`); unknown keys are ignored,
        missing ones keep the defaults."""
        names = {f.name for f in fields(cls)}
        picked = {k: v for k, v in dict(values).items() if k in names}
        picked.update(overrides)
        return cls(**picked)
