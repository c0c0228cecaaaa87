"""Precomputed exec-timeframe signals for the batch path, and the rules that turn them into orders.

The batch runner (compiled or reference) walks the 1m bars. After the 1m bar
`exec_close_idx[j]` closes (the last 1m bar of exec bar `j`), it reads row `j`
of these arrays and acts, in this order:

1. **Cancel** a resting entry limit whose expiry has come (`expire_bars` 1m bars
   after it was placed; 0 = never).
2. **Exits.** If a long is open and `exit_long[j]`, or a short is open and
   `exit_short[j]`: a reduce-only market order for `exit_pct[j]` percent of the
   position (100 = all; the closed qty is rounded down to `qty_step`, a close of
   all of it is never rounded). Exit reason `signal`.
3. **Entries.** `entry_long[j]` and `entry_short[j]` both set: nothing is done
   (ambiguous). Otherwise for the one set, if no entry order is resting:
   * flat: open in that direction;
   * already in that direction: nothing (one position per symbol);
   * opposite position: if `allow_flip`, one market order for
     position size + new size (the opposite position is closed with reason
     `flip`), else nothing.
   The position is read net of this row's exit (step 2): an exit of all of
   it makes the entry an entry from flat; a partial exit leaves the rest to flip.
   Quantity, with `ref = close of the 1m bar exec_close_idx[j]`,
   `E = equity at that close`, `L = config.leverage`:
   * FIXED_USDT: `notional = size_value[j]`;
   * PERCENT_EQUITY: `notional = E * size_value[j] / 100 * L`;
   * RISK_BASED: `notional = E * size_value[j] / 100 / sl_pct[j]` (needs a stop;
     without one the entry is skipped);
   then capped at `E * L / (1 + L * taker_fee)` (margin plus the opening fee fit in
   equity), `qty = notional / ref` rounded down to `qty_step`;
   skipped if `qty < min_qty`, `qty * ref < min_notional` or `qty <= 0`.
   The order is MARKET (GTC; `entry_tif` does not apply), or when
   `entry_limit_offset[j] > 0` (and it is not a flip) a LIMIT at
   `ref * (1 - offset)` for a long (`ref * (1 + offset)` for a short) with time
   in force `entry_tif` (the run's, default GTC) that is cancelled after
   `expire_bars` 1m bars. The kernel's TIF rules apply: an IOC or FOK entry
   that does not fill on its first eligible 1m bar is cancelled; a PostOnly
   entry whose price would cross the last close (`ref`) is rejected at once.
   A cancelled or rejected entry is not retried: only a later row's entry
   signal places a new one. Attached to it: stop-loss offset
   `sl_pct[j]`, take-profit offset `tp_pct[j]`, both fractions of the entry
   fill price (0 = none); trailing distance `trail_pct[j] * fill price` (0 =
   none) with activation `trail_activation[j]` (a fraction of the entry
   price: the trailing stop arms only once the best price since entry has
   moved that far in favour; 0 = armed at the fill; ignored without a trail);
   break-even activation/offset `be_activation[j]`, `be_offset[j]`
   (fractions; activation 0 = none). The run constants `take_profit_levels`
   (split take-profits: they replace `tp_pct`), `tp_limit`, `sl_limit`, `tp_by_mark`
   and `sl_by_mark` go with every entry (docs/fill_model.md rule 4, A-D).

Every array has one row per exec bar (length `n_exec`); NaN in a float array
means 0 (none); a NaN or negative size is an error. A column that is the same on every row
may be one value broadcast to all of them (`constant(n, value)`, a stride-0 view): it costs
no memory and the kernel reads it as a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from trade.core.enums import TimeInForce
from trade.core.models import check_levels
from trade.sim.config import SizeMode

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
I64 = npt.NDArray[np.int64]


#: the per-row 0/1 arrays and the per-row float arrays of SignalArrays, in a stable order
FLAG_FIELDS: tuple[str, ...] = ("entry_long", "entry_short", "exit_long", "exit_short")
FLOAT_FIELDS: tuple[str, ...] = (
    "size_value",
    "sl_pct",
    "tp_pct",
    "trail_pct",
    "be_activation",
    "be_offset",
    "exit_pct",
    "entry_limit_offset",
    "trail_activation",
)


def _distinct(arr: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The rows to check: one for a column broadcast from one value (stride 0), else all."""
    return arr[:1] if arr.ndim == 1 and arr.strides[0] == 0 else arr


def constant(n: int, value: float) -> F64:
    """A float column of `n` rows all `value`, stored once (a read-only stride-0 view): the
    kernel reads it as a scalar and validation checks it once."""
    return np.broadcast_to(np.float64(value), (n,))


def _f64(n: int, value: float = 0.0) -> F64:
    return np.full(n, value, dtype=np.float64)


@dataclass(slots=True)
class SignalArrays:
    """Per-exec-bar inputs of a batch run. Build with `SignalArrays.empty(n)` and fill in.

    One row per exec bar: its last 1m bar (`exec_close_idx`), the entry and exit flags, the
    size and bracket settings (module docstring); the scalars apply to every row. Mutable
    arrays: fill them before the run and do not share one instance between threads while
    it is being filled."""

    exec_close_idx: I64  # index of the last 1m bar of each exec bar, strictly increasing
    entry_long: U8
    entry_short: U8
    exit_long: U8
    exit_short: U8
    size_value: F64
    sl_pct: F64
    tp_pct: F64
    trail_pct: F64
    be_activation: F64
    be_offset: F64
    exit_pct: F64
    entry_limit_offset: F64
    trail_activation: F64
    size_mode: SizeMode = SizeMode.PERCENT_EQUITY
    allow_flip: bool = False
    expire_bars: int = 0
    entry_tif: TimeInForce = TimeInForce.GTC  # time in force of limit entries
    meta: dict[str, str] = field(default_factory=dict)
    # the Play's split take-profits and limit / mark-price brackets, run constants attached to
    # every entry (OrderRequest's fields of the same names; docs/fill_model.md rule 4, A-D):
    # (pct, size) pairs, pct a fraction of the fill price, size of what earlier levels leave
    take_profit_levels: tuple[tuple[float, float], ...] = ()
    tp_limit: bool = False
    sl_limit: bool = False
    tp_by_mark: bool = False
    sl_by_mark: bool = False

    @classmethod
    def empty(cls, exec_close_idx: npt.ArrayLike, **scalars: object) -> SignalArrays:
        """Signals with no entries or exits for the exec bars closing at `exec_close_idx`:
        flags 0, `size_value` and `exit_pct` 100, every other float 0; `scalars` set the
        scalar fields (`size_mode`, `allow_flip`, `expire_bars`, `entry_tif`, `meta`)."""
        idx = np.ascontiguousarray(exec_close_idx, dtype=np.int64)
        n = len(idx)

        def zeros_u8() -> U8:
            return np.zeros(n, dtype=np.uint8)

        return cls(
            exec_close_idx=idx,
            entry_long=zeros_u8(),
            entry_short=zeros_u8(),
            exit_long=zeros_u8(),
            exit_short=zeros_u8(),
            size_value=_f64(n, 100.0),
            sl_pct=_f64(n),
            tp_pct=_f64(n),
            trail_pct=_f64(n),
            be_activation=_f64(n),
            be_offset=_f64(n),
            exit_pct=_f64(n, 100.0),
            entry_limit_offset=_f64(n),
            trail_activation=_f64(n),
            **scalars,  # type: ignore[arg-type]
        )

    def __len__(self) -> int:
        return len(self.exec_close_idx)

    def validate(self, n_bars: int) -> None:
        """Raise ValueError naming the first bad field/row."""
        n = len(self.exec_close_idx)
        for name in (*FLAG_FIELDS, *FLOAT_FIELDS):
            arr = getattr(self, name)
            if len(arr) != n:
                raise ValueError(f"signal array {name} has {len(arr)} rows, expected {n}")
        idx = self.exec_close_idx
        if n and (idx[0] < 0 or idx[-1] >= n_bars):
            raise ValueError(f"exec_close_idx out of range [0, {n_bars}): {idx[0]}..{idx[-1]}")
        if n > 1:
            bad = np.flatnonzero(np.diff(idx) <= 0)
            if len(bad):
                raise ValueError(f"exec_close_idx not strictly increasing at row {int(bad[0]) + 1}")
        for name in FLOAT_FIELDS:
            arr = _distinct(np.asarray(getattr(self, name), dtype=np.float64))
            neg = np.flatnonzero(arr < 0)
            if len(neg):
                raise ValueError(f"signal array {name} is negative at row {int(neg[0])}")
        size = _distinct(np.asarray(self.size_value, dtype=np.float64))
        bad_size = np.flatnonzero(np.isnan(size))
        if len(bad_size):
            raise ValueError(f"signal array size_value is NaN at row {int(bad_size[0])}")
        if not isinstance(self.entry_tif, TimeInForce):
            raise ValueError(f"entry_tif must be a TimeInForce, got {self.entry_tif!r}")
        if self.expire_bars < 0:
            raise ValueError(f"expire_bars must be >= 0, got {self.expire_bars}")
        check_levels(self.take_profit_levels)
