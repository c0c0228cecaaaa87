"""Data checks (gaps, suspicious bars) and gap repair (refetch, or mark gaps explicitly)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from trade.data.intervals import MINUTE_MS
from trade.data.store import GAP_SCHEMA, CorruptFileError, Store

#: fetch(symbol, start_ms, end_ms) -> 1m bars with start_ms <= ts < end_ms (bars schema)
Fetcher = Callable[[str, int, int], pa.Table]


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing minutes: bars with start_ms <= ts < end_ms are absent (`missing` of them)."""

    start_ms: int
    end_ms: int

    @property
    def missing(self) -> int:
        return (self.end_ms - self.start_ms) // MINUTE_MS


@dataclass(frozen=True, slots=True)
class Suspicious:
    """A bar (or run of bars starting at `ts`) that is valid but looks wrong."""

    ts: int
    kind: str  # "zero_range_run" | "jump" | "wide_bar"
    detail: str


@dataclass(slots=True)
class CheckReport:
    symbol: str
    rows: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    suspicious: list[Suspicious] = field(default_factory=list)
    corrupt_files: list[str] = field(default_factory=list)

    @property
    def missing_minutes(self) -> int:
        return sum(g.missing for g in self.gaps)

    @property
    def ok(self) -> bool:
        return not (self.gaps or self.suspicious or self.corrupt_files)


def _fmt(ts: int) -> str:
    return str(np.datetime64(int(ts), "ms").astype("datetime64[m]")).replace("T", " ")


def format_report(report: CheckReport, limit: int = 50) -> str:
    """Human-readable text of a check report (what `trade data check` prints).

    Parameters
    ----------
    report : CheckReport
    limit : int
        At most this many lines per section.

    Returns
    -------
    str
    """
    if report.rows == 0 and not report.corrupt_files:
        return f"{report.symbol}: no bars stored"
    span = (
        f"{_fmt(report.first_ts)} .. {_fmt(report.last_ts)} UTC"
        if report.first_ts is not None and report.last_ts is not None
        else "-"
    )
    lines = [
        f"{report.symbol}: {report.rows} bars, {span}; {len(report.gaps)} gaps "
        f"({report.missing_minutes} missing minutes), {len(report.suspicious)} suspicious bars"
    ]
    for path in report.corrupt_files:
        lines.append(f"  CORRUPT {path}")
    for gap in report.gaps[:limit]:
        lines.append(
            f"  gap  {_fmt(gap.start_ms)} .. {_fmt(gap.end_ms - MINUTE_MS)}  ({gap.missing} min)"
        )
    if len(report.gaps) > limit:
        lines.append(f"  ... and {len(report.gaps) - limit} more gaps")
    for sus in report.suspicious[:limit]:
        lines.append(f"  {sus.kind:<15}{_fmt(sus.ts)}  {sus.detail}")
    if len(report.suspicious) > limit:
        lines.append(f"  ... and {len(report.suspicious) - limit} more suspicious bars")
    return "\n".join(lines)


def find_gaps(ts: np.ndarray, prev_ts: int | None = None) -> list[Gap]:
    """Runs of missing minutes between consecutive bars (merged into ranges)."""
    t = np.asarray(ts, dtype=np.int64)
    if prev_ts is not None:
        t = np.concatenate([[prev_ts], t])
    if len(t) < 2:
        return []
    d = np.diff(t)
    idx = np.flatnonzero(d > MINUTE_MS)
    return [Gap(int(t[i]) + MINUTE_MS, int(t[i + 1])) for i in idx]


def find_suspicious(
    bars: pa.Table, *, zero_run: int = 5, jump: float = 0.2, prev_close: float | None = None
) -> list[Suspicious]:
    """Runs of >= `zero_run` bars with high == low (a stale feed), opens more than `jump`
    (fraction) away from the previous close, and bars whose high/low spans more than `jump`."""
    out: list[Suspicious] = []
    n = bars.num_rows
    if n == 0:
        return out
    ts = bars.column("ts").to_numpy()
    o, h, lo, c = (bars.column(x).to_numpy() for x in ("open", "high", "low", "close"))
    flat = (h == lo).astype(np.int8)
    edges = np.diff(np.concatenate([[0], flat, [0]]))
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if b - a >= zero_run:
            out.append(Suspicious(int(ts[a]), "zero_range_run",
                                  f"{b - a} bars in a row with high == low == {h[a]}"))
    prev = np.concatenate([[np.nan if prev_close is None else prev_close], c[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(o / prev - 1.0)
        for i in np.flatnonzero(rel > jump):
            out.append(Suspicious(int(ts[i]), "jump",
                                  f"open {o[i]} is {rel[i]:.1%} from previous close {prev[i]}"))
        span = h / lo - 1.0
        for i in np.flatnonzero(span > jump):
            out.append(Suspicious(int(ts[i]), "wide_bar",
                                  f"high {h[i]} is {span[i]:.1%} above low {lo[i]}"))
    out.sort(key=lambda s: s.ts)
    return out


def check(store: Store, symbol: str, *, zero_run: int = 5, jump: float = 0.2) -> CheckReport:
    """Scan a symbol's stored bars month by month.

    Parameters
    ----------
    store : Store
    symbol : str
    zero_run : int
        Flag runs of at least this many bars with high == low.
    jump : float
        Flag opens this far (a fraction) from the previous close, and bars this wide.

    Returns
    -------
    CheckReport
        Gaps (missing minutes, merged into ranges), suspicious bars and the month files that
        cannot be read (a corrupt month is reported, not raised).
    """
    report = CheckReport(symbol)
    prev_ts: int | None = None
    prev_close: float | None = None
    for _key, path in store.month_files(symbol).items():
        try:
            table = store.read_month_file(path)
        except CorruptFileError:
            report.corrupt_files.append(path)
            prev_ts = prev_close = None  # do not report the unreadable month as a gap
            continue
        if table.num_rows == 0:
            continue
        ts = table.column("ts").to_numpy()
        report.gaps += find_gaps(ts, prev_ts)
        report.suspicious += find_suspicious(table, zero_run=zero_run, jump=jump,
                                             prev_close=prev_close)
        report.rows += table.num_rows
        report.first_ts = int(ts[0]) if report.first_ts is None else report.first_ts
        report.last_ts = int(ts[-1])
        prev_ts = int(ts[-1])
        prev_close = float(table.column("close")[-1].as_py())
    return report


def unrecorded_gaps(store: Store, symbol: str, gaps: list[Gap]) -> list[Gap]:
    """The gaps no row of the symbol's gap table covers (`repair` records the gaps it could
    not fill, a download those missing at the exchange): the ones nobody has accounted for."""
    table = store.read_gaps(symbol)
    known = list(zip(table.column("start_ms").to_pylist(), table.column("end_ms").to_pylist(),
                     strict=True))
    return [g for g in gaps if not any(a <= g.start_ms and g.end_ms <= b for a, b in known)]


@dataclass(slots=True)
class RepairReport:
    symbol: str
    gaps_found: int = 0
    rows_fetched: int = 0
    gaps_filled: int = 0
    gaps_unfilled: int = 0
    gaps_at_exchange: int = 0  # confirmed missing at the exchange by an earlier download
    gap_table_path: str = ""

    def summary(self) -> str:
        return (
            f"{self.symbol}: {self.gaps_found} gaps; {self.rows_fetched} bars fetched, "
            f"{self.gaps_filled} gaps filled, {self.gaps_at_exchange} missing at the exchange, "
            f"{self.gaps_unfilled} left as marked gaps (gap table {self.gap_table_path})"
        )


def repair(store: Store, symbol: str, fetch: Fetcher | None = None) -> RepairReport:
    """Fill gaps through `fetch` when given, then write the explicit gap table.

    Without a fetcher (an offline store) no price is invented: every gap is written to the gap
    table (`Store.read_gaps`) with status "unfilled". With one, each gap's range is fetched and
    stored through `write_bars` (same validation; rows outside the gap are ignored); the gap
    table then records each original gap as "filled", "partial" or "unfilled". A gap an
    earlier download confirmed missing at the exchange keeps the status "exchange" and is
    not asked for again.

    Parameters
    ----------
    store : Store
    symbol : str
    fetch : Fetcher, optional
        ``fetch(symbol, start_ms, end_ms) -> bars table`` (e.g. over Bybit's REST).

    Returns
    -------
    RepairReport

    Raises
    ------
    RefusedWriteError
        Fetched bars conflict with stored ones.
    SourceError
        `fetch` failed.
    """
    report = RepairReport(symbol)
    gaps = check(store, symbol).gaps
    report.gaps_found = len(gaps)
    # gaps a download already confirmed missing at the exchange keep that status
    known = store.read_gaps(symbol).to_pylist()
    confirmed = [(r["start_ms"], r["end_ms"]) for r in known if r["status"] == "exchange"]

    def at_exchange(start_ms: int, end_ms: int) -> bool:
        return any(a <= start_ms and end_ms <= b for a, b in confirmed)

    status: list[str] = []
    for gap in gaps:
        if at_exchange(gap.start_ms, gap.end_ms):
            status.append("exchange")
            continue
        if fetch is None:
            status.append("unfilled")
            continue
        got = fetch(symbol, gap.start_ms, gap.end_ms)
        if got.num_rows:
            ts = np.asarray(got.column("ts").to_numpy(zero_copy_only=False), dtype=np.int64)
            inside = got.filter(pa.array((ts >= gap.start_ms) & (ts < gap.end_ms)))
            if inside.num_rows:
                store.write_bars(symbol, inside)
                report.rows_fetched += inside.num_rows
        remaining = store.read_bars(symbol, gap.start_ms, gap.end_ms).num_rows
        status.append("filled" if remaining == gap.missing else
                      "partial" if remaining else "unfilled")
    report.gaps_filled = status.count("filled")
    report.gaps_at_exchange = status.count("exchange")
    report.gaps_unfilled = len(status) - report.gaps_filled - report.gaps_at_exchange
    table = pa.Table.from_arrays(
        [
            pa.array([g.start_ms for g in gaps], type=pa.int64()),
            pa.array([g.end_ms for g in gaps], type=pa.int64()),
            pa.array([g.missing for g in gaps], type=pa.int64()),
            pa.array(status, type=pa.string()),
        ],
        schema=GAP_SCHEMA,
    )
    report.gap_table_path = store.write_gaps(symbol, table)
    return report
