"""The run report: one self-contained HTML file for a backtest run folder.

A run folder holds `trades.parquet` (TRADE_LOG_SCHEMA, optional `stop_loss`/`take_profit`
columns), `equity.parquet` (EQUITY_SCHEMA), `metrics.json` (compute_metrics output) and
`manifest.json`. Manifest keys read here (all optional): `symbol`, `exec_timeframe` (or
`exec_tf`/`timeframe`, also inside a `play` mapping), `initial_balance`, `data_dir`, `title`
(or `play.name`/`play_name`). The OHLC bars come from the data store.

Zooming works on a resolution pyramid: the overview is resampled to a few thousand candles,
finer levels down to the exec timeframe are embedded while they stay under a bar budget, and
1m bars are embedded around every trade (its window plus a margin), so the chart shows
single 1m bars when zoomed onto a trade.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from trade.core.errors import InputError
from trade.core.instrument import Instrument
from trade.data.intervals import (
    MINUTE_INTERVALS,
    MINUTE_MS,
    bucket_start,
    interval_ms,
    normalize_interval,
)
from trade.data.resample import resample
from trade.data.store import open_store
from trade.data.synth import synth_bars
from trade.metrics import GROUPS, METRIC_DOCS, format_value
from trade.report._assets import asset
from trade.report._html import b64_f32, b64_f64, b64_u32, page
from trade.sim.results import EQUITY_SCHEMA, TRADE_LOG_SCHEMA

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

OVERVIEW_CANDLES = 3000  # the whole-run chart stays under this many candles
LEVEL_BUDGET = 250_000  # bars per embedded zoom level
FINE_BUDGET = 400_000  # 1m bars embedded around trades, in total
EQUITY_POINTS = 4000  # points of the downsampled equity / drawdown curves
_LADDER: tuple[str, ...] = (*MINUTE_INTERVALS, "D", "W")
_KPI_KEYS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "buy_and_hold_return",
    "max_drawdown",
    "sharpe",
    "sortino",
    "win_rate",
    "profit_factor",
    "num_trades",
    "expectancy",
    "exposure",
    "total_costs",
)


@dataclass(frozen=True, slots=True)
class RunFolder:
    """The parsed content of a run folder."""

    path: Path
    trades: pa.Table
    equity: pa.Table
    metrics: dict[str, Any]
    manifest: dict[str, Any]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _read_parquet(path: Path, schema: pa.Schema, what: str) -> pa.Table:
    if not path.is_file():
        raise InputError(f"run folder {path.parent} has no {path.name} ({what})")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read Parquet ({exc})") from exc
    missing = [f.name for f in schema if f.name not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} of the {what} schema")
    return table


def load_run(run_dir: str | Path) -> RunFolder:
    """Read a run folder; raise InputError naming the missing or unreadable file."""
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(f"run folder {path} does not exist or is not a directory")
    trades = _read_parquet(path / "trades.parquet", TRADE_LOG_SCHEMA, "trade log")
    equity = _read_parquet(path / "equity.parquet", EQUITY_SCHEMA, "equity curve")
    if equity.num_rows == 0:
        raise InputError(f"{path / 'equity.parquet'}: the equity curve is empty")
    ts = np.asarray(equity.column("ts").to_numpy(), dtype=np.int64)
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if len(bad):
        raise InputError(f"{path / 'equity.parquet'}: ts not increasing at row {int(bad[0]) + 1}")
    metrics = _read_json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    manifest = _read_json(path / "manifest.json") if (path / "manifest.json").is_file() else {}
    return RunFolder(path, trades, equity, metrics, manifest)


# ----------------------------------------------------------------------- manifest helpers
_NESTED = ("play", "sim_config", "data", "config")


def _lookup(manifest: dict[str, Any], *keys: str) -> Any:
    """The first of `keys` found at the top level, else inside play/sim_config/data/config."""
    scopes = [manifest] + [manifest[n] for n in _NESTED if isinstance(manifest.get(n), dict)]
    for key in keys:
        for scope in scopes:
            if scope.get(key) not in (None, ""):
                return scope[key]
    return None


def _exec_interval(manifest: dict[str, Any]) -> str | None:
    raw = _lookup(manifest, "exec_timeframe", "exec_tf", "timeframe", "exec_interval")
    if raw is None:
        return None
    try:
        return normalize_interval(str(raw))
    except ValueError as exc:
        raise InputError(f"manifest.json: exec timeframe {raw!r} is not an interval") from exc


def flatten_manifest(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, text) rows of a manifest, for the page's key-value list."""
    if isinstance(obj, dict):
        rows: list[tuple[str, str]] = []
        for k, v in obj.items():
            rows.extend(flatten_manifest(v, f"{prefix}.{k}" if prefix else str(k)))
        return rows
    if isinstance(obj, list) and not all(isinstance(v, str | int | float) for v in obj):
        return [(prefix, json.dumps(obj, default=str))]
    if isinstance(obj, list):
        return [(prefix, ", ".join(str(v) for v in obj))]
    return [(prefix, "" if obj is None else str(obj))]


def _label(interval: str) -> str:
    if interval == "D":
        return "1d"
    if interval == "W":
        return "1w"
    minutes = int(interval)
    return f"{minutes // 60}h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes}m"


def _instrument(manifest: dict[str, Any]) -> Instrument | None:
    """The run's instrument (its manifest's `instrument`: tick and quantity step), so
    prices and quantities are shown at its precision; None when the run does not say."""
    rules = manifest.get("instrument")
    if not isinstance(rules, dict) or "tick_size" not in rules:
        return None
    try:
        return Instrument.from_mapping(rules)
    except (InputError, TypeError, ValueError):
        return None


def _decimals(prices: F64) -> int:
    """Decimals needed to print the prices exactly (at most 8)."""
    sample = prices[: min(len(prices), 5000)]
    for d in range(9):
        if np.allclose(np.round(sample, d), sample, rtol=0, atol=10.0 ** -(d + 3)):
            return d
    return 8


# --------------------------------------------------------------------------- bar pyramid
def _level(bars: pa.Table, interval: str) -> dict[str, Any]:
    table = bars if interval == "1" else resample(bars, interval)
    ts = np.asarray(table.column("ts").to_numpy(), dtype=np.int64)
    t0 = int(ts[0]) if len(ts) else 0
    return {
        "interval": _label(interval),
        "ms": interval_ms(interval),
        "n": len(ts),
        "t0": t0,  # bar open times = t0 + minute offsets (uint32: 8 000 years of minutes)
        "tmin": b64_u32((ts - t0) // MINUTE_MS),
        **{k[0]: b64_f32(table.column(k).to_numpy()) for k in ("open", "high", "low", "close")},
    }


def _pyramid_intervals(span_ms: int, exec_iv: str | None) -> list[str]:
    """Coarsest first: the overview interval, then ~4x finer steps down to the exec interval."""
    finest = _LADDER.index(exec_iv) if exec_iv in _LADDER else 0
    ladder = list(_LADDER[finest:])
    overview = next(
        (iv for iv in ladder if span_ms / interval_ms(iv) <= OVERVIEW_CANDLES), ladder[-1]
    )
    chosen = [overview]
    for iv in reversed(ladder[: ladder.index(overview)]):
        if span_ms / interval_ms(iv) > LEVEL_BUDGET:
            break
        if interval_ms(chosen[-1]) / interval_ms(iv) >= 4 or iv == ladder[0]:
            chosen.append(iv)
    return chosen


def _fine_ranges(
    entry: I64, exit_: I64, margin_ms: int, ends_only: bool = False
) -> list[tuple[int, int]]:
    """Merged [start, end) windows of 1m bars to embed: each trade with a margin; a long
    trade (or every trade with `ends_only`) gets one window at its entry and one at its exit."""
    spans: list[tuple[int, int]] = []
    long_ms = 1000 * MINUTE_MS
    for a, b in zip(entry.tolist(), exit_.tolist(), strict=True):
        if b - a <= long_ms and not ends_only:
            spans.append((a - margin_ms, b + margin_ms + MINUTE_MS))
        else:
            spans.append((a - margin_ms, a + margin_ms + MINUTE_MS))
            spans.append((b - margin_ms, b + margin_ms + MINUTE_MS))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _fine_level(
    bars_ts: I64, bars: pa.Table, entry: I64, exit_: I64, exec_ms: int
) -> dict[str, Any]:
    first = min(max(60 * MINUTE_MS, 4 * exec_ms), 720 * MINUTE_MS)
    truncated = False
    # whole trade windows with shrinking margins; then only the entry and exit windows
    attempts = [(m, False) for m in (first, first // 2, first // 4) if m >= 15 * MINUTE_MS]
    attempts += [(m * MINUTE_MS, True) for m in (60, 30, 15, 10)]
    for margin, ends_only in attempts:
        ranges = _fine_ranges(entry, exit_, margin, ends_only)
        lo = np.searchsorted(bars_ts, np.array([a for a, _ in ranges], dtype=np.int64))
        hi = np.searchsorted(bars_ts, np.array([b for _, b in ranges], dtype=np.int64))
        idx = list(zip(lo.tolist(), hi.tolist(), strict=True))
        total = int((hi - lo).sum())
        if total <= FINE_BUDGET:
            break
    if total > FINE_BUDGET:  # keep whole windows, in time order, up to the budget
        truncated = True
        kept, acc = [], 0
        for i, j in idx:
            if acc + (j - i) > FINE_BUDGET:
                break
            kept.append((i, j))
            acc += j - i
        idx = kept
    take = np.concatenate([np.arange(i, j) for i, j in idx]) if idx else np.zeros(0, np.int64)
    sub = bars.take(pa.array(take, type=pa.int64()))
    out = _level(sub, "1")
    out["segments"] = [[int(bars_ts[i]), int(bars_ts[j - 1]) + MINUTE_MS] for i, j in idx if j > i]
    out["margin_ms"] = margin
    out["ends_only"] = ends_only
    out["truncated"] = truncated
    return out


# ------------------------------------------------------------------------ equity & months
def equity_payload(
    ts: I64, equity: F64, initial: float, bars_ts: I64, bars_open: F64, bars_close: F64
) -> dict[str, Any]:
    """The equity and drawdown curves, downsampled for the chart (and buy and hold when
    bars are given)."""
    peak = np.maximum.accumulate(np.concatenate([[initial], equity]))[1:]
    dd = 1.0 - equity / peak
    span = int(ts[-1] - ts[0]) + MINUTE_MS
    iv = next((iv for iv in _LADDER if span / interval_ms(iv) <= EQUITY_POINTS), "W")
    bucket = bucket_start(ts, iv) if iv != "1" else ts
    starts = np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]]))
    ends = np.concatenate([starts[1:], [len(ts)]]) - 1
    out: dict[str, Any] = {
        "interval": _label(iv),
        "ts": b64_f64(ts[ends]),
        "equity": b64_f32(equity[ends]),
        "dd": b64_f32(-np.maximum.reduceat(dd, starts)),
    }
    if len(bars_ts):
        # buy and hold: the initial balance in the asset at the first bar's open
        pos = np.clip(np.searchsorted(bars_ts, ts[ends], side="right") - 1, 0, len(bars_ts) - 1)
        out["bh"] = b64_f32(initial * bars_close[pos] / bars_open[0])
    return out


def _monthly(ts: I64, equity: F64, initial: float) -> dict[str, Any]:
    month = ts.astype("datetime64[ms]").astype("datetime64[M]")
    last = np.flatnonzero(np.concatenate([month[1:] != month[:-1], [True]]))
    month_end = equity[last]
    prev = np.concatenate([[initial], month_end[:-1]])
    rets = month_end / prev - 1.0
    keys = month[last].astype(str)
    years = sorted({int(k[:4]) for k in keys})
    grid: list[list[float | None]] = [[None] * 12 for _ in years]
    for k, r in zip(keys, rets, strict=True):
        grid[years.index(int(k[:4]))][int(k[5:7]) - 1] = float(r)
    totals = []
    for row in grid:
        vals = [v for v in row if v is not None]
        totals.append(float(np.prod([1 + v for v in vals]) - 1) if vals else None)
    return {"years": years, "z": grid, "year_total": totals}


# --------------------------------------------------------------------------- metrics/KPIs
def metric_payload(metrics: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(metric groups, headline KPIs) of a metrics dict, formatted by METRIC_DOCS."""
    groups: list[dict[str, Any]] = []
    for group in GROUPS:
        items = []
        for name, doc in METRIC_DOCS.items():
            if doc.group != group or name not in metrics:
                continue
            value = metrics[name]
            text = format_value(doc, value) if isinstance(value, int | float | None) else str(value)
            items.append(
                {
                    "name": name,
                    "label": doc.label,
                    "text": text,
                    "def": doc.definition
                    + (f" Undefined when {doc.undefined_when}." if doc.undefined_when else ""),
                    "sign": _sign(value, doc.higher_is_better),
                }
            )
        if items:
            groups.append({"group": group, "items": items})
    extra = [k for k in metrics if k not in METRIC_DOCS]
    if extra:
        groups.append(
            {
                "group": "other",
                "items": [
                    {"name": k, "label": k, "text": str(metrics[k]), "def": "", "sign": 0}
                    for k in extra
                ],
            }
        )
    kpis = []
    for key in _KPI_KEYS:
        if key in metrics and key in METRIC_DOCS:
            doc = METRIC_DOCS[key]
            value = metrics[key]
            kpis.append(
                {
                    "label": doc.label,
                    "text": format_value(doc, value)
                    if isinstance(value, int | float | None)
                    else str(value),
                    "sign": _sign(value, doc.higher_is_better),
                    "def": doc.definition,
                }
            )
    return groups, kpis


def _sign(value: Any, higher_is_better: bool | None) -> int:
    """+1 good, -1 bad, 0 neutral: colours a value green or red."""
    if higher_is_better is None or not isinstance(value, int | float) or isinstance(value, bool):
        return 0
    if value == 0 or not math.isfinite(value):
        return 0
    return (1 if value > 0 else -1) * (1 if higher_is_better else -1)


def _trades_payload(trades: pa.Table) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for name in TRADE_LOG_SCHEMA.names:
        if name == "symbol":
            continue
        cols[name] = trades.column(name).to_pylist()
    for opt in ("stop_loss", "take_profit"):
        if opt in trades.column_names:
            cols[opt] = [
                None if v is None or not math.isfinite(v) or v <= 0 else v
                for v in trades.column(opt).to_pylist()
            ]
    return cols


# ----------------------------------------------------------------------------- public API
def build_run_payload(run: RunFolder, bars: pa.Table | None) -> dict[str, Any]:
    """Everything the page script draws, as JSON-ready data (bars may be None: no chart)."""
    manifest = run.manifest
    eq_ts = np.asarray(run.equity.column("ts").to_numpy(), dtype=np.int64)
    eq = np.asarray(run.equity.column("equity").to_numpy(), dtype=np.float64)
    symbol = _lookup(manifest, "symbol")
    if symbol is None and run.trades.num_rows:
        symbol = run.trades.column("symbol")[0].as_py()
    initial = _lookup(manifest, "initial_balance")
    if initial is None:
        fe, tr = run.metrics.get("final_equity"), run.metrics.get("total_return")
        if isinstance(fe, int | float) and isinstance(tr, int | float) and tr > -1:
            initial = fe / (1 + tr)
        else:
            initial = float(run.equity.column("wallet_balance")[0].as_py())
    initial = float(initial)
    exec_iv = _exec_interval(manifest)
    entry = np.asarray(run.trades.column("entry_ts").to_numpy(), dtype=np.int64)
    exit_ = np.asarray(run.trades.column("exit_ts").to_numpy(), dtype=np.int64)

    levels: list[dict[str, Any]] = []
    fine: dict[str, Any] | None = None
    instrument = _instrument(manifest)
    decimals = instrument.price_scale if instrument is not None else 2
    bars_ts = np.zeros(0, np.int64)
    b_open = b_close = np.zeros(0)
    if bars is not None and bars.num_rows:
        bars_ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
        b_open = np.asarray(bars.column("open").to_numpy(), dtype=np.float64)
        b_close = np.asarray(bars.column("close").to_numpy(), dtype=np.float64)
        if instrument is None:
            decimals = _decimals(b_close)
        span = int(bars_ts[-1] - bars_ts[0]) + MINUTE_MS
        levels = [_level(bars, iv) for iv in _pyramid_intervals(span, exec_iv)]
        exec_ms = interval_ms(exec_iv) if exec_iv else MINUTE_MS
        if levels[-1]["ms"] > MINUTE_MS:
            fine = _fine_level(bars_ts, bars, entry, exit_, exec_ms)

    groups, kpis = metric_payload(run.metrics)
    title = _lookup(manifest, "title", "play_name", "name") or run.path.name
    return {
        "meta": {
            "title": str(title),
            "symbol": symbol,
            "exec": _label(exec_iv) if exec_iv else None,
            "initial_balance": initial,
            "decimals": decimals,  # prices at the tick's decimals (else the bars')
            "qty_decimals": instrument.qty_scale if instrument is not None else None,
            "start": int(eq_ts[0]),
            "end": int(eq_ts[-1]) + MINUTE_MS,
            "n_trades": run.trades.num_rows,
            "data": _data_source(manifest),
        },
        "levels": levels,
        "fine": fine,
        "trades": _trades_payload(run.trades),
        "equity": equity_payload(eq_ts, eq, initial, bars_ts, b_open, b_close),
        "monthly": _monthly(eq_ts, eq, initial),
        "metrics": groups,
        "kpis": kpis,
        "manifest": flatten_manifest(manifest),
    }


_BODY = """
<div class="kpis" id="kpis"></div>
<section class="card"><h2>Price &amp; trades <span id="lod" class="chip"></span>
<span class="sp"></span><button type="button" id="prev">&#9664; Prev trade</button>
<span id="cur" class="muted"></span>
<button type="button" id="next">Next trade &#9654;</button>
<button type="button" id="zentry" title="1m bars around the entry">Entry 1m</button>
<button type="button" id="zexit" title="1m bars around the exit">Exit 1m</button>
<button type="button" id="reset">Whole run</button></h2>
<div id="price" class="chart" style="height:540px"></div></section>
<section class="card"><h2>Equity &amp; drawdown vs buy-and-hold</h2>
<div id="equity" class="chart" style="height:440px"></div></section>
<div class="grid2">
<section class="card"><h2>Monthly returns</h2><div id="monthly" class="chart"></div></section>
<section class="card"><h2>Trade outcomes <span class="sp"></span>
<span class="muted" style="text-transform:none;letter-spacing:0">MAE vs MFE, USDT</span></h2>
<div id="maemfe" class="chart" style="height:320px"></div></section>
</div>
<section class="card"><h2>Trades <span id="tcount" class="chip"></span><span class="sp"></span>
<span class="muted" style="text-transform:none;letter-spacing:0">click a row to zoom the chart
onto the trade; click a header to sort</span></h2>
<div class="tablewrap"><table id="trades"><thead></thead><tbody></tbody></table></div>
<div class="pager"><button type="button" id="pprev">&#9664;</button><span id="pinfo"></span>
<button type="button" id="pnext">&#9654;</button></div></section>
<section class="card"><h2>Metrics</h2><div class="metrics" id="metrics"></div></section>
<section class="card"><h2>Run manifest</h2><dl class="kv" id="manifest"></dl></section>
"""


def render_run_html(payload: dict[str, Any]) -> str:
    meta = payload["meta"]
    sub = " · ".join(
        str(x)
        for x in (
            meta.get("symbol"),
            f"exec {meta['exec']}" if meta.get("exec") else None,
            fmt_ms(meta["start"]) + " → " + fmt_ms(meta["end"]),
            f"{meta['n_trades']} trades",
            f"data: {meta['data']}" if meta.get("data") else None,
        )
        if x
    )
    return page(f"Run report · {meta['title']}", sub, _BODY, payload, asset("run.js"))


def _data_source(manifest: dict[str, Any]) -> str | None:
    """Where the run's bars came from (the manifest's data description), for the header."""
    raw = manifest.get("data")
    if not isinstance(raw, dict):
        return None
    text = raw.get("description") or raw.get("kind")
    return None if text is None else str(text)


def fmt_ms(ms: int) -> str:
    """`YYYY-MM-DD HH:MM` (UTC) of a time in ms."""
    return str(np.datetime64(int(ms), "ms").astype("datetime64[m]")).replace("T", " ")


def _load_bars(run: RunFolder, data_dir: str | Path | None) -> pa.Table:
    symbol = _lookup(run.manifest, "symbol")
    if symbol is None and run.trades.num_rows:
        symbol = run.trades.column("symbol")[0].as_py()
    if symbol is None:
        raise InputError(f"{run.path}: no symbol in manifest.json and no trades to read it from")
    ts = run.equity.column("ts")
    start = int(ts[0].as_py())
    end = int(ts[-1].as_py()) + MINUTE_MS
    raw = run.manifest.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    where = data_dir if data_dir is not None else _lookup(run.manifest, "data_dir", "store")
    if data.get("kind") == "synthetic":
        # the run used seeded synthetic bars (not stored, whatever the store holds):
        # generate the same bars again
        try:
            days, seed, regime = int(data["days"]), int(data["seed"]), str(data["regime"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{run.path}/manifest.json: synthetic data lacks {exc}") from exc
        bars = synth_bars(str(symbol), days, seed, regime)
        bars_ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
        lo, hi = np.searchsorted(bars_ts, [start, end])
        bars = bars.slice(int(lo), int(hi - lo))
    else:
        bars = open_store(where).read_bars(str(symbol), start, end)
    if bars.num_rows == 0:
        raise InputError(
            f"the data store {where or './data'} has no 1m bars of {symbol} in the run's range"
        )
    return bars


def write_run_report(
    run_dir: str | Path, out: str | Path | None = None, data_dir: str | Path | None = None
) -> Path:
    """Write a run folder's self-contained HTML report.

    Parameters
    ----------
    run_dir : str or Path
        A run folder (`trades.parquet`, `equity.parquet`, `metrics.json`, `manifest.json`);
        a portfolio run folder (manifest `kind: portfolio`) gets the portfolio report
        (`trade.report.portfolio`), which reads no market data.
    out : str or Path, optional
        The HTML file (default ``RUN_DIR/report.html``).
    data_dir : str or Path, optional
        The market-data store holding the run's 1m bars (default: the manifest's
        `data_dir`, else `$TRADE_DATA_DIR`, else ``./data``).

    Returns
    -------
    Path
        The report written.

    Raises
    ------
    InputError
        The run folder is missing a file or holds an unreadable one, or the run's bars
        cannot be found.
    """
    run = load_run(run_dir)
    target = Path(out) if out is not None else run.path / "report.html"
    if run.manifest.get("kind") == "portfolio":
        from trade.report.portfolio import write_portfolio_report

        return write_portfolio_report(run, target)
    bars = _load_bars(run, data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_run_html(build_run_payload(run, bars)), encoding="utf-8")
    return target
