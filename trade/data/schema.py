"""Column schemas, the instrument record, and the row checks every write goes through."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from trade.core.errors import InputError
from trade.core.instrument import Instrument as Instrument  # the one instrument type (re-export)
from trade.data.intervals import MINUTE_MS

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
FLOAT_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume", "turnover")
#: the columns of stored 1m bars, in order
BAR_COLUMNS: tuple[str, ...] = ("ts", *FLOAT_COLUMNS)

#: stored 1m bars: ts (int64 ms, the bar's open) and float64 OHLCV and turnover, no nulls
BAR_SCHEMA = pa.schema(
    [pa.field("ts", pa.int64(), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in FLOAT_COLUMNS]
)
#: stored funding rates: ts (int64 ms, the settlement) and rate (float64)
FUNDING_SCHEMA = pa.schema(
    [pa.field("ts", pa.int64(), nullable=False), pa.field("rate", pa.float64(), nullable=False)]
)
#: stored open interest: ts (int64 ms, the moment Bybit states it: the end of its 5-minute
#: interval) and open_interest (float64, contracts in the base coin, >= 0)
OPEN_INTEREST_SCHEMA = pa.schema(
    [pa.field("ts", pa.int64(), nullable=False),
     pa.field("open_interest", pa.float64(), nullable=False)]
)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: the store keeps bars from the epoch up to the end of 2099: a ts outside is a unit or
#: parsing error (year 2223), never market data
MIN_TS_MS = 0
MAX_TS_MS = 4_102_444_800_000


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One refused row: `row` is its 0-based position in the table given (or the file line
    number when the importer supplies one), `ts` its timestamp, `reason` what is wrong."""

    row: int
    ts: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} (ts={self.ts}): {self.reason}"


@dataclass(slots=True)
class WriteReport:
    """What a write did. `refused` is True when nothing was stored (bad rows or conflicts)."""

    symbol: str
    rows_in: int = 0
    rows_added: int = 0
    rows_unchanged: int = 0
    rows_replaced: int = 0
    duplicates_in_input: int = 0
    files_written: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    conflicts: list[RowProblem] = field(default_factory=list)  # the first 100, described
    conflict_count: int = 0  # all conflicting rows
    refused: bool = False

    def summary(self, limit: int = 10) -> str:
        if self.refused:
            issues = self.problems or self.conflicts
            count = len(self.problems) if self.problems else self.conflict_count
            kind = (
                "bad rows"
                if self.problems
                else "conflicting rows (ts already stored with other values; "
                "--overwrite / overwrite=True replaces them)"
            )
            lines = [f"{self.symbol}: write refused, {count} {kind}; nothing stored"]
            lines += [f"  {p}" for p in issues[:limit]]
            if count > limit:
                lines.append(f"  ... and {count - min(limit, len(issues))} more")
            return "\n".join(lines)
        return (
            f"{self.symbol}: {self.rows_added} rows added, {self.rows_replaced} replaced, "
            f"{self.rows_unchanged} already stored, {len(self.files_written)} files written"
        )


class RefusedWriteError(InputError):
    """A write was refused; `.report` names the rows. Nothing was stored."""

    def __init__(self, report: WriteReport) -> None:
        super().__init__(report.summary())
        self.report = report


def coerce_bars(table: pa.Table) -> pa.Table:
    """The table's bar columns in schema order and types (ts int64, the rest float64).

    Raises InputError naming a missing column or one that cannot be cast."""
    missing = [c for c in BAR_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"bars table lacks column(s) {missing}; need {list(BAR_COLUMNS)}")
    arrays = []
    for fld in BAR_SCHEMA:
        col = table.column(fld.name)
        try:
            arrays.append(pc.cast(col, fld.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"column {fld.name!r} cannot be read as {fld.type}: {exc}") from exc
    nullable = pa.schema([f.with_nullable(True) for f in BAR_SCHEMA])
    return pa.Table.from_arrays(arrays, schema=nullable)


def _np_f64(table: pa.Table, name: str) -> F64:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def validate_bars(
    table: pa.Table, line_numbers: Sequence[int] | npt.NDArray[np.int64] | None = None
) -> list[RowProblem]:
    """Every problem in a coerced bars table, in row order.

    Rules: no nulls or NaN/inf; ts a multiple of 60 000 ms (bar open minute) within
    [MIN_TS_MS, MAX_TS_MS) (1970 .. 2099); ts strictly increasing (an exact duplicate row is
    allowed and later collapsed, a repeated ts with other values is not); open, high, low,
    close > 0; high >= max(open, close); low <= min(open, close); volume, turnover >= 0.

    Parameters
    ----------
    table : pyarrow.Table
        Bars-schema columns (`coerce_bars`).
    line_numbers : sequence of int, optional
        The source line of each row, used in the problems instead of the row index.

    Returns
    -------
    list of RowProblem
        Empty when every row is good.
    """
    n = table.num_rows
    if n == 0:
        return []
    rows = np.arange(n) if line_numbers is None else np.asarray(line_numbers)
    reasons: dict[int, list[str]] = {}

    def flag(idx: npt.NDArray[np.intp], text: Callable[[int], str]) -> None:
        for i in idx.tolist():
            reasons.setdefault(i, []).append(text(i))

    ts_col = table.column("ts")
    ts_null = np.asarray(ts_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    ts = np.asarray(ts_col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    cols: dict[str, F64] = {}
    for name in FLOAT_COLUMNS:
        arr = _np_f64(table, name)  # nulls become NaN here
        cols[name] = arr
        for i in np.flatnonzero(~np.isfinite(arr)).tolist():
            what = "NaN/missing" if np.isnan(arr[i]) else str(arr[i])
            reasons.setdefault(i, []).append(f"{name} is {what}")
    flag(np.flatnonzero(ts_null), lambda i: "ts is missing")
    flag(np.flatnonzero((ts % MINUTE_MS != 0) & ~ts_null),
         lambda i: f"ts {ts[i]} is not on a minute boundary (multiple of 60000 ms)")
    flag(np.flatnonzero(((ts < MIN_TS_MS) | (ts >= MAX_TS_MS)) & ~ts_null),
         lambda i: f"ts {ts[i]} ({_iso_day(int(ts[i]))}) is outside 1970-01-01 .. 2099-12-31")
    if n > 1:
        d = np.diff(ts)
        flag(np.flatnonzero(d < 0) + 1,
             lambda i: f"ts goes backwards (previous row has ts {ts[i - 1]})")
        same = np.flatnonzero(d == 0) + 1
        differs = np.zeros(len(same), dtype=bool)
        for col in FLOAT_COLUMNS:
            differs |= cols[col][same] != cols[col][same - 1]
        flag(same[differs], lambda i: "ts repeats the previous row with different values")
    o, h, lo, c = cols["open"], cols["high"], cols["low"], cols["close"]
    with np.errstate(invalid="ignore"):
        for name in PRICE_COLUMNS:  # a price is > 0: zero or negative bars are bad data
            for i in np.flatnonzero(cols[name] <= 0).tolist():
                reasons.setdefault(i, []).append(f"{name} {cols[name][i]} is not a positive price")
        flag(np.flatnonzero(h < np.maximum(o, c)),
             lambda i: f"high {h[i]} < max(open {o[i]}, close {c[i]})")
        flag(np.flatnonzero(lo > np.minimum(o, c)),
             lambda i: f"low {lo[i]} > min(open {o[i]}, close {c[i]})")
        for name in ("volume", "turnover"):
            for i in np.flatnonzero(cols[name] < 0).tolist():
                reasons.setdefault(i, []).append(f"{name} {cols[name][i]} is negative")
    return [
        RowProblem(int(rows[i]), int(ts[i]), "; ".join(reasons[i])) for i in sorted(reasons)
    ]


def _iso_day(ts: int) -> str:
    """`YYYY-MM-DD` of a ms timestamp, or the raw number when numpy cannot show it."""
    try:
        return str(np.datetime64(ts, "ms").astype("datetime64[D]"))
    except (OverflowError, ValueError):
        return str(ts)


def collapse_duplicates(table: pa.Table) -> tuple[pa.Table, int]:
    """Drop rows that exactly repeat the previous row's ts (validated tables only)."""
    ts = table.column("ts").to_numpy()
    if len(ts) < 2:
        return table, 0
    keep = np.ones(len(ts), dtype=bool)
    keep[1:] = ts[1:] != ts[:-1]
    dropped = int(len(ts) - keep.sum())
    return (table.filter(pa.array(keep)) if dropped else table), dropped


def _validate_series(table: pa.Table, schema: pa.Schema, what: str, *,
                     non_negative: bool = False) -> pa.Table:
    """A (ts, value) table in `schema`, sorted and deduplicated; InputError on bad rows."""
    name = schema.names[1]
    missing = [c for c in ("ts", name) if c not in table.column_names]
    if missing:
        raise InputError(f"{what} table lacks column(s) {missing}; need ['ts', '{name}']")
    ts_col = table.column("ts")
    val_col = table.column(name)
    if ts_col.null_count or val_col.null_count:
        raise InputError(f"{what} table has missing ts or {name} values")
    ts = np.asarray(ts_col.to_numpy(zero_copy_only=False), dtype=np.int64)
    val = np.asarray(val_col.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(val) | ((val < 0) if non_negative else False))
    if len(bad):
        rule = "not finite or negative" if non_negative else "not finite"
        raise InputError(f"{what} row {int(bad[0])} (ts={int(ts[bad[0]])}): {name} is {rule}")
    order = np.argsort(ts, kind="stable")
    ts, val = ts[order], val[order]
    if len(ts) > 1:
        same = np.flatnonzero(ts[1:] == ts[:-1])
        conflict = same[val[same + 1] != val[same]]
        if len(conflict):
            i = int(conflict[0])
            raise InputError(f"{what} ts {int(ts[i])} appears twice with different values")
        keep = np.ones(len(ts), dtype=bool)
        keep[1:] = ts[1:] != ts[:-1]
        ts, val = ts[keep], val[keep]
    return pa.Table.from_arrays([pa.array(ts), pa.array(val)], schema=schema)


def validate_funding(table: pa.Table) -> pa.Table:
    """Funding table as (ts int64, rate float64), sorted, deduplicated; InputError on bad rows."""
    return _validate_series(table, FUNDING_SCHEMA, "funding")


def validate_open_interest(table: pa.Table) -> pa.Table:
    """Open-interest table as (ts int64, open_interest float64 >= 0), sorted, deduplicated;
    InputError on bad rows."""
    return _validate_series(table, OPEN_INTEREST_SCHEMA, "open interest", non_negative=True)
