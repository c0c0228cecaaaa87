"""1m bars to every Bybit interval, aligned to UTC like Bybit's klines."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core.errors import InputError
from trade.data.intervals import (
    MINUTE_MS,
    bucket_end,
    bucket_start,
    interval_ms,
    normalize_interval,
)
from trade.data.schema import BAR_COLUMNS, FLOAT_COLUMNS

#: resampled bars: the bar columns plus `n_1m` (1m bars that formed it) and `partial`
RESAMPLED_SCHEMA = pa.schema(
    [pa.field("ts", pa.int64(), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in FLOAT_COLUMNS]
    + [
        pa.field("n_1m", pa.int64(), nullable=False),
        pa.field("partial", pa.bool_(), nullable=False),
    ]
)


def resample(bars: pa.Table, interval: str | int) -> pa.Table:
    """Aggregate sorted 1m bars into `interval` bars.

    Each output bar opens at its UTC bucket start (`ts`), with open = first 1m open,
    high = max, low = min, close = last 1m close, volume and turnover summed, and `n_1m` =
    how many 1m bars formed it (fewer than the interval's minutes when minutes are missing).
    Buckets with no 1m bar produce no output bar. `partial` flags an incomplete edge bar:
    the last bar when the data ends before its bucket closes, the first bar when the data
    starts after its bucket opens. Gaps inside a bar do not make it partial (see `n_1m`).

    Parameters
    ----------
    bars : pyarrow.Table
        1m bars with the store's columns, strictly increasing in `ts`.
    interval : str or int
        A bar interval (`15m`, `1h`, `D`, or Bybit's minute counts such as `15`).

    Returns
    -------
    pyarrow.Table
        `RESAMPLED_SCHEMA` rows, one per bucket that holds at least one 1m bar.

    Raises
    ------
    InputError
        An unknown interval, missing columns, or `ts` not strictly increasing.
    """
    name = normalize_interval(interval)
    missing = [c for c in BAR_COLUMNS if c not in bars.column_names]
    if missing:
        raise InputError(f"resample: bars table lacks column(s) {missing}")
    n = bars.num_rows
    if n == 0:
        return RESAMPLED_SCHEMA.empty_table()
    ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
    if n > 1 and not _increasing(ts):
        raise InputError("resample: 1m bars must be strictly increasing in ts")
    starts, out_ts = _bucket_starts(ts, name)
    ends = np.concatenate([starts[1:], [n]])
    col = {c: np.asarray(bars.column(c).to_numpy(), dtype=np.float64) for c in FLOAT_COLUMNS}
    partial = np.zeros(len(starts), dtype=bool)
    # first bar is partial when the data starts after its bucket opened
    partial[0] |= bool(ts[0] > out_ts[0])
    # last bar is partial when its bucket closes after the last 1m bar does
    partial[-1] |= bool(int(bucket_end(out_ts[-1:], name)[0]) > int(ts[-1]) + MINUTE_MS)
    arrays = [
        pa.array(out_ts, type=pa.int64()),
        pa.array(col["open"][starts]),
        pa.array(np.maximum.reduceat(col["high"], starts)),
        pa.array(np.minimum.reduceat(col["low"], starts)),
        pa.array(col["close"][ends - 1]),
        pa.array(_sum_in_time_order(col["volume"], starts, ends - starts)),
        pa.array(_sum_in_time_order(col["turnover"], starts, ends - starts)),
        pa.array((ends - starts).astype(np.int64)),
        pa.array(partial),
    ]
    return pa.Table.from_arrays(arrays, schema=RESAMPLED_SCHEMA)


def _increasing(ts: npt.NDArray[np.int64]) -> bool:
    """ts strictly increasing (checked in blocks: no per-bar temporary)."""
    step = 1 << 16
    for k in range(0, len(ts) - 1, step):
        a = ts[k:k + step + 1]
        if not bool(np.all(a[1:] > a[:-1])):
            return False
    return True


def _bucket_starts(ts: npt.NDArray[np.int64], name: str
                   ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(first row of each non-empty bucket, the bucket's open time) of increasing `ts`.

    Buckets of one fixed length aligned to the epoch (minutes to days) are found by binary
    search of their boundaries, without a per-bar temporary; weeks and months by labelling
    every bar."""
    if name not in ("W", "M"):
        step = interval_ms(name)
        first = int(ts[0]) // step * step
        bounds = np.arange(first, int(ts[-1]) + 1, step, dtype=np.int64)
        rows = np.searchsorted(ts, bounds, side="left")
        keep = np.empty(len(rows), dtype=bool)  # a bucket no bar falls in makes no bar
        keep[:-1] = rows[1:] != rows[:-1]
        keep[-1] = True  # the last boundary is <= ts[-1]: its bucket holds the last bar
        return rows[keep].astype(np.int64, copy=False), bounds[keep]
    bucket = bucket_start(ts, name)
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    return starts, bucket[starts]


def _sum_in_time_order(
    values: npt.NDArray[np.float64], starts: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Per-bucket sums added minute by minute (v0 + v1 + ...), the order a streaming
    aggregation adds them in, so batch and incremental volume indicators agree bit for bit
    (numpy's add.reduceat sums in another order, which differs in the last bits)."""
    acc = values[starts].copy()
    width = int(counts.max(initial=1))
    # the buckets between the first and the last, when all complete, are consecutive rows
    # of `width` bars: summed column by column of that (rows x width) view, in the same order
    lo, hi = 1, len(counts) - 1
    if hi - lo >= 8 and bool(np.all(counts[lo:hi] == width)):
        grid = values[starts[lo]:starts[lo] + (hi - lo) * width].reshape(hi - lo, width)
        mid = acc[lo:hi]
        for k in range(1, width):
            mid += grid[:, k]
        edges = np.array([0, len(counts) - 1])
        for k in range(1, width):
            more = edges[counts[edges] > k]
            acc[more] += values[starts[more] + k]
        return acc
    for k in range(1, width):
        more = counts > k
        acc[more] += values[starts[more] + k]
    return acc
