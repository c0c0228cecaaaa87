"""Stored per-symbol series laid onto 1m bars as columns: funding rates and open interest.

Both keep the no-look-ahead rule of the bars they join: a value appears on the 1m bar whose
close is the moment the exchange states it, never earlier.

* `funding_rate`: the rate on the 1m bar closing at its settlement time, NaN on every
  other bar (a kernel settles funding where the column is finite); no column at all when
  the store has no funding in the span (the kernel's constant rate then applies).
* `last_funding_rate`: the latest *settled* rate at each bar's close (what the Play builtin
  `funding_rate` reads), carried forward; NaN before the first settlement and on bars more
  than three funding intervals after the last one.
* `open_interest`: the latest stated open interest at each bar's close (Bybit states it
  every 5 minutes; a store may hold another interval, e.g. 1h), carried forward; NaN before
  the first stated value and on bars more than three of the series' intervals (at least
  `OPEN_INTEREST_STALE_MS`) after the last one (a hole in the stored series is a hole, not
  a flat line).

"Carried forward" is one rule, `known_at`, which the live runner applies to the records it
reads from the exchange (trade.live.market), so backtest and live see the same values. A
series' interval is the median spacing of its records (`cadence_ms`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.data.intervals import MINUTE_MS
from trade.data.store import Store

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: an open-interest value is carried forward for at least this long (three 5-minute marks)
OPEN_INTEREST_STALE_MS = 15 * MINUTE_MS
#: a value is carried forward for at most this many of its series' intervals
CARRY_INTERVALS = 3
#: the interval assumed for a series with fewer than two records
DEFAULT_FUNDING_INTERVAL_MS = 8 * 60 * MINUTE_MS
DEFAULT_OPEN_INTEREST_INTERVAL_MS = 5 * MINUTE_MS
#: the bar column holding the last settled funding rate (the `funding_rate` builtin)
LAST_FUNDING_COLUMN = "last_funding_rate"
#: the bar column holding the open interest known at each close (the `open_interest` builtin)
OPEN_INTEREST_COLUMN = "open_interest"


def cadence_ms(ts: I64, default: int) -> int:
    """A series' interval: the median spacing of its record times (`default` for fewer than
    two records)."""
    d = np.diff(np.asarray(ts, dtype=np.int64))
    d = d[d > 0]
    return int(np.median(d)) if len(d) else default


def funding_stale_ms(ts: I64) -> int:
    """How long a settled funding rate is carried forward: three funding intervals."""
    return CARRY_INTERVALS * cadence_ms(ts, DEFAULT_FUNDING_INTERVAL_MS)


def open_interest_stale_ms(ts: I64) -> int:
    """How long an open-interest value is carried forward: three of the series' intervals,
    at least `OPEN_INTEREST_STALE_MS`."""
    return max(OPEN_INTEREST_STALE_MS,
               CARRY_INTERVALS * cadence_ms(ts, DEFAULT_OPEN_INTEREST_INTERVAL_MS))


def known_at(rec_ts: I64, values: F64, closes: I64, stale_ms: int) -> F64:
    """The value of the latest record stated at or before each close, NaN before the first
    record and where that record is more than `stale_ms` older than the close.

    Parameters
    ----------
    rec_ts : numpy.ndarray of int64
        Record times (ms), ascending.
    values : numpy.ndarray of float64
        The records' values.
    closes : numpy.ndarray of int64
        The moments asked about (bar closes, ms).
    stale_ms : int
        The longest a record is carried forward.

    Returns
    -------
    numpy.ndarray of float64
        One value per close.
    """
    rec_ts = np.asarray(rec_ts, dtype=np.int64)
    closes = np.asarray(closes, dtype=np.int64)
    out = np.full(len(closes), np.nan)
    if len(rec_ts) == 0 or len(closes) == 0:
        return out
    last = np.searchsorted(rec_ts, closes, side="right") - 1  # latest record by the close
    fresh = (last >= 0) & (closes - rec_ts[np.maximum(last, 0)] <= stale_ms)
    out[fresh] = np.asarray(values, dtype=np.float64)[last[fresh]]
    return out


def _closes(bars: pa.Table) -> I64:
    return np.asarray(bars.column("ts").to_numpy(), dtype=np.int64) + MINUTE_MS


def funding_column(bars: pa.Table, store: Store, symbol: str) -> F64 | None:
    """The stored funding rates on `bars` (NaN on bars where none settles), or None when the
    store has no funding in the bars' span (a kernel then charges its constant rate)."""
    ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
    if len(ts) == 0:
        return None
    fund = store.read_funding(symbol, int(ts[0]), int(ts[-1]) + 2 * MINUTE_MS)
    if fund.num_rows == 0:
        return None
    closes = ts + MINUTE_MS
    rate = np.full(len(ts), np.nan)
    f_ts = np.asarray(fund.column("ts").to_numpy(), dtype=np.int64)
    idx = np.searchsorted(closes, f_ts)  # the 1m bar closing at the settlement time
    ok = (idx < len(ts)) & (closes[np.minimum(idx, len(ts) - 1)] == f_ts)
    rate[idx[ok]] = np.asarray(fund.column("rate").to_numpy(), dtype=np.float64)[ok]
    return rate


def last_funding_column(bars: pa.Table, store: Store, symbol: str) -> F64 | None:
    """The last settled funding rate known at each bar's close (the `funding_rate` builtin;
    see the module docstring), or None when no bar carries one."""
    closes = _closes(bars)
    if len(closes) == 0:
        return None
    fund = store.read_funding(symbol)  # the whole series: its interval and earlier rates
    if fund.num_rows == 0:
        return None
    f_ts = np.asarray(fund.column("ts").to_numpy(), dtype=np.int64)
    rate = np.asarray(fund.column("rate").to_numpy(), dtype=np.float64)
    out = known_at(f_ts, rate, closes, funding_stale_ms(f_ts))
    return out if bool(np.isfinite(out).any()) else None


def open_interest_column(bars: pa.Table, store: Store, symbol: str) -> tuple[F64, int]:
    """The stored open interest known at each bar's close (see the module docstring), and
    how many bars carry a value."""
    closes = _closes(bars)
    out = np.full(len(closes), np.nan)
    if len(closes) == 0:
        return out, 0
    oi = store.read_open_interest(symbol)  # the whole series: its interval is its own
    if oi.num_rows == 0:
        return out, 0
    o_ts = np.asarray(oi.column("ts").to_numpy(), dtype=np.int64)
    values = np.asarray(oi.column("open_interest").to_numpy(), dtype=np.float64)
    out = known_at(o_ts, values, closes, open_interest_stale_ms(o_ts))
    return out, int(np.isfinite(out).sum())


def with_series(bars: pa.Table, store: Store, symbol: str) -> pa.Table:
    """`bars` with `funding_rate` and `open_interest` columns where the store has them
    (funding as `run_backtest` adds it: whenever the store has funding in the bars' span;
    open interest when at least one bar carries a value)."""
    rate = funding_column(bars, store, symbol)
    if rate is not None and "funding_rate" not in bars.column_names:
        bars = bars.append_column("funding_rate", pa.array(rate))
    oi, n_oi = open_interest_column(bars, store, symbol)
    if n_oi and "open_interest" not in bars.column_names:
        bars = bars.append_column("open_interest", pa.array(oi))
    return bars


__all__ = [
    "CARRY_INTERVALS",
    "LAST_FUNDING_COLUMN",
    "OPEN_INTEREST_COLUMN",
    "OPEN_INTEREST_STALE_MS",
    "cadence_ms",
    "funding_column",
    "funding_stale_ms",
    "known_at",
    "last_funding_column",
    "open_interest_column",
    "open_interest_stale_ms",
    "with_series",
]
