"""Stored per-symbol series laid onto 1m bars as columns: funding rates and open interest.

Both keep the no-look-ahead rule of the bars they join: a value appears on the 1m bar whose
close is the moment the exchange states it, never earlier.

* `funding_rate`: the rate on the 1m bar closing at its settlement time, NaN on every
  other bar (a kernel settles funding where the column is finite); no column at all when
  the store has no funding in the span (the kernel's constant rate then applies).
* `open_interest`: the latest stated open interest at each bar's close (Bybit states it
  every 5 minutes), carried forward; NaN before the first stated value and on bars more
  than `OPEN_INTEREST_STALE_MS` after the last one (a hole in the stored series is a
  hole, not a flat line).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.data.intervals import MINUTE_MS
from trade.data.store import Store

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: an open-interest value is carried forward for at most this long (three 5-minute marks)
OPEN_INTEREST_STALE_MS = 15 * MINUTE_MS


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


def open_interest_column(bars: pa.Table, store: Store, symbol: str) -> tuple[F64, int]:
    """The stored open interest known at each bar's close (see the module docstring), and
    how many bars carry a value."""
    closes = _closes(bars)
    out = np.full(len(closes), np.nan)
    if len(closes) == 0:
        return out, 0
    oi = store.read_open_interest(symbol, int(closes[0]) - OPEN_INTEREST_STALE_MS,
                                  int(closes[-1]) + 1)
    if oi.num_rows == 0:
        return out, 0
    o_ts = np.asarray(oi.column("ts").to_numpy(), dtype=np.int64)
    values = np.asarray(oi.column("open_interest").to_numpy(), dtype=np.float64)
    last = np.searchsorted(o_ts, closes, side="right") - 1  # latest value stated by the close
    known = last >= 0
    fresh = known & (closes - o_ts[np.maximum(last, 0)] <= OPEN_INTEREST_STALE_MS)
    out[fresh] = values[last[fresh]]
    return out, int(fresh.sum())


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


__all__ = ["OPEN_INTEREST_STALE_MS", "funding_column", "open_interest_column", "with_series"]
