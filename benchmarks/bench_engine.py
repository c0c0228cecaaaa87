"""Backtest wall time: one year of 1m bars through `run_backtest`, batch and event paths.

    pytest benchmarks/bench_engine.py --benchmark-only          # pytest-benchmark
    python benchmarks/bench_engine.py                           # plain timings

The data is one synthetic year (525 600 1m bars, seed 1) held in an in-memory store, so the
figure is engine time (features, signals, kernel, metrics, no artifacts written); the Play is
the multi-timeframe example (15m exec, 1h and 4h features, swing/trend structures).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trade.data import Store, open_store, synth_bars
from trade.engine import run_backtest
from trade.play import load_play

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"  # CI quick mode: 30 days
DAYS = 30 if QUICK else 365
PLAY = Path(__file__).resolve().parents[1] / "plays" / "02_mtf_trend_pullback.yml"


def year_store(days: int = 365) -> Store:
    store = open_store(f"memory://bench-engine-{days}")
    if not store.month_files("BTCUSDT"):
        store.write_bars("BTCUSDT", synth_bars("BTCUSDT", days, 1, "mixed"))
    return store


@pytest.fixture(scope="module")
def store() -> Store:
    return year_store(DAYS)


def test_backtest_one_year_batch(benchmark: Any, store: Store) -> None:
    play = load_play(PLAY)
    result = benchmark.pedantic(lambda: run_backtest(play, store=store, path="batch"),
                                rounds=3, iterations=1)
    assert result.manifest["data"]["n_bars_1m"] == DAYS * 1440


def test_backtest_one_month_event(benchmark: Any, store: Store) -> None:
    play = load_play(PLAY)
    result = benchmark.pedantic(
        lambda: run_backtest(play, store=store, path="event", start="2024-01-01",
                             end="2024-01-31"), rounds=1, iterations=1)
    assert result.path == "event"


def main() -> None:
    store = year_store()
    play = load_play(PLAY)
    for path, start, end in (("batch", None, None), ("event", None, None)):
        t0 = time.perf_counter()
        r = run_backtest(play, store=store, path=path, start=start, end=end)  # type: ignore[arg-type]
        dt = time.perf_counter() - t0
        n = r.manifest["data"]["n_bars_1m"]
        print(f"{path:5s}: {n:,} 1m bars, {r.n_trades} trades, {dt:.2f} s "
              f"({n / dt / 1e6:.2f} M bars/s)")


if __name__ == "__main__":
    sys.exit(main())
