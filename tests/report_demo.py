"""A synthetic run folder for the report tests (test code: it runs the reference oracle).

`make_demo_run` stores synthetic 1m bars in a data store, runs a simple moving-average
crossover with stop loss and take profit through the reference simulator, and writes the
run folder (trades.parquet with `stop_loss`/`take_profit` columns, equity.parquet,
metrics.json, manifest.json) the reports read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from trade.data.intervals import bucket_start, interval_ms, normalize_interval
from trade.data.store import open_store
from trade.data.synth import synth_bars
from trade.metrics import compute_metrics
from trade.sim.config import SimConfig, SizeMode
from trade.sim.driver import run_signals
from trade.sim.reference import ReferenceExchange
from trade.sim.signals import SignalArrays


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    c = np.cumsum(np.concatenate([[0.0], x]))
    out = np.full(len(x), np.nan)
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def make_demo_run(
    run_dir: str | Path,
    data_dir: str | Path,
    *,
    symbol: str = "BTCUSDT",
    days: int = 20,
    seed: int = 7,
    exec_interval: str = "15m",
    leverage: float = 3.0,
    sl_pct: float = 0.01,
    tp_pct: float = 0.02,
    fast: int = 8,
    slow: int = 21,
) -> Path:
    """Write bars to `data_dir` and a backtest run folder to `run_dir`; return `run_dir`."""
    bars = synth_bars(symbol, days, seed, regime="mixed")
    open_store(data_dir).write_bars(symbol, bars, overwrite=True)
    ts = np.asarray(bars.column("ts").to_numpy(), dtype=np.int64)
    close = np.asarray(bars.column("close").to_numpy(), dtype=np.float64)
    iv = normalize_interval(exec_interval)
    bucket = bucket_start(ts, iv)
    last = np.flatnonzero(np.concatenate([bucket[1:] != bucket[:-1], [True]]))
    exec_close = close[last]
    f, s = _sma(exec_close, fast), _sma(exec_close, slow)
    above = np.nan_to_num(f - s) > 0
    cross_up = np.concatenate([[False], above[1:] & ~above[:-1]])
    cross_dn = np.concatenate([[False], ~above[1:] & above[:-1]])
    cross_dn &= ~np.isnan(s)
    sig = SignalArrays.empty(last, size_mode=SizeMode.PERCENT_EQUITY, allow_flip=True)
    sig.entry_long[:] = cross_up
    sig.entry_short[:] = cross_dn
    sig.size_value[:] = 50.0
    sig.sl_pct[:] = sl_pct
    sig.tp_pct[:] = tp_pct
    config = SimConfig(symbol=symbol, leverage=leverage, initial_balance=10_000.0)
    result = run_signals(ReferenceExchange(config), bars, sig, config)

    trades = result.trades
    side = np.asarray(trades.column("side").to_numpy(), dtype=np.float64)
    entry = np.asarray(trades.column("entry_price").to_numpy(), dtype=np.float64)
    trades = trades.append_column("stop_loss", pa.array(entry * (1 - side * sl_pct)))
    trades = trades.append_column("take_profit", pa.array(entry * (1 + side * tp_pct)))

    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(trades, out / "trades.parquet")
    pq.write_table(result.equity, out / "equity.parquet")
    bench = pa.table({"ts": bars.column("ts"), "close": bars.column("close")})
    metrics = compute_metrics(
        result.equity, result.trades, initial_balance=config.initial_balance, benchmark_close=bench,
        margin=result.margin,
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    trade_hash = hashlib.sha256((out / "trades.parquet").read_bytes()).hexdigest()
    manifest = {
        "play": {"name": "demo_sma_cross", "hash": hashlib.sha256(b"demo").hexdigest()},
        "symbol": symbol,
        "exec_timeframe": exec_interval,
        "initial_balance": config.initial_balance,
        "leverage": leverage,
        "data_range": {"start": int(ts[0]), "end": int(ts[-1]) + interval_ms("1")},
        "data_hash": hashlib.sha256(np.ascontiguousarray(close).tobytes()).hexdigest(),
        "trade_log_hash": trade_hash,
        "seed": seed,
        "version": "0.1.0",
        "provenance": {"source": "synthetic", "regime": "mixed"},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out
