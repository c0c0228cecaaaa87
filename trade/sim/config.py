"""Simulation settings shared by the compiled kernel and the reference simulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

from trade.core.errors import InputError


class Intrabar(IntEnum):
    """How a 1m bar that touches both stop and take-profit is resolved."""

    SL_FIRST = 0  # conservative: the stop loss wins
    OHLC_PATH = 1  # open -> nearer extreme -> farther extreme -> close


class SizeMode(IntEnum):
    """How the batch runner turns an entry signal into a quantity."""

    FIXED_USDT = 0  # value = position notional in USDT
    PERCENT_EQUITY = 1  # value = percent of equity used as margin (notional = margin x leverage)
    RISK_BASED = 2  # value = percent of equity lost if the stop is hit


def tick_grid(tick: float) -> tuple[int, int]:
    """`(units, decimals)` of a price step: the step is exactly `units / 10**decimals`.

    `decimals` is the step's number of decimals as Bybit writes it (at most 12), so a level on
    the grid, `n` steps, is the decimal `n * units / 10**decimals`. 0 or less = no grid (0, 0).
    """
    if not tick > 0:
        return 0, 0
    decimals = len(f"{tick:.12f}".rstrip("0").partition(".")[2])
    return round(tick * 10**decimals), decimals


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Account and market settings. Fees, slippage and rates are fractions (5.5 bps = 0.00055).

    Immutable, so one config may be shared by any number of simulators and threads.
    Construction raises `trade.core.InputError` for a non-finite or out-of-range value, or a
    leverage so high that 1 / leverage <= the maintenance margin rate (liquidated at entry)."""

    symbol: str = "BTCUSDT"
    initial_balance: float = 10_000.0
    leverage: float = 1.0
    taker_fee: float = 0.00055
    maker_fee: float = 0.0002
    slippage: float = 0.0
    maintenance_margin_rate: float = 0.005
    funding_rate: float = 0.0  # constant rate per 8h settlement when no funding column is given
    intrabar: Intrabar = Intrabar.SL_FIRST
    qty_step: float = 0.0  # 0 = no rounding
    min_qty: float = 0.0
    min_notional: float = 0.0
    tick_size: float = 0.0  # price grid of bracket levels set from offsets; 0 = no rounding

    def __post_init__(self) -> None:
        checks: list[tuple[str, float, bool]] = [
            ("initial_balance", self.initial_balance, self.initial_balance > 0),
            ("leverage", self.leverage, self.leverage > 0),
            ("taker_fee", self.taker_fee, self.taker_fee >= 0),
            ("maker_fee", self.maker_fee, self.maker_fee > -0.01),
            ("slippage", self.slippage, self.slippage >= 0),
            (
                "maintenance_margin_rate",
                self.maintenance_margin_rate,
                0 <= self.maintenance_margin_rate < 1,
            ),
            ("qty_step", self.qty_step, self.qty_step >= 0),
            ("min_qty", self.min_qty, self.min_qty >= 0),
            ("min_notional", self.min_notional, self.min_notional >= 0),
            ("tick_size", self.tick_size, self.tick_size >= 0),
        ]
        for name, value, ok in checks:
            if not math.isfinite(value) or not ok:
                raise InputError(f"SimConfig.{name} is invalid: {value!r}")
        if not math.isfinite(self.funding_rate):
            raise InputError(f"SimConfig.funding_rate is invalid: {self.funding_rate!r}")
        if 1.0 / self.leverage <= self.maintenance_margin_rate:
            raise InputError(
                f"leverage {self.leverage} is too high for maintenance margin rate "
                f"{self.maintenance_margin_rate}: the position would be liquidated at entry"
            )


def round_to_tick(level: float, tick: float) -> float:
    """`level` on the `tick` grid, nearest (half-even on level / tick), as the exchange wants it.

    Bit for bit `float(fmt_step(level, tick))` (trade.live.executor): n steps of
    `units / 10**decimals` is the exact integer `n * units` over an exact power of ten, and
    their quotient is the correctly rounded double of that decimal. 0 = no rounding.
    """
    units, decimals = tick_grid(tick)
    if units == 0:
        return level
    n = round(level / tick)  # Python's round is half-even, like C rint in the kernel
    return float(n * units) / float(10**decimals)
