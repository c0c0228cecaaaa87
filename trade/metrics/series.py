"""Derived series: daily and monthly returns, drawdowns and drawdown episodes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trade._kernels import sim as _sim
from trade.metrics.inputs import FloatArray, IntArray

DAY_MS = 86_400_000
BAR_MS = 60_000  # the equity curve has one row per 1m bar; its value is at the bar's close


@dataclass(frozen=True, slots=True)
class Daily:
    """Daily closes and returns on the UTC calendar days from the first to the last bar."""

    day: IntArray  # days since the epoch (UTC)
    close: FloatArray  # last equity of each day (carried over days without bars)
    returns: FloatArray  # close / previous close - 1; the first against `base`
    rows: IntArray  # the row of each day's close in the series it was taken from


def day_rows(ts: IntArray) -> tuple[IntArray, IntArray]:
    """(every UTC day from the first bar's to the last's, the row of its last bar): a day
    without any bar takes the row of the previous day's last bar. `ts` is strictly
    increasing; found by binary search per day, with no per-bar temporary."""
    first, last = int(ts[0]) // DAY_MS, int(ts[-1]) // DAY_MS
    full = np.arange(first, last + 1, dtype=np.int64)
    rows = np.searchsorted(ts, (full + 1) * DAY_MS, side="left") - 1
    return full, rows.astype(np.int64, copy=False)


def daily_closes(ts: IntArray, values: FloatArray) -> tuple[IntArray, FloatArray]:
    """The last value of each UTC day (by bar-open ts) on every day from first to last.

    A calendar day without any bar carries the previous day's value (nothing changed).
    """
    full, rows = day_rows(ts)
    return full, values[rows]


def simple_returns(closes: FloatArray, base: float) -> FloatArray:
    """closes[i] / closes[i-1] - 1, the first against `base`.

    A period that starts at a value <= 0 (a wiped-out account) has return 0: there is
    nothing left to grow or lose.
    """
    prev = np.concatenate(([base], closes[:-1]))
    out = np.zeros_like(closes)
    ok = prev > 0
    out[ok] = closes[ok] / prev[ok] - 1.0
    return out


def daily(ts: IntArray, values: FloatArray, base: float) -> Daily:
    days, rows = day_rows(ts)
    closes = values[rows]
    return Daily(day=days, close=closes, returns=simple_returns(closes, base), rows=rows)


def monthly_returns(days: IntArray, daily_returns: FloatArray) -> FloatArray:
    """Daily returns compounded within each UTC calendar month."""
    month = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(month) != 0) + 1))
    growth = np.multiply.reduceat(1.0 + daily_returns, starts)
    return np.asarray(growth - 1.0, dtype=np.float64)


def drawdown(values: FloatArray) -> FloatArray:
    """1 - value / running peak (the first value is the initial peak, which is > 0)."""
    dd = np.maximum.accumulate(values)
    np.divide(values, dd, out=dd)
    np.subtract(1.0, dd, out=dd)  # in place: one array of the curve's length, not three
    return dd


def max_drawdown(values: FloatArray, base: float) -> float:
    """max(drawdown([base, *values])) without building that curve: one compiled pass of the
    kernel's own drawdown rule (the same value to the bit)."""
    return float(_sim.max_drawdown(np.ascontiguousarray(values, dtype=np.float64), base))


@dataclass(frozen=True, slots=True)
class Episodes:
    """Drawdown episodes: each runs from a peak to the first point back at that peak.

    `peak` and `end` index the curve; `end` is the recovery point, or the last point when
    the curve never recovered; `depth` is the largest drawdown inside the episode.
    """

    peak: IntArray
    end: IntArray
    depth: FloatArray


def episodes(values: FloatArray, dd: FloatArray | None = None) -> Episodes:
    """Split a curve (first point = initial peak) into drawdown episodes (`dd`: its
    `drawdown`, when the caller has it already)."""
    if dd is None:
        dd = drawdown(values)
    under = np.zeros(dd.shape[0] + 2, dtype=np.int8)
    np.greater(dd, 0.0, out=under[1:-1].view(np.bool_))
    edges = np.diff(under)
    first_under = np.flatnonzero(edges == 1)  # first point below the peak
    recovery = np.flatnonzero(edges == -1)  # first point back at the peak (may be len)
    if first_under.shape[0] == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        return Episodes(empty_i, empty_i, np.zeros(0, dtype=np.float64))
    depth = np.maximum.reduceat(dd, first_under)
    end = np.minimum(recovery, values.shape[0] - 1)
    return Episodes(
        peak=(first_under - 1).astype(np.int64),
        end=end.astype(np.int64),
        depth=np.asarray(depth, dtype=np.float64),
    )
