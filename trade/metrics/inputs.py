"""Validation of the metric inputs: pyarrow Tables or pandas DataFrames to checked numpy arrays.

Every error is an `InputError` (a ValueError) naming the table, the column and the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from trade.core.errors import InputError
from trade.metrics.docs import EXIT_REASON_KEYS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TableLike: TypeAlias = pa.Table | pd.DataFrame
BenchmarkLike: TypeAlias = pa.Table | pd.DataFrame | pd.Series

TRADE_FLOAT_COLUMNS: tuple[str, ...] = (
    "entry_price",
    "exit_price",
    "qty",
    "gross_pnl",
    "fees",
    "funding",
    "net_pnl",
    "mae",
    "mfe",
    "leverage",
)


@dataclass(frozen=True, slots=True)
class EquityArrays:
    """The equity curve: ts (ms UTC, bar open), equity and signed position, one row per bar."""

    ts: IntArray
    equity: FloatArray
    position_qty: FloatArray


@dataclass(frozen=True, slots=True)
class TradeArrays:
    """The trade log as columns, in the order given (see `order` for the exit order)."""

    trade_id: IntArray
    side: IntArray
    entry_ts: IntArray
    exit_ts: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    qty: FloatArray
    gross_pnl: FloatArray
    fees: FloatArray
    funding: FloatArray
    net_pnl: FloatArray
    exit_reason: tuple[str, ...]
    mae: FloatArray
    mfe: FloatArray
    leverage: FloatArray

    @property
    def n(self) -> int:
        return int(self.net_pnl.shape[0])

    def exit_order(self) -> IntArray:
        """Row indices sorted by (exit_ts, trade_id): the order trades were closed in."""
        return np.lexsort((self.trade_id, self.exit_ts)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class BenchmarkArrays:
    ts: IntArray
    close: FloatArray


def _columns(table: Any, what: str) -> list[str]:
    if isinstance(table, pa.Table):
        return list(table.column_names)
    if isinstance(table, pd.DataFrame):
        return [str(c) for c in table.columns]
    raise InputError(f"{what}: expected a pyarrow Table or a pandas DataFrame, got {type(table)!r}")


def _raw(table: TableLike, name: str, what: str) -> npt.NDArray[Any]:
    cols = _columns(table, what)
    if name not in cols:
        raise InputError(f"{what}: missing column {name!r} (columns: {', '.join(cols)})")
    if isinstance(table, pa.Table):
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False))
    series = table[name]
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        series.dtype
    ):
        return np.asarray(series.to_numpy(dtype="datetime64[ms]", na_value=np.datetime64("NaT")))
    return np.asarray(series.to_numpy())


def _first_bad(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask)[0])


def _show(value: object) -> str:
    """A cell value for an error message (plain Python repr, not numpy's)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _float_col(table: TableLike, name: str, what: str) -> FloatArray:
    raw = _raw(table, name, what)
    try:
        arr = raw.astype(np.float64, copy=False)  # read only: a float column is not copied
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: column {name!r} is not numeric ({raw.dtype}): {exc}") from exc
    bad = ~np.isfinite(arr)
    if bad.any():
        i = _first_bad(bad)
        raise InputError(f"{what} row {i}: {name} is {_show(raw[i])} (must be a finite number)")
    return arr


def _int_col(table: TableLike, name: str, what: str) -> IntArray:
    raw = _raw(table, name, what)
    if raw.dtype.kind == "M":  # datetime64 -> ms since the epoch
        nat = np.isnat(raw)
        if nat.any():
            raise InputError(f"{what} row {_first_bad(nat)}: {name} is missing")
        return raw.astype("datetime64[ms]").astype(np.int64)
    if raw.dtype.kind in "iu":
        return raw.astype(np.int64, copy=False)
    try:
        arr = raw.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: column {name!r} is not an integer column ({raw.dtype})") from exc
    bad = ~np.isfinite(arr) | (arr != np.round(arr))
    if bad.any():
        i = _first_bad(bad)
        raise InputError(f"{what} row {i}: {name} is {_show(raw[i])} (must be an integer)")
    return arr.astype(np.int64)


def _check_increasing(ts: IntArray, what: str) -> None:
    if ts.shape[0] > 1:
        bad = ts[1:] <= ts[:-1]  # no difference array (nor int64 wrap-around)
        if bad.any():
            i = _first_bad(bad) + 1
            raise InputError(
                f"{what} row {i}: ts {int(ts[i])} is not after row {i - 1} ts {int(ts[i - 1])} "
                "(rows must be sorted by ts, without duplicates)"
            )


def equity_arrays(equity: TableLike) -> EquityArrays:
    """Check an equity curve (ts, equity, position_qty; other columns ignored)."""
    what = "equity curve"
    ts = _int_col(equity, "ts", what)
    if ts.shape[0] == 0:
        raise InputError(f"{what}: no rows (need at least one bar)")
    eq = _float_col(equity, "equity", what)
    pos = _float_col(equity, "position_qty", what)
    _check_increasing(ts, what)
    return EquityArrays(ts=ts, equity=eq, position_qty=pos)


def trade_arrays(trades: TableLike | None) -> TradeArrays:
    """Check a trade log (TRADE_LOG_SCHEMA columns; `symbol` is not used). None = no trades."""
    what = "trade log"
    if trades is None:
        empty_f = np.zeros(0, dtype=np.float64)
        empty_i = np.zeros(0, dtype=np.int64)
        return TradeArrays(
            trade_id=empty_i,
            side=empty_i,
            entry_ts=empty_i,
            exit_ts=empty_i,
            exit_reason=(),
            **dict.fromkeys(TRADE_FLOAT_COLUMNS, empty_f),
        )
    f = {name: _float_col(trades, name, what) for name in TRADE_FLOAT_COLUMNS}
    trade_id = _int_col(trades, "trade_id", what)
    side = _int_col(trades, "side", what)
    entry_ts = _int_col(trades, "entry_ts", what)
    exit_ts = _int_col(trades, "exit_ts", what)
    reasons_raw = _raw(trades, "exit_reason", what)
    reasons = tuple(str(x) for x in reasons_raw)
    for i, (x, r) in enumerate(zip(reasons_raw, reasons, strict=True)):
        if r not in EXIT_REASON_KEYS:
            raise InputError(
                f"{what} row {i}: exit_reason {_show(x)} is not one of "
                f"{', '.join(EXIT_REASON_KEYS)}"
            )
    checks: list[tuple[npt.NDArray[np.bool_], str]] = [
        ((side != 1) & (side != -1), "side must be +1 or -1"),
        (exit_ts < entry_ts, "exit_ts is before entry_ts"),
        (f["entry_price"] <= 0, "entry_price must be > 0"),
        (f["exit_price"] <= 0, "exit_price must be > 0"),
        (f["qty"] < 0, "qty must be >= 0"),
        (f["leverage"] <= 0, "leverage must be > 0"),
    ]
    # mae <= 0 <= mfe by contract; allow a rounding-sized excursion past 0 (1e-9 of notional).
    tol = 1e-9 * f["entry_price"] * f["qty"]
    checks.append((f["mae"] > tol, "mae must be <= 0"))
    checks.append((f["mfe"] < -tol, "mfe must be >= 0"))
    for bad, message in checks:
        if bad.any():
            i = _first_bad(bad)
            raise InputError(f"{what} row {i} (trade_id {int(trade_id[i])}): {message}")
    return TradeArrays(
        trade_id=trade_id,
        side=side,
        entry_ts=entry_ts,
        exit_ts=exit_ts,
        exit_reason=reasons,
        **f,
    )


def benchmark_arrays(benchmark: BenchmarkLike) -> BenchmarkArrays:
    """Check a benchmark close series: a (ts, close) table, or a Series indexed by ts."""
    what = "benchmark_close"
    if isinstance(benchmark, pd.Series):
        index = benchmark.index
        if isinstance(index, pd.DatetimeIndex):
            ts_raw = index.to_numpy(dtype="datetime64[ms]")
        else:
            ts_raw = np.asarray(index)
        frame = pd.DataFrame({"ts": ts_raw, "close": benchmark.to_numpy()})
        return benchmark_arrays(frame)
    ts = _int_col(benchmark, "ts", what)
    close = _float_col(benchmark, "close", what)
    if ts.shape[0] == 0:
        raise InputError(f"{what}: no rows")
    _check_increasing(ts, what)
    bad = close <= 0
    if bad.any():
        i = _first_bad(bad)
        raise InputError(f"{what} row {i}: close is {_show(close[i])} (must be > 0)")
    return BenchmarkArrays(ts=ts, close=close)
