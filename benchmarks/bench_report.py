"""Run-report size and build time for a 4-year 1m run (synthetic bars, ~2.1 M candles).

    pytest benchmarks/bench_report.py --benchmark-only -s

The trade log is made directly from the bars (every ~12 hours a 1-8 hour trade, ~2 900
trades) so that the benchmark needs neither the engine nor a slow reference run. The file
must stay under 30 MB: the overview is resampled, and 1m bars are embedded only around trades.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trade.data.store import open_store
from trade.data.synth import synth_bars
from trade.metrics import compute_metrics
from trade.report import write_run_report
from trade.sim.results import EQUITY_SCHEMA, TRADE_LOG_SCHEMA

MAX_BYTES = 30_000_000
DAYS = 4 * 365 + 1


def make_long_run(root: Path, days: int = DAYS, seed: int = 1) -> tuple[Path, Path]:
    bars = synth_bars("BTCUSDT", days, seed)
    data = root / "data"
    open_store(data).write_bars("BTCUSDT", bars, overwrite=True)
    ts = bars.column("ts").to_numpy()
    o = bars.column("open").to_numpy()
    c = bars.column("close").to_numpy()
    rng = np.random.default_rng(seed)
    starts = np.arange(60, len(ts) - 600, 720) + rng.integers(
        0, 120, size=len(range(60, len(ts) - 600, 720))
    )
    holds = rng.integers(60, 480, size=len(starts))
    side = rng.choice([-1, 1], size=len(starts))
    qty = np.full(len(starts), 0.1)
    entry_p, exit_p = o[starts], o[starts + holds]
    gross = side * (exit_p - entry_p) * qty
    fees = 0.00055 * qty * (entry_p + exit_p)
    net = gross - fees
    reasons = rng.choice(
        ["signal", "stop_loss", "take_profit", "liquidation"],
        size=len(starts),
        p=[0.6, 0.2, 0.19, 0.01],
    )
    trades = pa.table(
        {
            "trade_id": np.arange(1, len(starts) + 1),
            "symbol": ["BTCUSDT"] * len(starts),
            "side": side.astype(np.int8),
            "entry_ts": ts[starts],
            "exit_ts": ts[starts + holds],
            "entry_price": entry_p,
            "exit_price": exit_p,
            "qty": qty,
            "gross_pnl": gross,
            "fees": fees,
            "funding": np.zeros(len(starts)),
            "net_pnl": net,
            "exit_reason": reasons,
            "mae": -np.abs(gross) * 0.5,
            "mfe": np.abs(gross) * 0.7,
            "leverage": np.full(len(starts), 3.0),
        },
        schema=TRADE_LOG_SCHEMA,
    )
    # equity: wallet steps at each exit plus the open trade's mark-to-market
    pos = np.zeros(len(ts))
    entry_at = np.zeros(len(ts))
    for s, h, sd, ep in zip(starts, holds, side, entry_p, strict=True):
        pos[s : s + h] = sd * 0.1
        entry_at[s : s + h] = ep
    wallet = (
        10_000.0 + np.cumsum(np.bincount(starts + holds, weights=net, minlength=len(ts)))[: len(ts)]
    )
    equity = wallet + pos * (c - entry_at)
    eq = pa.table(
        {"ts": ts, "equity": equity, "wallet_balance": wallet, "position_qty": pos},
        schema=EQUITY_SCHEMA,
    )
    run = root / "run"
    run.mkdir()
    pq.write_table(trades, run / "trades.parquet")
    pq.write_table(eq, run / "equity.parquet")
    metrics = compute_metrics(eq, trades, initial_balance=10_000.0)
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "manifest.json").write_text(
        json.dumps(
            {
                "symbol": "BTCUSDT",
                "exec_timeframe": "15m",
                "initial_balance": 10_000.0,
                "play": {"name": "bench_4y"},
            }
        )
    )
    return run, data


@pytest.fixture(scope="module")
def long_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_long_run(tmp_path_factory.mktemp("bench_report"))


def test_report_four_year_1m_run(benchmark, long_run: tuple[Path, Path]) -> None:  # type: ignore[no-untyped-def]
    run, data = long_run
    out = benchmark.pedantic(
        write_run_report, args=(run,), kwargs={"data_dir": data}, rounds=1, iterations=1
    )
    size = out.stat().st_size
    benchmark.extra_info["report_bytes"] = size
    print(f"\n4-year 1m run report: {size / 1e6:.1f} MB")
    assert size < MAX_BYTES
