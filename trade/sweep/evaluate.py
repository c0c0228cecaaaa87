"""One variant, start to finish: Play overrides -> shared features -> signals -> kernel -> metrics.

`SweepContext` holds what every variant shares: the base Play, the 1m bars (one Arrow table,
read by every thread and never copied: the kernel takes zero-copy numpy views of it), the
instrument, the windows (selection / walk-forward / hold-out) and a `FrameCache`.

`FrameCache` computes each indicator once per distinct (indicator, resolved params,
timeframe) and each exec-timeframe skeleton (resampled exec bars, the index of each exec
bar's closing 1m bar) once per exec interval; variants that share a feature share its array.
The frame it builds equals `trade.engine.exec_frame(play, bars)` series for series (a test
checks this); the signals come from `trade.engine.build_signals`, the simulation from
`trade.sim.run_batch` (nogil), the metrics from `trade.metrics.compute_metrics`, so a
variant's trades and metrics are those of `run_backtest` on the same Play and bars.

Fast path: with `metrics="fast"` and no walk-forward windows, a variant runs through
`trade.sim.batch.run_batch_summary` (the kernel records, per segment — the selection, then
the hold-out — the drawdown, exposure, final equity and UTC-day closes instead of three
per-1m-bar arrays) and `summary_metrics` scores it: the same values as `fast_metrics` on the
full curve (tests/test_sim_fastpath.py). The bars are validated once per context
(`validated_bars`), not once per variant.

Windows: the variant is simulated once over all the bars; metrics of a window [a, b) are
computed on the equity rows in it (the initial balance being the equity just before `a`) and
the trades that closed in it. The simulation and the features are causal, so a window's
figures depend only on bars before its end: a train window never sees its test window.

Margin figures (the "margin" metrics, in both modes): the kernel's ledger records them per
run and per summary segment. A window shorter than the run takes them from one extra
`run_batch_summary` of the variant cut at every window boundary, its segments merged
(`merge_margins`); an event-path variant (circuit breaker) has only the whole run's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from trade.core import InputError
from trade.data import resample
from trade.data.schema import Instrument
from trade.engine import (
    DEFAULT_INSTRUMENT,
    ExecFrame,
    FeatureDef,
    build_signals,
    feature_defs,
    order_plan,
    sim_config,
)
from trade.engine.backtest import run_event
from trade.engine.features import exec_bars, market_1m, market_series
from trade.indicators import compute
from trade.metrics import METRIC_DOCS, compute_metrics, margin_metrics
from trade.play import Play, align_to_exec, apply_overrides, compiled_actions, interval_ms
from trade.sim import BatchResult, run_batch
from trade.sim.batch import ValidatedBars, run_batch_summary, validate_bars
from trade.sim.config import SimConfig
from trade.sim.margin import MarginRisk
from trade.sim.results import BatchSummary, SegmentSummary
from trade.sim.signals import SignalArrays
from trade.sweep.windows import Window

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
MetricsMode = Literal["full", "fast"]
BAR_BUILTINS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
DAY_MS = 86_400_000
BAR_MS = 60_000

#: the margin metrics (trade.metrics' "margin" group: the simulator's ledger figures)
MARGIN_METRICS: tuple[str, ...] = tuple(
    name for name, doc in METRIC_DOCS.items() if doc.group == "margin"
)

#: metrics of the "fast" mode: the same definitions as trade.metrics (a test checks equality)
FAST_METRICS: tuple[str, ...] = (
    "total_return", "net_profit", "final_equity", "volatility", "sharpe", "sortino",
    "max_drawdown", "num_trades", "win_rate", "net_pnl", "profit_factor", "fees_paid",
    "exposure", *MARGIN_METRICS,
)


def metric_names(mode: MetricsMode) -> tuple[str, ...]:
    """The metric keys a sweep computes and stores in the given metrics mode.

    Parameters
    ----------
    mode : {"full", "fast"}
        "full": every key of `trade.metrics.METRIC_DOCS`, in its order; "fast": `FAST_METRICS`.

    Returns
    -------
    tuple[str, ...]
        The metric names (the `metric.<name>` columns of the results table).
    """
    return tuple(METRIC_DOCS) if mode == "full" else FAST_METRICS


@dataclass(frozen=True, slots=True)
class _Skeleton:
    exec_ts: I64
    close_idx: I64
    series: dict[str, F64]
    arrays: dict[str, F64]  # the closed exec bars (features on the exec tf are computed on them)


def _arrays(bars: pa.Table) -> dict[str, F64]:
    return {
        "ts": np.asarray(bars.column("ts").to_numpy(), dtype=np.float64),
        **{k: np.asarray(bars.column(k).to_numpy(), dtype=np.float64) for k in BAR_BUILTINS},
    }


class FrameCache:
    """Exec frames of Play variants over one set of 1m bars, sharing every computation.

    Thread-safe: each distinct item is computed exactly once (a per-key lock), then read by
    every thread. `computed` counts the computations by key kind (for tests and logs)."""

    def __init__(self, bars_1m: pa.Table) -> None:
        if bars_1m.num_rows == 0:
            raise InputError("no 1m bars to run on")
        self.bars = bars_1m
        self.ts_1m = np.asarray(bars_1m.column("ts").to_numpy(), dtype=np.int64)
        self.close_1m = np.asarray(bars_1m.column("close").to_numpy(), dtype=np.float64)
        if "mark_price" in bars_1m.column_names:
            self.mark_1m = np.asarray(bars_1m.column("mark_price").to_numpy(), dtype=np.float64)
        else:
            self.mark_1m = self.close_1m
        self.market_1m = market_1m(bars_1m)  # funding_rate / open_interest, when carried
        self._lock = threading.Lock()
        self._locks: dict[tuple[Any, ...], threading.Lock] = {}
        self._items: dict[tuple[Any, ...], Any] = {}
        self.computed: Counter[str] = Counter()

    def _once(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        item = self._items.get(key)
        if item is not None:
            return item
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            item = self._items.get(key)
            if item is None:
                item = make()
                self._items[key] = item
                with self._lock:
                    self.computed[str(key[0])] += 1
        return item

    def tf_arrays(self, interval: str) -> dict[str, F64]:
        """Bars of `interval` resampled from the 1m bars, as float arrays."""
        out: dict[str, F64] = self._once(("resample", interval),
                                         lambda: _arrays(resample(self.bars, interval)))
        return out

    def skeleton(self, exec_tf: str) -> _Skeleton:
        """Exec bars that closed within the data, and their closing 1m bar (as exec_frame)."""
        return self._once(("skeleton", exec_tf), lambda: self._make_skeleton(exec_tf))  # type: ignore[no-any-return]

    def _make_skeleton(self, exec_tf: str) -> _Skeleton:
        exec_ts, close_idx, arr = exec_bars(self.bars, exec_tf, self.ts_1m)  # as exec_frame
        series: dict[str, F64] = {k: arr[k] for k in BAR_BUILTINS}
        identity = len(close_idx) == len(self.ts_1m)
        series["last_price"] = self.close_1m if identity else self.close_1m[close_idx]
        series["mark_price"] = self.mark_1m if identity else self.mark_1m[close_idx]
        series.update(market_series(self.market_1m, close_idx, identity))
        return _Skeleton(exec_ts, close_idx, series, arr)

    def indicator(self, d: FeatureDef, exec_tf: str) -> dict[str, F64]:
        """`compute(d.indicator, d.params)` on d's timeframe, once per distinct set (on the
        exec timeframe: over its closed bars, as exec_frame does)."""
        on_exec = d.interval == exec_tf
        key = ("indicator", d.indicator, json.dumps(d.params, sort_keys=True), d.interval,
               on_exec)
        arrays = self.skeleton(exec_tf).arrays if on_exec else self.tf_arrays(d.interval)
        out: dict[str, F64] = self._once(key, lambda: compute(d.indicator, d.params, arrays))
        return out

    def _aligned(self, d: FeatureDef, exec_tf: str) -> dict[str, F64]:
        key = ("aligned", d.indicator, json.dumps(d.params, sort_keys=True), d.interval, exec_tf)

        def make() -> dict[str, F64]:
            values = self.indicator(d, exec_tf)
            if d.interval == exec_tf:
                return {o: np.ascontiguousarray(values[o], dtype=np.float64) for o in d.outputs}
            skel = self.skeleton(exec_tf)
            arr_ts = self.tf_arrays(d.interval)["ts"].astype(np.int64)
            # visible only once its own bar has closed (no look-ahead)
            return {o: np.ascontiguousarray(
                align_to_exec(arr_ts, values[o], interval_ms(d.interval), skel.exec_ts,
                              interval_ms(exec_tf)), dtype=np.float64) for o in d.outputs}

        out: dict[str, F64] = self._once(key, make)
        return out

    def frame(self, play: Play) -> ExecFrame:
        """The ExecFrame of `play` (equal to trade.engine.exec_frame(play, bars))."""
        exec_tf = play.exec_tf
        skel = self.skeleton(exec_tf)
        series = dict(skel.series)
        defs = feature_defs(play)
        for d in defs:
            values = self._aligned(d, exec_tf)
            for out_name, name in zip(d.outputs, d.series, strict=True):
                series[name] = values[out_name]
        return ExecFrame(skel.exec_ts, skel.close_idx, series, self.close_1m, self.mark_1m, defs,
                         self.market_1m)


# ====================================================================== metrics


DayIndex = tuple[I64, I64]


def day_index(ts: I64) -> DayIndex:
    """(last row of each UTC day, the day each calendar day takes its close from): the same
    for every variant of a sweep, so it is computed once per window."""
    day = ts // DAY_MS
    last = np.append(np.flatnonzero(np.diff(day) != 0), day.shape[0] - 1).astype(np.int64)
    days = day[last]
    full = np.arange(days[0], days[-1] + 1, dtype=np.int64)
    return last, (np.searchsorted(days, full, side="right") - 1).astype(np.int64)


def _returns(closes: F64, base: float) -> F64:
    """Daily returns of the daily closes, the first against `base`."""
    prev = np.concatenate(([base], closes[:-1]))
    rets = np.zeros_like(closes)
    ok = prev > 0
    rets[ok] = closes[ok] / prev[ok] - 1.0
    return rets


def _daily(ts: I64, equity: F64, base: float, index: DayIndex | None = None) -> tuple[F64, F64]:
    """Daily closes and returns, as trade.metrics.series.daily computes them (a day without
    bars carries the previous close)."""
    last, pos = index if index is not None else day_index(ts)
    closes = equity[last][pos]
    return closes, _returns(closes, base)


def _summary_daily(seg: SegmentSummary) -> tuple[F64, F64]:
    """_daily from a run_batch_summary segment (its UTC-day closes are equity[last])."""
    days = seg.day
    full = np.arange(days[0], days[-1] + 1, dtype=np.int64)
    pos = np.searchsorted(days, full, side="right") - 1
    closes = seg.day_close[pos]
    return closes, _returns(closes, seg.base)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _metrics(r: F64, max_dd: float, exposure: float, final: float, net_pnl: F64, fees: F64,
             initial: float, margin: MarginRisk | None) -> dict[str, float | int | None]:
    sqrt_p = math.sqrt(365)
    mean = float(np.mean(r))
    std = float(np.std(r, ddof=1)) if r.shape[0] >= 2 else None
    sharpe = None
    if std is not None and not (std == 0.0 or std <= 1e-12 * abs(mean)):
        sharpe = _finite(mean / std * sqrt_p)
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    n = int(net_pnl.shape[0])
    wins = float(net_pnl[net_pnl > 0].sum())
    losses = float(net_pnl[net_pnl < 0].sum())
    return {
        "total_return": _finite(final / initial - 1.0),
        "net_profit": _finite(final - initial),
        "final_equity": final,
        "volatility": None if std is None else _finite(std * sqrt_p),
        "sharpe": sharpe,
        "sortino": _finite(mean / downside * sqrt_p) if downside > 0.0 else None,
        "max_drawdown": max_dd,
        "num_trades": n,
        "win_rate": _finite(float((net_pnl > 0).sum()) / n) if n else None,
        "net_pnl": float(net_pnl.sum()),
        "profit_factor": _finite(wins / -losses) if losses != 0.0 else None,
        "fees_paid": float(fees.sum()),
        "exposure": exposure,
        **margin_metrics(margin),
    }


def fast_metrics(ts: I64, equity: F64, qty: F64, net_pnl: F64, fees: F64,
                 initial: float, index: DayIndex | None = None,
                 margin: MarginRisk | None = None) -> dict[str, float | int | None]:
    """The FAST_METRICS subset with trade.metrics' definitions (daily returns, ddof=1 std,
    annualised by sqrt(365); drawdown on the 1m curve with the initial balance as first peak).

    Parameters
    ----------
    ts : ndarray of int64
        Open times (ms) of the 1m equity rows, ascending; at least one row.
    equity : ndarray of float64
        Equity at the close of each row, aligned with `ts`.
    qty : ndarray of float64
        Position quantity of each row (exposure is the share of rows where it is non-zero).
    net_pnl : ndarray of float64
        Net PnL of each closed trade.
    fees : ndarray of float64
        Fees of each closed trade.
    initial : float
        Equity before the first row (the base of the first return and the first peak).
    index : tuple of two int64 arrays, optional
        A precomputed `day_index(ts)` (the sweep caches it across variants); computed when None.
    margin : trade.sim.margin.MarginRisk, optional
        The margin figures of these rows (the simulator's ledger); None leaves the margin
        metrics None.

    Returns
    -------
    dict[str, float | int | None]
        One value per `FAST_METRICS` key; None where a metric is undefined (as trade.metrics).
    """
    _, r = _daily(ts, equity, initial, index)
    values = np.concatenate(([initial], equity))
    max_dd = float(np.max(1.0 - values / np.maximum.accumulate(values)))
    exposure = np.count_nonzero(qty) / qty.shape[0]
    return _metrics(r, max_dd, exposure, float(equity[-1]), net_pnl, fees, initial, margin)


def summary_metrics(seg: SegmentSummary, net_pnl: F64, fees: F64
                    ) -> dict[str, float | int | None]:
    """fast_metrics of a segment recorded by run_batch_summary (the same values: the kernel
    records the segment's drawdown, exposure and UTC-day closes exactly as computed above,
    and its margin figures)."""
    _, r = _summary_daily(seg)
    return _metrics(r, seg.max_drawdown, seg.exposed_bars / seg.n_bars, seg.final_equity,
                    net_pnl, fees, seg.base, seg.margin)


@dataclass(frozen=True, slots=True)
class WindowResult:
    metrics: dict[str, float | int | None]
    n_trades: int
    daily_returns: F64


def merge_margins(parts: Sequence[MarginRisk]) -> MarginRisk:
    """The margin figures of consecutive segments taken together (minima of the minima,
    maximum of the maxima, sums of the counts; NaN parts recorded nothing).

    Parameters
    ----------
    parts : sequence of MarginRisk
        The figures of segments that partition some rows (at least one).

    Returns
    -------
    MarginRisk
        The figures of those rows, as one segment over them would record them.
    """
    if not parts:
        raise ValueError("merge_margins needs at least one segment")

    def low(values: Iterable[float]) -> float:
        finite = [v for v in values if not math.isnan(v)]
        return min(finite) if finite else math.nan

    return MarginRisk(
        min_margin_ratio=low(m.min_margin_ratio for m in parts),
        margin_call_bars=sum(m.margin_call_bars for m in parts),
        closest_liquidation_pct=low(m.closest_liquidation_pct for m in parts),
        max_gross_exposure_pct=max(m.max_gross_exposure_pct for m in parts),
        entry_attempts=sum(m.entry_attempts for m in parts),
        entry_rejections=sum(m.entry_rejections for m in parts),
    )


def window_metrics(result: BatchResult, bars: pa.Table | None, lo: int, hi: int, initial: float,
                   mode: MetricsMode, *, daily: bool = False,
                   index: DayIndex | None = None,
                   margin: MarginRisk | None = None) -> WindowResult:
    """Metrics of the 1m rows [lo, hi) of a run (trades counted where they closed).
    `bars`: the 1m bars whose close is the buy-and-hold benchmark, row for row with the
    run's curve (None: no benchmark). `margin`: the margin figures of those rows (the whole
    run's are `result.margin`)."""
    eq = result.equity
    whole = lo == 0 and hi == eq.num_rows
    base = initial if lo == 0 else float(eq.column("equity")[lo - 1].as_py())
    eq_w = eq if whole else eq.slice(lo, hi - lo)
    trades = result.trades
    if not whole and trades.num_rows:
        ts = eq.column("ts")
        t0, t1 = ts[lo].as_py(), ts[hi - 1].as_py()
        exit_ts = trades.column("exit_ts")
        trades = trades.filter(pc.and_(pc.greater_equal(exit_ts, t0), pc.less_equal(exit_ts, t1)))
    ts_arr = np.asarray(eq_w.column("ts").to_numpy(), dtype=np.int64)
    eq_arr = np.asarray(eq_w.column("equity").to_numpy(), dtype=np.float64)
    if mode == "full":
        bench = None if bars is None else bars.select(["ts", "close"])
        if bench is not None and not whole:
            bench = bench.slice(lo, hi - lo)
        metrics = compute_metrics(eq_w, trades, initial_balance=base, benchmark_close=bench,
                                  margin=margin)
    else:
        metrics = fast_metrics(
            ts_arr, eq_arr, np.asarray(eq_w.column("position_qty").to_numpy(), dtype=np.float64),
            np.asarray(trades.column("net_pnl").to_numpy(), dtype=np.float64),
            np.asarray(trades.column("fees").to_numpy(), dtype=np.float64), base, index,
            margin)
    rets = _daily(ts_arr, eq_arr, base, index)[1] if daily else np.zeros(0)
    return WindowResult(metrics, int(trades.num_rows), rets)


def segment_metrics(summary: BatchSummary, k: int, ts_1m: I64, *,
                    daily: bool = False) -> WindowResult:
    """window_metrics of segment k of a run_batch_summary run (the same values for the same
    rows; trades counted where they closed)."""
    seg = summary.segments[k]
    trades = summary.trades
    if len(summary.segments) > 1 and trades.num_rows:
        t0, t1 = int(ts_1m[seg.start]), int(ts_1m[seg.stop - 1])
        exit_ts = trades.column("exit_ts")
        trades = trades.filter(pc.and_(pc.greater_equal(exit_ts, t0), pc.less_equal(exit_ts, t1)))
    net = np.asarray(trades.column("net_pnl").to_numpy(), dtype=np.float64)
    fees = np.asarray(trades.column("fees").to_numpy(), dtype=np.float64)
    rets = _summary_daily(seg)[1] if daily else np.zeros(0)
    return WindowResult(summary_metrics(seg, net, fees), int(trades.num_rows), rets)


# ====================================================================== context


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """How variants are scored: the metrics mode, the trade count a variant needs to be
    eligible, the metric results are sorted by, and whether daily returns are stored.

    Immutable. Construction raises `trade.core.InputError` for a negative `min_trades` or a
    `sort` that is not one of `metric_names(metrics)`."""

    metrics: MetricsMode = "full"
    min_trades: int = 0
    sort: str = "sharpe"
    keep_daily: bool = True  # store daily returns (for the deflated Sharpe / PBO)

    def __post_init__(self) -> None:
        if self.min_trades < 0:
            raise InputError(f"min_trades must be >= 0, got {self.min_trades}")
        names = metric_names(self.metrics)
        if self.sort not in names:
            raise InputError(f"unknown sort metric {self.sort!r} for {self.metrics} metrics; "
                             f"one of: {', '.join(names)}")


@dataclass
class SweepContext:
    """What every variant of a sweep shares (built once; shipped once per Ray node).

    Holds the base Play, the 1m bars, the settings, the instrument, the hold-out boundary
    (`selection_end`, ms), the walk-forward windows and a `FrameCache` of shared features.
    One context is read by all worker threads of the threaded path: the cache is
    thread-safe, and the lazily filled day-index and validated-bars caches may be computed
    twice by racing threads but always to the same value. Pickling drops the caches (each
    Ray worker rebuilds its own)."""

    play: Play
    bars: pa.Table
    settings: SweepSettings = field(default_factory=SweepSettings)
    instrument: Instrument = DEFAULT_INSTRUMENT
    selection_end: int | None = None  # ms: bars at or after it are the hold-out
    windows: tuple[Window, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)  # where the bars came from (kind, ...)
    cache: FrameCache = field(init=False)
    _index: dict[str, DayIndex] = field(init=False, default_factory=dict)
    _validated: ValidatedBars | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.cache = FrameCache(self.bars)

    @property
    def needs_event(self) -> bool:
        """True when variants run on the event path: `account.max_drawdown_pct` (a circuit
        breaker on the running equity, which a precomputed signal array cannot express)."""
        return self.play.account.max_drawdown_pct is not None

    def __getstate__(self) -> dict[str, Any]:
        return {"play": self.play, "bars": self.bars, "settings": self.settings,
                "instrument": self.instrument, "selection_end": self.selection_end,
                "windows": self.windows, "data": self.data}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._index = {}
        self._validated = None
        self.cache = FrameCache(self.bars)

    def validated_bars(self) -> ValidatedBars:
        """The bars, validated once for all variants (a bad row raises ValueError each time)."""
        v = self._validated
        if v is None:
            v = validate_bars(self.bars)  # racing threads may both validate: same result
            self._validated = v
        return v

    def day_index(self, lo: int, hi: int) -> DayIndex:
        """day_index of the 1m rows [lo, hi) (cached: the same for every variant)."""
        key = f"{lo}:{hi}"
        found = self._index.get(key)
        if found is None:
            found = day_index(self.cache.ts_1m[lo:hi])
            self._index[key] = found
        return found

    def rows_of(self, start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
        """1m row range [lo, hi) of the bars with start <= ts < end."""
        ts = self.cache.ts_1m
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms, side="left"))
        hi = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms, side="left"))
        return lo, hi

    def variant_play(self, params: Mapping[str, Any]) -> Play:
        """The base Play with `params` (dotted path -> value) applied, re-validated; the base
        Play itself when `params` is empty. A bad path or value raises PlayError."""
        return apply_overrides(self.play, dict(params)) if params else self.play

    def prepare(self, play: Play, symbol: str | None = None) -> tuple[SignalArrays, SimConfig]:
        """The signals and simulator settings of `play` (a variant of this context's Play)
        on this context's bars: the order plan on the context's instrument (its symbol
        replaced by `symbol` when given, as `trade.engine.backtest.prepare_run` does), the
        exec frame from the shared `FrameCache`, `trade.engine.build_signals`."""
        plan = order_plan(play, self.instrument)
        if symbol is not None:
            plan = dataclasses.replace(plan, symbol=symbol)
        config = sim_config(play, plan, self.instrument)
        frame = self.cache.frame(play)
        return build_signals(compiled_actions(play), frame, plan), config

    def _prepare(self, play: Play) -> tuple[SignalArrays, SimConfig]:
        return self.prepare(play)

    def simulate(self, params: Mapping[str, Any]) -> tuple[Play, BatchResult, float]:
        """Run one variant over all the bars: (its Play, the kernel result, initial balance).
        A variant with `account.max_drawdown_pct` runs bar by bar on the event path (the same
        trades as `run_backtest`'s event path; tests/test_plays_parity.py)."""
        play = self.variant_play(params)
        if play.account.max_drawdown_pct is not None:
            plan = order_plan(play, self.instrument)
            config = sim_config(play, plan, self.instrument)
            self.validated_bars()  # the same bar checks as the batch path
            return play, run_event(play, self.bars, plan, config), config.initial_balance
        signals, config = self._prepare(play)  # the variant's Play, built once
        return play, run_batch(self.validated_bars(), signals, config, checked=True), \
            config.initial_balance

    def window_margins(self, play: Play, result: BatchResult,
                       bounds: Sequence[tuple[int, int]]) -> list[MarginRisk | None]:
        """The margin figures of the 1m rows [lo, hi) of each of `bounds`, for the run
        `simulate` made of `play`.

        The whole run's are `result.margin`; those of a shorter window come from one
        `run_batch_summary` of the same variant cut at every window boundary (segments
        merged with `merge_margins`): one extra summary run per variant, made only when a
        window is shorter than the run. A variant on the event path records the whole run's
        only (None for a shorter window)."""
        n = self.bars.num_rows
        out: list[MarginRisk | None] = [
            result.margin if (lo, hi) == (0, n) else None for lo, hi in bounds
        ]
        if all((lo, hi) == (0, n) for lo, hi in bounds) or \
                play.account.max_drawdown_pct is not None:
            return out
        cuts = sorted({x for lo, hi in bounds for x in (lo, hi)} - {0, n})
        signals, config = self._prepare(play)
        summary = run_batch_summary(self.validated_bars(), signals, config, cuts=cuts,
                                    checked=True)
        segs = summary.segments
        for k, (lo, hi) in enumerate(bounds):
            if (lo, hi) == (0, n) or hi <= lo:
                continue
            parts = [s.margin for s in segs if lo <= s.start and s.stop <= hi]
            if parts and all(m is not None for m in parts):
                out[k] = merge_margins([m for m in parts if m is not None])
        return out

    def simulate_summary(self, params: Mapping[str, Any], cuts: Sequence[int] = ()
                         ) -> tuple[Play, BatchSummary]:
        """`simulate` recording only the equity summary of the rows cut at `cuts`."""
        play = self.variant_play(params)
        signals, config = self._prepare(play)
        return play, run_batch_summary(self.validated_bars(), signals, config, cuts=cuts,
                                       checked=True)  # engine-built signals: valid

    def summary_cut(self) -> int | None:
        """The hold-out row when a variant can be scored from a run_batch_summary run (fast
        metrics, no walk-forward windows, a non-empty hold-out if any), else None; 0 = no
        hold-out."""
        if self.settings.metrics != "fast" or self.windows or self.needs_event:
            return None
        if self.selection_end is None:
            return 0
        sel_hi = self.rows_of(None, self.selection_end)[1]
        return sel_hi if 0 < sel_hi < self.bars.num_rows else None


def _num(v: float | int | None) -> float | None:
    return None if v is None else float(v)


def evaluate(ctx: SweepContext, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run one variant and score it: one results row (see trade.sweep.results for the
    columns).

    Fast metrics without walk-forward windows are scored from the kernel's equity summary;
    otherwise the full run is sliced into the selection period, each walk-forward window and
    the hold-out.

    Parameters
    ----------
    ctx : SweepContext
        The sweep's shared Play, bars, settings, windows and hold-out boundary.
    params : Mapping[str, Any]
        The variant: dotted Play path -> value (empty: the base Play).

    Returns
    -------
    dict[str, Any]
        Column name -> value: the parameters, `n_trades`, `eligible`, `metric.<name>` and,
        as configured, `daily_returns`, the `is.`/`oos.`/`wf.` walk-forward columns and the
        `holdout.` columns. `variant_id` and `error` are left for the caller.

    Raises
    ------
    InputError
        The hold-out starts at or before the first bar (no bars left to select on).
    PlayError
        From `ctx.variant_play`: a parameter path or value makes an invalid Play.
    ValueError
        From `validate_bars`: a bar row is invalid.
    """
    cut = ctx.summary_cut()
    if cut is not None:
        return _evaluate_summary(ctx, params, cut)
    play, result, initial = ctx.simulate(params)
    return score_run(ctx, new_row(params), result, initial, ctx.bars,
                     lambda bounds: ctx.window_margins(play, result, bounds))


class Windowed(Protocol):
    """What `score_run` reads of a sweep context: the settings, the hold-out boundary, the
    walk-forward windows, and the row ranges and day indices of the scored curve's minutes
    (`SweepContext`, `trade.sweep.portfolio.PortfolioSweepContext`)."""

    settings: SweepSettings
    selection_end: int | None
    windows: tuple[Window, ...]

    def rows_of(self, start_ms: int | None, end_ms: int | None) -> tuple[int, int]: ...

    def day_index(self, lo: int, hi: int) -> DayIndex: ...


MarginsFn = Callable[[Sequence[tuple[int, int]]], Sequence[MarginRisk | None]]
AdjustFn = Callable[[dict[str, float | int | None], int, int], None]


def score_run(ctx: Windowed, row: dict[str, Any], result: BatchResult, initial: float,
              bench: pa.Table | None, margins_of: MarginsFn,
              adjust: AdjustFn | None = None) -> dict[str, Any]:
    """Score one simulated run into a results row: the selection period, each walk-forward
    window and the hold-out, each a slice of the run's 1m curve (`window_metrics`).

    Parameters
    ----------
    ctx : Windowed
        The sweep context (settings, windows, hold-out boundary, row ranges, day indices).
    row : dict
        The row to fill (`variant_id` and the `param.` columns already in it).
    result : BatchResult
        The run: its curve (one row per minute of the context) and its trades.
    initial : float
        The balance before the first row.
    bench : pyarrow.Table or None
        The 1m bars whose close is the buy-and-hold benchmark (None: no benchmark).
    margins_of : callable
        The margin figures of each (lo, hi) row range asked, in order (None: not recorded).
    adjust : callable, optional
        Called as ``adjust(metrics, lo, hi)`` on each window's metrics before they are
        stored (a portfolio sets its account-level margin figures there).

    Returns
    -------
    dict[str, Any]
        `row`, filled (see `evaluate`).
    """
    s = ctx.settings
    n_rows = result.equity.num_rows
    sel_hi = n_rows if ctx.selection_end is None else ctx.rows_of(None, ctx.selection_end)[1]
    if sel_hi == 0:
        raise InputError("the hold-out leaves no bars to select on")
    # the rows of every window scored below: their margin figures, in one pass
    bounds = [(0, sel_hi)]
    for w in ctx.windows:
        bounds += [ctx.rows_of(w.train_start, w.train_end), ctx.rows_of(w.test_start, w.test_end)]
    if ctx.selection_end is not None:
        bounds.append((sel_hi, n_rows))
    margins = dict(zip(bounds, margins_of(bounds), strict=True))

    def scored(a: int, b: int, daily: bool = False) -> WindowResult:
        out = window_metrics(result, bench, a, b, initial, s.metrics, daily=daily,
                             index=ctx.day_index(a, b), margin=margins[(a, b)])
        if adjust is not None:
            adjust(out.metrics, a, b)
        return out

    main = scored(0, sel_hi, s.keep_daily)
    _put_selection(row, main, s)
    names = metric_names(s.metrics)
    if ctx.windows:
        is_vals: dict[str, list[float]] = {k: [] for k in names}
        oos_vals: dict[str, list[float]] = {k: [] for k in names}
        is_scores: list[float | None] = []
        oos_scores: list[float | None] = []
        is_trades: list[int] = []
        is_ret: list[float | None] = []
        oos_ret: list[float | None] = []
        for w in ctx.windows:
            tr = scored(*ctx.rows_of(w.train_start, w.train_end))
            te = scored(*ctx.rows_of(w.test_start, w.test_end))
            for k in names:
                va, vb = tr.metrics[k], te.metrics[k]
                if va is not None:
                    is_vals[k].append(float(va))
                if vb is not None:
                    oos_vals[k].append(float(vb))
            is_scores.append(_num(tr.metrics[s.sort]))
            oos_scores.append(_num(te.metrics[s.sort]))
            is_trades.append(tr.n_trades)
            is_ret.append(_num(tr.metrics["total_return"]))
            oos_ret.append(_num(te.metrics["total_return"]))
        for k in names:
            row[f"is.metric.{k}"] = float(np.mean(is_vals[k])) if is_vals[k] else None
            row[f"oos.metric.{k}"] = float(np.mean(oos_vals[k])) if oos_vals[k] else None
        row["wf.is_score"] = is_scores
        row["wf.oos_score"] = oos_scores
        row["wf.is_trades"] = is_trades
        row["wf.is_return"] = is_ret
        row["wf.oos_return"] = oos_ret
    if ctx.selection_end is not None:
        _put_holdout(row, scored(sel_hi, n_rows), names, in_out_sample=not ctx.windows)
    return row


def _evaluate_summary(ctx: SweepContext, params: Mapping[str, Any], cut: int) -> dict[str, Any]:
    """evaluate() for fast metrics without walk-forward: the kernel records a summary of the
    equity curve (segments: the selection, then the hold-out after `cut` if > 0)."""
    s = ctx.settings
    _, summary = ctx.simulate_summary(params, [cut] if cut else [])
    ts = ctx.cache.ts_1m
    row = new_row(params)
    _put_selection(row, segment_metrics(summary, 0, ts, daily=s.keep_daily), s)
    if cut:
        # the summary path runs without walk-forward: in/out of sample = selection/hold-out
        _put_holdout(row, segment_metrics(summary, 1, ts), metric_names(s.metrics),
                     in_out_sample=True)
    return row


def new_row(params: Mapping[str, Any]) -> dict[str, Any]:
    """A result row for a variant: its id and its parameters (the metrics are added later)."""
    from trade.sweep.space import variant_id

    row: dict[str, Any] = {"variant_id": variant_id(params)}
    for k, v in params.items():
        row[f"param.{k}"] = v
    return row


def _put_selection(row: dict[str, Any], main: WindowResult, s: SweepSettings) -> None:
    """The selection period's columns: trades, eligibility, metrics, daily returns."""
    row["n_trades"] = main.n_trades
    row["eligible"] = main.n_trades >= s.min_trades
    for k, v in main.metrics.items():
        row[f"metric.{k}"] = _num(v)
    if s.keep_daily:
        row["daily_returns"] = main.daily_returns.tolist()


def _put_holdout(row: dict[str, Any], ho: WindowResult, names: Iterable[str], *,
                 in_out_sample: bool) -> None:
    """The hold-out's columns; with `in_out_sample` (no walk-forward windows) the selection
    and the hold-out also stand as the in-sample and out-of-sample metrics."""
    row["holdout.n_trades"] = ho.n_trades
    for k in names:
        row[f"holdout.metric.{k}"] = _num(ho.metrics[k])
        if in_out_sample:
            row[f"is.metric.{k}"] = row[f"metric.{k}"]
            row[f"oos.metric.{k}"] = _num(ho.metrics[k])
