"""`run_backtest`: a Play on stored (or synthetic) 1m data, through the batch or event path.

Paths:

* **batch** (fast): features vectorised over the whole run, the Play translated into
  `SignalArrays` (trade.engine.signals), one nogil pass of the compiled kernel
  (`trade.sim.run_batch`). Plays whose actions read `last_price` / `mark_price` get one
  signal row per 1m bar (exact, a little slower).
* **event**: `PlayEngine` fed bar by bar through `BacktestAdapter` (the same code path that
  paper and live trading run).
* **auto** picks batch, except for a Play with `account.max_drawdown_pct`: that circuit
  breaker depends on the equity reached bar by bar under the Play's own orders, which a
  precomputed signal array cannot express, so auto uses the event path and `batch` is refused.

Both paths give identical trade logs (tests/test_plays_parity.py runs every Play in plays/).

Data: the store's 1m bars for the symbol in [start, end), or, when asked for
(`synthetic=True`, the CLI's `--synthetic`), seeded synthetic 1m bars from the Play's
`synthetic:` (or the older `validation:`) block (`trade.data.synth_bars`, not written to the
store). The CLI never falls back to synthetic data: a missing store or symbol is an error
naming both. The manifest's `data` records the source (`kind`, `description`).
Funding: the store's funding series when it has one (settled on the 1m bar that closes at
the settlement time), else no funding. A Play whose conditions read the market builtins
`funding_rate` / `open_interest` gets them from the store's series (`with_market_series`:
the last settled rate and the open interest known at each 1m close); a run without that
series (synthetic bars, or a store that holds none for the span) is refused with the
`trade data fetch` command to run. Instrument rules come from the store, else
`orders.DEFAULT_INSTRUMENT` (Bybit BTCUSDT's).

Artifacts (`out_dir`): trades.parquet, equity.parquet, metrics.json, manifest.json, all
written deterministically: the same Play, data and seed give byte-identical files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

import trade
from trade.core import InputError, OrderStatus
from trade.data import (
    NoDataError,
    Store,
    open_store,
    regime_for_pattern,
    synth_bars,
)
from trade.data.schema import Instrument
from trade.data.series import (
    LAST_FUNDING_COLUMN,
    OPEN_INTEREST_COLUMN,
    funding_column,
    last_funding_column,
    open_interest_column,
)
from trade.engine.artifacts import (
    file_sha256,
    json_bytes,
    parquet_bytes,
    table_sha256,
    write_files,
)
from trade.engine.features import (
    MARKET_COLUMNS,
    exec_frame,
    market_1m,
    market_reads,
    require_market_series,
)
from trade.engine.orders import DEFAULT_INSTRUMENT, OrderPlan, order_plan
from trade.engine.play_engine import PlayEngine
from trade.engine.signals import build_signals
from trade.indicators import warmup
from trade.metrics import compute_metrics
from trade.play import INTERVAL_MINUTES, Play, compiled_actions, load_play, play_hash
from trade.sim import BacktestAdapter, Bar, BatchResult, SignalArrays, SimConfig, run_batch
from trade.sim.config import Intrabar
from trade.sim.driver import track_margin
from trade.sim.margin import MarginTracker

PathChoice = Literal["auto", "batch", "event"]
ProgressFn = Callable[[int, int], None]
BAR_HASH_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a backtest produced; the same tables are in `out_dir` (when one was given).

    `path` is the path that ran ("batch" or "event"), `trades` the trade log
    (TRADE_LOG_SCHEMA), `equity` one row per 1m bar (EQUITY_SCHEMA), `final_balance` the
    wallet after the end-of-data close, `metrics` what `compute_metrics` returned,
    `manifest` what `manifest.json` holds (Play, data, settings, hashes). Immutable."""

    path: str  # "batch" or "event"
    trades: pa.Table
    equity: pa.Table
    final_balance: float
    metrics: dict[str, float | int | None]
    manifest: dict[str, Any]
    out_dir: Path | None

    @property
    def n_trades(self) -> int:
        """Rows of the trade log."""
        return int(self.trades.num_rows)


# ====================================================================== inputs


def parse_time(value: str | int | None, what: str) -> int | None:
    """ms since the epoch (UTC) from an int, `YYYY-MM-DD` or an ISO date-time; None passes.

    Parameters
    ----------
    value : str, int or None
        An int or a string of digits (taken as ms), a date, or an ISO date-time (a trailing
        ``Z`` is allowed; no other offset: times are UTC).
    what : str
        The option's name, for the error message (e.g. "start").

    Returns
    -------
    int or None
        Milliseconds since 1970-01-01 UTC; None when `value` is None.

    Raises
    ------
    InputError
        The text is not a date or date-time.
    """
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        return int(np.datetime64(text.rstrip("Z"), "ms").astype(np.int64))
    except ValueError:
        raise InputError(f"{what}: cannot read {value!r} as a date (expected YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM)") from None


def _iso(ms: int) -> str:
    return str(np.datetime64(ms, "ms").astype("datetime64[s]")) + "Z"


def sim_config(play: Play, plan: OrderPlan, instrument: Instrument) -> SimConfig:
    """The simulator settings of a Play: `account`, with `backtest:` overrides (bps ->
    fractions), the plan's leverage and the instrument's qty rules and tick.

    Parameters
    ----------
    play : Play
        Supplies the starting equity, fees, slippage, maintenance margin rate and intrabar
        rule (each from `backtest:` when set there, else from `account:`).
    plan : OrderPlan
        Supplies the symbol, leverage, quantity step, minimum quantity and notional.
    instrument : Instrument
        Supplies the tick size (bracket levels are rounded to it, as live orders are).

    Returns
    -------
    SimConfig

    Raises
    ------
    InputError
        The settings are not a valid SimConfig (the message names the Play file).
    """
    acc, bt = play.account, play.backtest
    fees = bt.fee_model if bt is not None and bt.fee_model is not None else acc.fee_model
    slip = bt.slippage_bps if bt is not None and bt.slippage_bps is not None else acc.slippage_bps
    eq = (bt.starting_equity_usdt if bt is not None and bt.starting_equity_usdt is not None
          else acc.starting_equity_usdt)
    mmr = (bt.maintenance_margin_rate
           if bt is not None and bt.maintenance_margin_rate is not None
           else acc.maintenance_margin_rate)
    intrabar = Intrabar.OHLC_PATH if bt is not None and bt.intrabar == "ohlc_path" \
        else Intrabar.SL_FIRST
    try:
        return SimConfig(
            symbol=plan.symbol,
            initial_balance=float(eq),
            leverage=plan.leverage,
            taker_fee=fees.taker_bps / 10_000,
            maker_fee=fees.maker_bps / 10_000,
            slippage=slip / 10_000,
            maintenance_margin_rate=float(mmr),
            intrabar=intrabar,
            qty_step=plan.qty_step,
            min_qty=plan.min_qty,
            min_notional=plan.min_notional,
            tick_size=float(instrument.tick_size),  # bracket levels from offsets, as live sends
        )
    except ValueError as exc:
        raise InputError(f"{play.source}: {exc}") from None


def _synthetic_regime(play: Play) -> str:
    s = play.synthetic
    assert s is not None
    # the Play loader has checked the name against the one pattern -> regime table; the
    # generator takes the pattern itself (each pattern has its own shape)
    regime_for_pattern(s.pattern or s.regime)
    return s.pattern or s.regime


def _store_exists(store: Store) -> bool:
    """Whether the store's root folder exists (a mistyped --data-dir does not)."""
    if not store.root:
        return True
    return bool(store.fs.get_file_info(store.root).type == pafs.FileType.Directory)


def _no_store_data(store: Store, symbol: str) -> NoDataError:
    """The error of a run whose store has no bars of `symbol`: names what and where."""
    root = store.root or "/"
    hint = ("(pass --synthetic to run on the Play's synthetic: block, or import data: "
            "`trade data import-sample`, `trade data import`)")
    if not _store_exists(store):
        return NoDataError(f"data store {root} does not exist (mistyped --data-dir or "
                           f"$TRADE_DATA_DIR?); no 1m bars of {symbol} to run on {hint}")
    stored = store.symbols()
    have = f"it holds {', '.join(stored[:8])}" if stored else "it holds no symbols"
    return NoDataError(f"no 1m bars stored for {symbol} in {root} ({have}) {hint}")


def load_run_bars(play: Play, store: Store, symbol: str, start_ms: int | None,
                  end_ms: int | None, seed: int | None, *,
                  synthetic: bool | None = None) -> tuple[pa.Table, dict[str, Any]]:
    """The 1m bars of a run and a description of where they came from.

    `synthetic`: True = the Play's `synthetic:` block (asked for explicitly), False = the
    store only (a missing store or symbol is a NoDataError naming them), None = the store,
    else the Play's synthetic block (the library's default; the CLI always passes True/False).
    `seed` (a synthetic seed) with `synthetic=False` is refused: it would be ignored.

    Parameters
    ----------
    play : Play
        Supplies the `synthetic:` block (regime or pattern, days or bars, seed). `bars`
        counts exec bars after the features' warm-up (`warmup_minutes`), which is
        generated in front of them, as TRADE means it.
    store : Store
        The market-data store to read.
    symbol : str
        The symbol whose bars are read (or named in the synthetic bars).
    start_ms, end_ms : int or None
        Keep bars with start_ms <= ts < end_ms (None: unbounded); synthetic bars too.
    seed : int or None
        Replaces the synthetic block's seed.
    synthetic : bool or None
        Where the bars come from (above).

    Returns
    -------
    tuple of (pyarrow.Table, dict)
        The bars (with the `last_funding_rate` / `open_interest` columns when the Play's
        conditions read `funding_rate` / `open_interest`, `with_market_series`), and the
        data description for the manifest: `kind` ("store" or "synthetic"), `description`
        and, by kind, the store root and provenance or the regime, days and seed.

    Raises
    ------
    InputError
        A seed with `synthetic=False`, `synthetic=True` without a `synthetic:` block, or no
        bars in the range.
    NoDataError
        The store (or its data for `symbol`) does not exist and synthetic data was not
        chosen (a subclass of InputError).
    InputError
        The Play reads `funding_rate` / `open_interest` and the data has no such series
        (`with_market_series`).
    """
    if synthetic is False and seed is not None:
        raise InputError("a synthetic-data seed was given but the run reads stored data; "
                         "add --synthetic to run on the Play's synthetic: block")
    # synthetic data only when asked for; otherwise stored bars or an error, never a guess
    use_store = synthetic is not True and (synthetic is False or bool(store.month_files(symbol)))
    if use_store:
        if not store.month_files(symbol):
            raise _no_store_data(store, symbol)
        bars = store.read_bars(symbol, start_ms, end_ms)
        prov = store.provenance(symbol)
        info: dict[str, Any] = {"kind": "store", "store": store.root, "provenance": prov,
                                "description": _describe(prov, symbol)}
    elif play.synthetic is not None:
        s = play.synthetic
        regime = _synthetic_regime(play)
        seed_used = s.seed if seed is None else seed
        exec_min = _exec_minutes(play)
        # `bars` counts exec bars after the features' warm-up, as TRADE meant it: the
        # warm-up is generated in front of them, so every feature has a value by then
        minutes = None if s.bars is None else s.bars * exec_min + warmup_minutes(play)
        days = s.days if minutes is None else max(1, math.ceil(minutes / 1440))
        bars = synth_bars(symbol, days, seed_used, regime)
        if minutes is not None:
            bars = bars.slice(0, minutes)
        if start_ms is not None or end_ms is not None:
            ts = bars.column("ts").to_numpy()
            lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms))
            hi = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms))
            bars = bars.slice(lo, max(hi - lo, 0))
        why = "asked for" if synthetic else f"no stored data for {symbol}"
        info = {"kind": "synthetic", "regime": regime, "pattern": s.pattern, "days": days,
                "seed": seed_used,
                "description": f"synthetic 1m bars generated by trade.data.synth_bars "
                               f"(regime {regime}, {days} days, seed {seed_used}); {why}"}
    elif synthetic:
        raise InputError(f"{play.source or play.name}: --synthetic needs a synthetic: block "
                         "in the Play (e.g. synthetic: {regime: mixed, days: 30, seed: 1})")
    else:
        raise _no_store_data(store, symbol)
    if bars.num_rows == 0:
        raise InputError(f"no 1m bars for {symbol} in the range "
                         f"[{_iso(start_ms) if start_ms is not None else '-inf'}, "
                         f"{_iso(end_ms) if end_ms is not None else '+inf'})")
    return with_market_series(play, bars, store, symbol, info), info


def _exec_minutes(play: Play) -> int:
    return INTERVAL_MINUTES[play.exec_tf]


def warmup_minutes(play: Play) -> int:
    """1m bars before every feature and structure of `play` has its first value: the
    largest warm-up (in bars of its own interval, plus the one bar that closes it) times
    that interval's minutes."""
    longest = 0
    for feat in play.features.values():
        minutes = INTERVAL_MINUTES[play.interval_of(feat.tf)]
        longest = max(longest, (warmup(feat.indicator, feat.params) + 1) * minutes)
    for role, items in play.structures.items():
        minutes = INTERVAL_MINUTES[play.interval_of(role)]
        for st in items:
            longest = max(longest, (warmup(st.type, st.params) + 1) * minutes)
    return longest


def _describe(prov: dict[str, Any], symbol: str) -> str:
    if not prov:
        return f"1m bars of {symbol} (no provenance recorded)"
    src = prov.get("source", "unknown source")
    interval = str(prov.get("source_interval", "?"))
    if interval.isdigit():
        minutes = int(interval)
        interval = f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
    if prov.get("bridged_1m"):
        return (f"1m bars bridged from real {interval} bars "
                f"({src}), seed {prov.get('seed')}")
    return f"1m bars from {src}"


def with_funding(bars: pa.Table, store: Store, symbol: str) -> tuple[pa.Table, int]:
    """`bars` with a `funding_rate` column from the store's series (NaN where none settles),
    and the number of settlements it carries (`trade.data.series.funding_column`)."""
    rate = funding_column(bars, store, symbol)
    if rate is None:
        return bars, 0
    return bars.append_column("funding_rate", pa.array(rate)), int(np.isfinite(rate).sum())


def with_market_series(play: Play, bars: pa.Table, store: Store, symbol: str,
                       data_info: dict[str, Any]) -> pa.Table:
    """`bars` with the market-builtin columns the Play's conditions read, from the store.

    `funding_rate` reads the `last_funding_rate` column (the last settled rate at each 1m
    close), `open_interest` the `open_interest` column (`trade.data.series`). A Play that
    reads neither gets the bars unchanged.

    Parameters
    ----------
    play : Play
        The Play (its conditions say which builtins are needed).
    bars : pyarrow.Table
        The run's 1m bars.
    store : Store
        The store holding the funding and open-interest series.
    symbol : str
        The run's symbol.
    data_info : dict
        Where the bars came from (`load_run_bars`): its `kind` is "store", "synthetic" or
        "table".

    Returns
    -------
    pyarrow.Table
        The bars with the needed columns (columns the bars already carry are kept).

    Raises
    ------
    InputError
        The Play reads a market builtin and the data has no such series: synthetic bars,
        bars passed in memory without its column, or a store that holds none in the span.
    """
    needed = market_reads(play)
    if not needed:
        return bars
    have = set(market_1m(bars))
    kind = data_info.get("kind")
    if kind == "synthetic":
        require_market_series(play, have, symbol,
                              "synthetic bars have no funding or open interest; run on stored "
                              f"data (`trade data fetch {symbol} --start ...` stores both)")
    if kind != "store":
        cols = ", ".join(MARKET_COLUMNS[n] for n in sorted(needed))
        require_market_series(play, have, symbol,
                              f"the bars passed in memory need the column(s) {cols}")
        return bars
    n = bars.num_rows
    if "funding_rate" in needed and "funding_rate" not in have:
        rate = last_funding_column(bars, store, symbol)
        if rate is not None:
            bars = bars.append_column(LAST_FUNDING_COLUMN, pa.array(rate))
    if "open_interest" in needed and "open_interest" not in have:
        oi, n_oi = open_interest_column(bars, store, symbol)
        if n_oi:
            bars = bars.append_column(OPEN_INTEREST_COLUMN, pa.array(oi))
    ts = bars.column("ts")
    day = 86_400_000
    first, stop = int(ts[0].as_py()), int(ts[n - 1].as_py()) + 60_000
    start_day, end_day = _iso(first - first % day)[:10], _iso(-(-stop // day) * day)[:10]
    require_market_series(play, set(market_1m(bars)), symbol,
                          f"the store {store.root or '/'} holds none from {start_day} to "
                          f"{end_day}; run `trade data fetch {symbol} --start {start_day} "
                          f"--end {end_day}` (it stores funding and open interest)")
    return bars


def choose_path(play: Play, path: PathChoice) -> tuple[str, str]:
    """(path, why) for a run; InputError when `batch` is asked of a Play that needs events.

    Parameters
    ----------
    play : Play
        The Play; `account.max_drawdown_pct` needs the event path (a circuit breaker on the
        running equity).
    path : {"auto", "batch", "event"}
        What was asked for; "auto" picks batch unless the Play needs events.

    Returns
    -------
    tuple of (str, str)
        "batch" or "event", and the reason (for the manifest and the CLI).

    Raises
    ------
    InputError
        An unknown `path`, or "batch" for a Play that needs the event path.
    """
    if path not in ("auto", "batch", "event"):
        raise InputError(f"unknown path {path!r}, expected auto, batch or event")
    needs_event = play.account.max_drawdown_pct is not None
    if path == "event":
        return "event", "requested"
    if needs_event:
        if path == "batch":
            raise InputError(f"{play.source}: account.max_drawdown_pct (a circuit breaker on the "
                             "running equity) needs the event path; use --path event or auto")
        return "event", "account.max_drawdown_pct needs bar-by-bar equity"
    return "batch", "requested" if path == "batch" else "the Play is expressible as signals"


# ====================================================================== run


def run_event(play: Play, bars: pa.Table, plan: OrderPlan, config: SimConfig,
              progress: ProgressFn | None = None) -> BatchResult:
    """The event path: `PlayEngine` fed bar by bar through `BacktestAdapter`.

    The margin figures are recorded as the batch runner records them: each 1m bar's state
    after the fill rules, before the engine acts on it, and every entry order the engine
    places (rejected or not)."""
    adapter = BacktestAdapter(config)
    ex = adapter.exchange
    margin = MarginTracker()
    engine = PlayEngine(play, adapter, plan=plan)
    n = bars.num_rows
    ts = bars.column("ts").to_pylist()
    cols = [bars.column(k).to_pylist() for k in ("open", "high", "low", "close", "volume")]
    fund = bars.column("funding_rate").to_pylist() if "funding_rate" in bars.column_names \
        else None
    mark = bars.column("mark_price").to_pylist() if "mark_price" in bars.column_names else None
    market = {k: v.tolist() for k, v in market_1m(bars).items()}
    known_rate = market.get("funding_rate")  # the last settled rate (not the settlements)
    known_oi = market.get("open_interest")
    nan = math.nan
    step = max(n // 200, 1)
    for i in range(n):
        o, h, lo, c, v = cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i]
        m = mark[i] if mark is not None else nan
        adapter.step(Bar(ts[i], o, h, lo, c, v, m, fund[i] if fund is not None else nan))
        track_margin(margin, ex, lo, h, m, c)
        engine.on_bar(ts[i], o, h, lo, c, v, m,
                      funding_rate=known_rate[i] if known_rate is not None else nan,
                      open_interest=known_oi[i] if known_oi is not None else nan)
        entry = engine.last_entry
        if entry is not None:
            margin.on_entry(rejected=entry.status is OrderStatus.REJECTED)
        if progress is not None and i % step == 0:
            progress(i, n)
    adapter.finish()
    engine.finish()
    return BatchResult(ex.trade_log(), ex.equity_curve(), adapter.balance().wallet_balance,
                       margin.result())


def _table_bars(bars: pa.Table, symbol: str, start_ms: int | None, end_ms: int | None,
                synthetic: bool | None, seed: int | None) -> tuple[pa.Table, dict[str, Any]]:
    """In-memory bars of a run (`run_backtest(bars=...)`), cut to [start, end)."""
    if not isinstance(bars, pa.Table):
        raise InputError(f"bars must be a pyarrow Table, got {type(bars).__name__}")
    if synthetic or seed is not None:
        raise InputError("bars were passed in memory: synthetic data and a seed do not apply")
    if start_ms is not None or end_ms is not None:
        ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
        lo = 0 if start_ms is None else int(np.searchsorted(ts, start_ms))
        hi = len(ts) if end_ms is None else int(np.searchsorted(ts, end_ms))
        bars = bars.slice(lo, max(hi - lo, 0))
    if bars.num_rows == 0:
        raise InputError(f"no 1m bars for {symbol} in the range passed")
    return bars, {"kind": "table", "description": f"1m bars of {symbol} passed in memory"}


@dataclass(frozen=True, slots=True)
class PreparedRun:
    """A Play made ready to simulate on one symbol: everything `run_backtest` settles before
    the simulator runs (shared by the single run and every member of a portfolio).

    `bars` are the run's 1m bars (with the market-builtin columns its conditions read, not
    yet the funding settlements: `batch_inputs` adds those), `data_info` where they came
    from (the manifest's `data`), `path`/`path_reason` the chosen engine path. Immutable."""

    play: Play
    play_file: Path | None
    symbol: str
    path: str
    path_reason: str
    instrument: Instrument
    plan: OrderPlan
    config: SimConfig
    bars: pa.Table
    data_info: dict[str, Any]
    seed: int | None


def prepare_run(
    play: Play | str | Path,
    *,
    store: Store,
    symbol: str | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    path: PathChoice = "auto",
    seed: int | None = None,
    synthetic: bool | None = None,
    bars: pa.Table | None = None,
) -> PreparedRun:
    """Load the Play, pick the path, size the orders and load the bars of one run.

    The arguments are `run_backtest`'s (which see); nothing is simulated yet.

    Parameters
    ----------
    play : Play, str or Path
        A loaded Play or the path of a Play file.
    store : Store
        The open store to read bars, funding and the instrument from.
    symbol : str, optional
        Overrides the Play's symbol.
    start, end : str or int, optional
        The run's range (end exclusive); default the Play's `backtest.start/end`.
    path : {"auto", "batch", "event"}
        The engine path (`choose_path`).
    seed : int, optional
        Replaces the synthetic block's seed.
    synthetic : bool, optional
        Where the bars come from (`load_run_bars`).
    bars : pyarrow.Table, optional
        1m bars in memory to run on.

    Returns
    -------
    PreparedRun

    Raises
    ------
    InputError
        As `run_backtest`.
    PlayError
        The Play file is invalid.
    """
    play_file: Path | None = None
    if not isinstance(play, Play):
        play_file = Path(play)
        play = load_play(play_file)
    elif play.source and Path(play.source).is_file():
        play_file = Path(play.source)
    sym = symbol or play.symbol
    bt = play.backtest
    start_ms = parse_time(start if start is not None else (bt.start if bt else None), "start")
    end_ms = parse_time(end if end is not None else (bt.end if bt else None), "end")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InputError(f"empty date range: end {_iso(end_ms)} is not after start "
                         f"{_iso(start_ms)}")
    chosen, why = choose_path(play, path)
    instrument = store.read_instrument(sym, default=DEFAULT_INSTRUMENT.renamed(sym))
    plan = dataclasses.replace(order_plan(play, instrument), symbol=sym)
    config = sim_config(play, plan, instrument)
    if bars is not None:
        bars, data_info = _table_bars(bars, sym, start_ms, end_ms, synthetic, seed)
        bars = with_market_series(play, bars, store, sym, data_info)
    else:
        bars, data_info = load_run_bars(play, store, sym, start_ms, end_ms, seed,
                                        synthetic=synthetic)
    return PreparedRun(play, play_file, sym, chosen, why, instrument, plan, config, bars,
                       data_info, seed)


def batch_inputs(prep: PreparedRun, store: Store) -> tuple[pa.Table, int, SignalArrays]:
    """What the batch path simulates (`run_batch`, or a member of `run_portfolio`).

    Parameters
    ----------
    prep : PreparedRun
        The prepared run (`prepare_run`).
    store : Store
        The store whose funding series is added to stored bars.

    Returns
    -------
    tuple of (pyarrow.Table, int, SignalArrays)
        The bars with the store's funding settlements, how many settle in them, and the
        Play's signals on them.
    """
    bars, n_funding = prep.bars, 0
    if prep.data_info["kind"] == "store":
        bars, n_funding = with_funding(bars, store, prep.symbol)
    frame = exec_frame(prep.play, bars)
    signals = build_signals(compiled_actions(prep.play), frame, prep.plan)
    return bars, n_funding, signals


def data_manifest(prep: PreparedRun, bars: pa.Table, bars_hash: str, n_funding: int
                  ) -> dict[str, Any]:
    """The manifest's `data` block of a run: where its bars came from, their span, count and
    digest, and the funding settlements they carry."""
    ts = bars.column("ts")
    first, last = int(ts[0].as_py()), int(ts[-1].as_py()) + 60_000
    return {**prep.data_info, "start_ts": first, "end_ts": last, "start": _iso(first),
            "end": _iso(last), "n_bars_1m": bars.num_rows, "bars_sha256": bars_hash,
            "funding_settlements": n_funding}


def play_manifest(prep: PreparedRun) -> dict[str, Any]:
    """The manifest's `play` block: name, content hash, file and the file's sha256."""
    f = prep.play_file
    return {"name": prep.play.name, "hash": play_hash(prep.play),
            "file": str(f) if f else None, "file_sha256": file_sha256(f) if f else None}


def settings_manifest(prep: PreparedRun, config: SimConfig) -> dict[str, Any]:
    """The manifest's instrument, simulator settings and order plan of a run."""
    return {
        "instrument": prep.instrument.to_dict(),
        "sim_config": {k: (int(v) if isinstance(v, Intrabar) else v)
                       for k, v in dataclasses.asdict(config).items()},
        "order_plan": {k: (int(v) if k == "size_mode" else v)
                       for k, v in dataclasses.asdict(prep.plan).items()},
    }


def _simulate(prep: PreparedRun, store: Store, progress: ProgressFn | None
              ) -> tuple[BatchResult, int, pa.Table]:
    """(the run's result, funding settlements, the bars it ran on: with funding if stored)."""
    if prep.path == "batch":
        bars, n_funding, signals = batch_inputs(prep, store)
        result = run_batch(bars, signals, prep.config, checked=True)  # engine-built: valid
        if progress is not None:
            progress(bars.num_rows, bars.num_rows)
        return result, n_funding, bars
    bars, n_funding = prep.bars, 0
    if prep.data_info["kind"] == "store":
        bars, n_funding = with_funding(bars, store, prep.symbol)
    return run_event(prep.play, bars, prep.plan, prep.config, progress), n_funding, bars


def run_backtest(
    play: Play | str | Path,
    *,
    data_dir: str | Path | None = None,
    store: Store | None = None,
    symbol: str | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    out_dir: str | Path | None = None,
    path: PathChoice = "auto",
    seed: int | None = None,
    progress: ProgressFn | None = None,
    synthetic: bool | None = None,
    bars: pa.Table | None = None,
) -> RunResult:
    """Backtest `play` (a Play or a Play file) and write its artifacts to `out_dir`.

    `start`/`end` (YYYY-MM-DD, ISO date-time or ms; end exclusive) default to the Play's
    `backtest.start/end`, else all stored data. `seed` replaces the synthetic block's seed.
    `progress(done, total)` is called every ~0.5 % of an event run. `synthetic`: see
    `load_run_bars` (True = the Play's synthetic block, False = stored data only). `bars`: 1m
    bars already in memory (a pyarrow Table in the store's layout) to run on instead of the
    store or synthetic data (start/end still cut them); the manifest's data kind is `table`.

    The sha256 of the bars (for the manifest) is computed in a worker thread while the run
    proceeds (hashlib releases the GIL).

    Parameters
    ----------
    play : Play, str or Path
        A loaded Play or the path of a Play file.
    data_dir : str or Path, optional
        The data store's root (default: $TRADE_DATA_DIR, else ./data); ignored when `store`
        is given.
    store : Store, optional
        An open store to read bars, funding and the instrument from.
    symbol : str, optional
        Overrides the Play's symbol.
    start, end : str or int, optional
        The run's range (end exclusive), as above.
    out_dir : str or Path, optional
        Where `trades.parquet`, `equity.parquet`, `metrics.json` and `manifest.json` are
        written (all four or none); None writes nothing.
    path : {"auto", "batch", "event"}
        The engine path (`choose_path`).
    seed : int, optional
        Replaces the synthetic block's seed.
    progress : callable, optional
        ``progress(done, total)`` in 1m bars.
    synthetic : bool, optional
        Where the bars come from (`load_run_bars`).
    bars : pyarrow.Table, optional
        1m bars in memory to run on (above).

    Returns
    -------
    RunResult
        The path taken, trade log, equity curve, final balance, metrics, manifest and
        `out_dir`.

    Raises
    ------
    InputError
        An unreadable date, an empty date range, an unknown or impossible path, settings
        the order rules or simulator refuse, no bars to run on (NoDataError, a subclass,
        when the store lacks them), or `bars` that are not a table or come with
        `synthetic` / `seed`.
    PlayError
        From `load_play`: the Play file is invalid.
    ValueError
        From the simulator: a stored bar is invalid.
    """
    st = store if store is not None else open_store(data_dir)
    prep = prepare_run(play, store=st, symbol=symbol, start=start, end=end, path=path,
                       seed=seed, synthetic=synthetic, bars=bars)
    play, config = prep.play, prep.config
    # digests and Parquet encodings run in a worker thread (hashlib and pyarrow release the
    # GIL) while this thread simulates and computes the metrics
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-digests") as pool:
        hashing = pool.submit(table_sha256, prep.bars, BAR_HASH_COLUMNS)
        result, n_funding, run_bars = _simulate(prep, st, progress)
        trades_job = pool.submit(parquet_bytes, result.trades)
        equity_job = pool.submit(parquet_bytes, result.equity) if out_dir is not None else None
        bench = run_bars.select(["ts", "close"])
        metrics = compute_metrics(result.equity, result.trades,
                                  initial_balance=config.initial_balance, benchmark_close=bench,
                                  margin=result.margin)
        bars_hash = hashing.result()
        trades_bytes = trades_job.result()
        equity_bytes = equity_job.result() if equity_job is not None else b""
    data_info = prep.data_info
    manifest: dict[str, Any] = {
        "play": play_manifest(prep),
        "symbol": prep.symbol,
        "exec_timeframe": play.exec_tf,
        "data": data_manifest(prep, run_bars, bars_hash, n_funding),
        **settings_manifest(prep, config),
        "package_version": trade.__version__,
        "seed": data_info.get("seed") if data_info["kind"] == "synthetic" else seed,
        "path": prep.path,
        "path_reason": prep.path_reason,
        "n_trades": result.n_trades,
        "final_balance": result.final_balance,
    }
    out: Path | None = None
    if out_dir is not None:
        out = Path(out_dir)
        manifest["trade_log_sha256"] = hashlib.sha256(trades_bytes).hexdigest()
        manifest["equity_sha256"] = hashlib.sha256(equity_bytes).hexdigest()
        # the four artifacts appear together or not at all (a full disk leaves the old run)
        write_files(out, {"trades.parquet": trades_bytes, "equity.parquet": equity_bytes,
                          "metrics.json": json_bytes(metrics),
                          "manifest.json": json_bytes(manifest)})
    else:
        manifest["trade_log_sha256"] = hashlib.sha256(trades_bytes).hexdigest()
    return RunResult(prep.path, result.trades, result.equity, result.final_balance, metrics,
                     manifest, out)
