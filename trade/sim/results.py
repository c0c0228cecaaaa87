"""Result tables shared by the compiled kernel, the reference simulator and the batch driver."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from trade.core.enums import EXIT_REASONS as _EXIT_REASONS
from trade.sim.margin import MarginRisk

#: the trade log: one row per closed (or partly closed) position, from kernel and reference
TRADE_LOG_SCHEMA = pa.schema(
    [
        pa.field("trade_id", pa.int64()),
        pa.field("symbol", pa.string()),
        pa.field("side", pa.int8()),  # +1 long, -1 short (the side of the closed position)
        pa.field("entry_ts", pa.int64()),  # open time of the 1m bar of the opening fill
        pa.field("exit_ts", pa.int64()),  # open time of the 1m bar of the closing fill
        pa.field("entry_price", pa.float64()),
        pa.field("exit_price", pa.float64()),
        pa.field("qty", pa.float64()),  # closed quantity (a partial close is its own row)
        pa.field("gross_pnl", pa.float64()),
        pa.field("fees", pa.float64()),  # entry fee share + exit fee
        pa.field("funding", pa.float64()),  # funding share of the closed qty (paid > 0)
        pa.field("net_pnl", pa.float64()),  # gross_pnl - fees - funding
        pa.field("exit_reason", pa.string()),
        pa.field("mae", pa.float64()),
        pa.field("mfe", pa.float64()),
        pa.field("leverage", pa.float64()),
    ]
)

#: the equity curve: one row per processed 1m bar (what trade.metrics reads)
EQUITY_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.int64()),  # one row per processed 1m bar, after rules 1-7
        pa.field("equity", pa.float64()),
        pa.field("wallet_balance", pa.float64()),
        pa.field("position_qty", pa.float64()),  # signed: > 0 long, < 0 short
    ]
)

#: the trade log's exit reasons, in code order: the one table is `trade.core.enums.ExitReason`
EXIT_REASONS: tuple[str, ...] = _EXIT_REASONS


def trades_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a trade-log table from dict rows (keys = TRADE_LOG_SCHEMA names)."""
    rows = list(rows)
    cols = {f.name: [r[f.name] for r in rows] for f in TRADE_LOG_SCHEMA}
    return pa.table(cols, schema=TRADE_LOG_SCHEMA)


def equity_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build an equity-curve table from dict rows (keys = EQUITY_SCHEMA names)."""
    rows = list(rows)
    cols = {f.name: [r[f.name] for r in rows] for f in EQUITY_SCHEMA}
    return pa.table(cols, schema=EQUITY_SCHEMA)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of a run: the trade log and the per-1m-bar equity curve.

    Immutable; construction raises ValueError when a table's schema is not
    TRADE_LOG_SCHEMA / EQUITY_SCHEMA."""

    trades: pa.Table
    equity: pa.Table
    # Wallet balance after `finish()` (the end_of_data close included). The equity curve's
    # last row is the mark-to-market at the last close *before* that close, so they differ
    # by the closing taker fee when a position was open at the end.
    final_balance: float
    # the run's margin stress (trade.sim.margin); None where the run did not record it
    margin: MarginRisk | None = None

    def __post_init__(self) -> None:
        if not self.trades.schema.equals(TRADE_LOG_SCHEMA):
            raise ValueError(f"trades schema differs from TRADE_LOG_SCHEMA: {self.trades.schema}")
        if not self.equity.schema.equals(EQUITY_SCHEMA):
            raise ValueError(f"equity schema differs from EQUITY_SCHEMA: {self.equity.schema}")

    @property
    def n_trades(self) -> int:
        """Rows of the trade log (a partial close counts as its own trade)."""
        return int(self.trades.num_rows)


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """What `run_batch_summary` records of the equity curve over the 1m rows [start, stop).

    The same numbers as computed from the full curve `eq` (EQUITY_SCHEMA's equity column):
    `max_drawdown` = max(1 - v / running max of v) over v = [base, *eq[start:stop]];
    `exposed_bars` = bars with a non-zero position; `final_equity` = eq[stop - 1];
    `day_close` = eq at the last row of each UTC day (`day` = ts // 86_400_000) in the rows;
    `margin` = the margin figures over the segment's bars (trade.sim.margin).
    """

    start: int
    stop: int
    base: float  # the initial balance for the first segment, else eq[start - 1]
    final_equity: float
    max_drawdown: float
    exposed_bars: int
    day: npt.NDArray[np.int64]
    day_close: npt.NDArray[np.float64]
    margin: MarginRisk | None = None  # the segment's margin stress (trade.sim.margin)

    @property
    def n_bars(self) -> int:
        """The number of 1m rows in the segment."""
        return self.stop - self.start


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """The outcome of a run recorded as a summary (sweeps): the trade log and, per segment of
    the bars, the equity figures the sweep metrics need (no per-1m-bar arrays).

    Immutable; construction raises ValueError when the trade log's schema is not
    TRADE_LOG_SCHEMA."""

    trades: pa.Table
    segments: tuple[SegmentSummary, ...]
    final_balance: float  # wallet balance after finish() (as BatchResult.final_balance)

    def __post_init__(self) -> None:
        if not self.trades.schema.equals(TRADE_LOG_SCHEMA):
            raise ValueError(f"trades schema differs from TRADE_LOG_SCHEMA: {self.trades.schema}")

    @property
    def n_trades(self) -> int:
        """Rows of the trade log (a partial close counts as its own trade)."""
        return int(self.trades.num_rows)
