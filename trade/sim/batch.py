"""run_batch: a whole backtest of precomputed signals in one nogil pass of the compiled kernel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade._kernels import sim as _sim
from trade.sim.config import SimConfig
from trade.sim.margin import MARGIN_FIELDS, MarginRisk
from trade.sim.results import EQUITY_SCHEMA, BatchResult, BatchSummary, SegmentSummary
from trade.sim.signals import FLAG_FIELDS, FLOAT_FIELDS, SignalArrays

DAY_MS = 86_400_000
_REQUIRED = ("ts", "open", "high", "low", "close")
_OPTIONAL = ("volume", "mark_price", "funding_rate")


def _column(bars: pa.Table, name: str, arrow_type: pa.DataType) -> npt.NDArray[Any]:
    """The column as a contiguous numpy view (zero-copy when it is one chunk of the right type)."""
    col = bars.column(name)
    if col.null_count:
        raise ValueError(f"bar column {name!r} has {col.null_count} null value(s)")
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if not arr.type.equals(arrow_type):
        try:
            arr = arr.cast(arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"bar column {name!r} of type {arr.type} is not {arrow_type}") from exc
    values: npt.NDArray[Any] = arr.to_numpy(zero_copy_only=True)
    return values


def bar_arrays(bars: pa.Table) -> dict[str, npt.NDArray[Any] | None]:
    """Typed numpy views of the bar columns; optional ones are None when absent."""
    missing = [c for c in _REQUIRED if c not in bars.column_names]
    if missing:
        raise ValueError(f"bars table lacks column(s) {missing} (has {bars.column_names})")
    out: dict[str, npt.NDArray[Any] | None] = {"ts": _column(bars, "ts", pa.int64())}
    for name in _REQUIRED[1:]:
        out[name] = _column(bars, name, pa.float64())
    for name in _OPTIONAL:
        out[name] = _column(bars, name, pa.float64()) if name in bars.column_names else None
    return out


def _float_column(arr: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A float64 column as the kernel reads it: contiguous, or one value broadcast to every
    row (stride 0, read as a scalar and checked once)."""
    a = np.asarray(arr)
    if a.ndim == 1 and a.dtype == np.float64 and a.strides[0] in (0, 8):
        return a
    return np.ascontiguousarray(a, dtype=np.float64)


def _flag_column(arr: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    flag = np.asarray(arr)
    if flag.dtype == np.bool_:
        flag = flag.view(np.uint8)  # no copy: the kernel reads any non-zero byte as set
    elif flag.dtype != np.uint8:
        flag = (flag != 0).view(np.uint8)
    if flag.ndim == 1 and flag.strides[0] in (0, 1):
        return flag
    return np.ascontiguousarray(flag)


def _distinct(arr: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The rows to check: one for a column broadcast from one value, else all."""
    return arr[:1] if arr.ndim == 1 and arr.strides[0] == 0 else arr


def kernel_signals(signals: SignalArrays, n_bars: int, *, checked: bool = False
                     ) -> SignalArrays:
    """The signals as the kernel reads them. `checked`: built by the engine
    (trade.engine.build_signals), valid by construction, so only their layout is made right;
    otherwise every row is validated (ValueError naming the field and row)."""
    if not isinstance(signals, SignalArrays):
        raise ValueError(f"signals must be SignalArrays, got {type(signals).__name__}")
    if not checked:
        signals.validate(n_bars)
    fields: dict[str, Any] = {
        "exec_close_idx": np.ascontiguousarray(signals.exec_close_idx, dtype=np.int64)
    }
    for name in FLAG_FIELDS:
        fields[name] = _flag_column(getattr(signals, name))
    for name in FLOAT_FIELDS:
        fields[name] = _float_column(getattr(signals, name))
    if not checked:
        for name in FLOAT_FIELDS:
            bad = np.flatnonzero(np.isinf(_distinct(fields[name])))
            if len(bad):
                raise ValueError(f"signal array {name} is infinite at row {int(bad[0])}")
        for name in ("sl_pct", "entry_limit_offset"):
            bad = np.flatnonzero(_distinct(fields[name]) >= 1)
            if len(bad):
                raise ValueError(f"signal array {name} must be a fraction < 1, "
                                 f"row {int(bad[0])}")
    return SignalArrays(
        **fields,
        size_mode=signals.size_mode,
        allow_flip=signals.allow_flip,
        expire_bars=signals.expire_bars,
        entry_tif=signals.entry_tif,
        meta=signals.meta,
        take_profit_levels=tuple((float(pct), float(size))
                                 for pct, size in signals.take_profit_levels),
        tp_limit=bool(signals.tp_limit),
        sl_limit=bool(signals.sl_limit),
        tp_by_mark=bool(signals.tp_by_mark),
        sl_by_mark=bool(signals.sl_by_mark),
    )


_TOKEN = object()


@dataclass(frozen=True, slots=True, eq=False)
class ValidatedBars:
    """1m bars checked once by `validate_bars`: `run_batch` / `run_batch_summary` take them
    and skip the per-run validation (a sweep validates its shared bars once). Only
    `validate_bars` makes one."""

    table: pa.Table
    columns: Mapping[str, npt.NDArray[Any] | None]
    _token: object = field(repr=False)

    def __post_init__(self) -> None:
        if self._token is not _TOKEN:
            raise ValueError("ValidatedBars are made by validate_bars(bars)")

    @property
    def num_rows(self) -> int:
        """The number of 1m bars."""
        return int(self.table.num_rows)


def validate_bars(bars: pa.Table | ValidatedBars) -> ValidatedBars:
    """Check every bar once (ValueError naming the first bad row and field).

    Parameters
    ----------
    bars : pyarrow.Table or ValidatedBars
        1m bars with the columns `run_batch` reads; ValidatedBars are returned as they are.

    Returns
    -------
    ValidatedBars
        The table with its typed column views, accepted by `run_batch` and
        `run_batch_summary` without checking again.

    Raises
    ------
    ValueError
        `bars` is not a table, a required column is missing, null or of the wrong type, or
        a row is invalid (ts not increasing, a non-positive or non-finite price,
        inconsistent OHLC, negative volume...).
    """
    if isinstance(bars, ValidatedBars):
        return bars
    if not isinstance(bars, pa.Table):
        raise ValueError(f"bars must be a pyarrow.Table, got {type(bars).__name__}")
    cols = bar_arrays(bars)
    _sim.validate_bar_arrays(cols["ts"], cols["open"], cols["high"], cols["low"], cols["close"],
                             cols["volume"], cols["mark_price"], cols["funding_rate"])
    return ValidatedBars(bars, cols, _TOKEN)


def kernel_inputs(bars: pa.Table | ValidatedBars, config: SimConfig
            ) -> tuple[pa.Table, Mapping[str, npt.NDArray[Any] | None], bool]:
    """(table, column views, validate in the kernel?)"""
    if not isinstance(config, SimConfig):
        raise ValueError(f"config must be a SimConfig, got {type(config).__name__}")
    if isinstance(bars, ValidatedBars):
        return bars.table, bars.columns, False
    if not isinstance(bars, pa.Table):
        raise ValueError(f"bars must be a pyarrow.Table, got {type(bars).__name__}")
    return bars, bar_arrays(bars), True


_BarArgs = tuple[
    npt.NDArray[Any] | None, npt.NDArray[Any] | None, npt.NDArray[Any] | None,
    npt.NDArray[Any] | None, npt.NDArray[Any] | None, npt.NDArray[Any] | None,
    npt.NDArray[Any] | None, npt.NDArray[Any] | None,
]


def kernel_bar_args(cols: Mapping[str, npt.NDArray[Any] | None]) -> _BarArgs:
    """The eight bar columns in the kernel's argument order (ts, OHLC, volume, mark, funding)."""
    return (cols["ts"], cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"],
            cols["mark_price"], cols["funding_rate"])


def run_batch(bars: pa.Table | ValidatedBars, signals: SignalArrays,
              config: SimConfig, *, checked: bool = False) -> BatchResult:
    """Backtest `signals` over 1m `bars` (docs/fill_model.md, trade/sim/signals.py).

    Every input is validated (ValueError naming the row or field) before any result exists:
    signals up front, bars block by block just ahead of the nogil loop that simulates them
    (not again when `bars` are ValidatedBars). `checked=True` is for signals built by
    `trade.engine.build_signals`, valid by construction: they are not validated again.
    The kernel loop runs without the GIL, so threads may run batches in parallel.

    Parameters
    ----------
    bars : pyarrow.Table or ValidatedBars
        1m bars: `ts` (int64 ms, bar open, strictly increasing), `open`, `high`, `low`,
        `close` (float64); optional `volume`, `mark_price`, `funding_rate`. ValidatedBars
        (from `validate_bars`) skip the bar checks.
    signals : SignalArrays
        The per-exec-bar entries, exits, sizes and brackets.
    config : SimConfig
        The simulator's settings (symbol, balance, fees, leverage, instrument rules...).
    checked : bool
        Trust `signals` (built by the engine) and skip their row-by-row checks.

    Returns
    -------
    BatchResult
        The trade log (TRADE_LOG_SCHEMA), one equity row per 1m bar (EQUITY_SCHEMA), the
        final wallet balance and the run's margin figures (MarginRisk); a position still
        open at the end is closed at the last close (exit reason end_of_data).

    Raises
    ------
    ValueError
        `config` is not a SimConfig, `bars` not a table or lacks a column, or a bar or
        signal row is invalid (the message names it).
    """
    table, cols, validate = kernel_inputs(bars, config)
    n = table.num_rows
    sig = kernel_signals(signals, n, checked=checked)
    out = np.empty((3, n), dtype=np.float64)  # equity, wallet balance, position qty
    equity, wallet, qty = out[0], out[1], out[2]
    risk = np.empty((1, len(MARGIN_FIELDS)), dtype=np.float64)
    trades, final_wallet = _sim.run_batch_arrays(
        *kernel_bar_args(cols), sig, config, equity, wallet, qty, validate, risk
    )
    ts_col = table.column("ts")
    ts_arr = ts_col.combine_chunks() if ts_col.num_chunks != 1 else ts_col.chunk(0)
    eq_table = pa.table([ts_arr.cast(pa.int64()), equity, wallet, qty], schema=EQUITY_SCHEMA)
    return BatchResult(trades, eq_table, float(final_wallet), MarginRisk.from_row(risk[0]))


def run_batch_summary(bars: pa.Table | ValidatedBars, signals: SignalArrays, config: SimConfig,
                      *, cuts: Sequence[int] = (), checked: bool = False) -> BatchSummary:
    """`run_batch` recording a summary of the equity curve instead of the curve (sweeps).

    The 1m rows are cut into segments at `cuts` (strictly increasing rows in (0, n)); each
    segment's `SegmentSummary` holds its max drawdown, exposed bars, final equity and UTC-day
    closing equities: the same values as computed from run_batch's equity table over those
    rows. The trade log and final balance are run_batch's (`checked` as there).

    Parameters
    ----------
    bars : pyarrow.Table or ValidatedBars
        1m bars: `ts` (int64 ms, bar open, strictly increasing), `open`, `high`, `low`,
        `close` (float64); optional `volume`, `mark_price`, `funding_rate`. ValidatedBars
        (from `validate_bars`) skip the bar checks.
    signals : SignalArrays
        As for `run_batch`.
    config : SimConfig
        As for `run_batch`.
    cuts : Sequence[int]
        Row indices where a new segment starts (empty: one segment of all rows).
    checked : bool
        As for `run_batch`.

    Returns
    -------
    BatchSummary
        The trade log, one SegmentSummary per segment in row order, the final wallet.

    Raises
    ------
    ValueError
        No bars, `cuts` not one-dimensional or not strictly increasing inside (0, n), or
        anything `run_batch` refuses.
    """
    table, cols, validate = kernel_inputs(bars, config)
    n = table.num_rows
    if n == 0:
        raise ValueError("bars table has no rows")
    sig = kernel_signals(signals, n, checked=checked)
    cut_arr = np.ascontiguousarray(np.asarray(cuts, dtype=np.int64))
    if cut_arr.ndim != 1:
        raise ValueError("cuts must be a sequence of row indices")
    ts = cols["ts"]
    assert ts is not None
    first_day, last_day = int(ts[0]) // DAY_MS, int(ts[-1]) // DAY_MS
    cap = max(last_day - first_day + 1, 1) + len(cut_arr) + 1
    g_day = np.empty(cap, dtype=np.int64)
    g_seg = np.empty(cap, dtype=np.int64)
    g_close = np.empty(cap, dtype=np.float64)
    seg = np.empty((len(cut_arr) + 1, 4), dtype=np.float64)
    risk = np.empty((len(cut_arr) + 1, len(MARGIN_FIELDS)), dtype=np.float64)
    trades, final_wallet, n_groups = _sim.run_batch_summary_arrays(
        *kernel_bar_args(cols), sig, config, cut_arr, g_day, g_seg, g_close, seg, validate, risk
    )
    starts = [0, *(int(c) for c in cut_arr)]
    stops = [*starts[1:], n]
    bounds = np.searchsorted(g_seg[:n_groups], np.arange(len(starts) + 1), side="left")
    segments = tuple(
        SegmentSummary(
            start=a,
            stop=b,
            base=float(seg[k, 3]),
            final_equity=float(seg[k, 2]),
            max_drawdown=float(seg[k, 0]),
            exposed_bars=int(seg[k, 1]),
            day=g_day[bounds[k]:bounds[k + 1]].copy(),
            day_close=g_close[bounds[k]:bounds[k + 1]].copy(),
            margin=MarginRisk.from_row(risk[k]),
        )
        for k, (a, b) in enumerate(zip(starts, stops, strict=True))
    )
    return BatchSummary(trades, segments, float(final_wallet))
