"""run_batch: a whole backtest of precomputed signals in one nogil pass of the compiled kernel."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade._kernels import sim as _sim
from trade.sim.config import SimConfig
from trade.sim.results import EQUITY_SCHEMA, BatchResult
from trade.sim.signals import SignalArrays

_REQUIRED = ("ts", "open", "high", "low", "close")
_OPTIONAL = ("volume", "mark_price", "funding_rate")
_SIGNAL_FLOATS = (
    "size_value",
    "sl_pct",
    "tp_pct",
    "trail_pct",
    "be_activation",
    "be_offset",
    "exit_pct",
    "entry_limit_offset",
)
_SIGNAL_FLAGS = ("entry_long", "entry_short", "exit_long", "exit_short")


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


def _prepare_signals(signals: SignalArrays, n_bars: int) -> SignalArrays:
    if not isinstance(signals, SignalArrays):
        raise ValueError(f"signals must be SignalArrays, got {type(signals).__name__}")
    signals.validate(n_bars)
    fields: dict[str, Any] = {
        "exec_close_idx": np.ascontiguousarray(signals.exec_close_idx, dtype=np.int64)
    }
    for name in _SIGNAL_FLAGS:
        flag = np.asarray(getattr(signals, name))
        if flag.dtype != np.uint8:  # the kernel reads any non-zero byte as set
            flag = flag != 0
        fields[name] = np.ascontiguousarray(flag, dtype=np.uint8)
    for name in _SIGNAL_FLOATS:
        arr = np.ascontiguousarray(getattr(signals, name), dtype=np.float64)
        bad = np.flatnonzero(np.isinf(arr))
        if len(bad):
            raise ValueError(f"signal array {name} is infinite at row {int(bad[0])}")
        fields[name] = arr
    for name in ("sl_pct", "entry_limit_offset"):
        bad = np.flatnonzero(fields[name] >= 1)
        if len(bad):
            raise ValueError(f"signal array {name} must be a fraction < 1, row {int(bad[0])}")
    return SignalArrays(
        **fields,
        size_mode=signals.size_mode,
        allow_flip=signals.allow_flip,
        expire_bars=signals.expire_bars,
        meta=signals.meta,
    )


def run_batch(bars: pa.Table, signals: SignalArrays, config: SimConfig) -> BatchResult:
    """Backtest `signals` over 1m `bars` (docs/fill_model.md, trade/sim/signals.py).

    Every input is validated (ValueError naming the row or field) before any result exists:
    signals up front, bars block by block just ahead of the nogil loop that simulates them.
    """
    if not isinstance(config, SimConfig):
        raise ValueError(f"config must be a SimConfig, got {type(config).__name__}")
    if not isinstance(bars, pa.Table):
        raise ValueError(f"bars must be a pyarrow.Table, got {type(bars).__name__}")
    cols = bar_arrays(bars)
    n = bars.num_rows
    sig = _prepare_signals(signals, n)
    equity = np.empty(n, dtype=np.float64)
    wallet = np.empty(n, dtype=np.float64)
    qty = np.empty(n, dtype=np.float64)
    trades, final_wallet = _sim.run_batch_arrays(
        cols["ts"],
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        cols["volume"],
        cols["mark_price"],
        cols["funding_rate"],
        sig,
        config,
        equity,
        wallet,
        qty,
    )
    ts_col = bars.column("ts")
    ts_arr = ts_col.combine_chunks() if ts_col.num_chunks != 1 else ts_col.chunk(0)
    eq_table = pa.table([ts_arr.cast(pa.int64()), equity, wallet, qty], schema=EQUITY_SCHEMA)
    return BatchResult(trades, eq_table, float(final_wallet))
