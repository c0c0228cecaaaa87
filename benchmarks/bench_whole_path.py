"""The whole path, side by side with vectorbt on the same bars in one run.

    pytest benchmarks/bench_whole_path.py --benchmark-only -s   # figures and ratios
    TRADE_BENCH_QUICK=1 pytest benchmarks/bench_whole_path.py   # small sizes (CI)
    TRADE_BENCH_BIG=1 python benchmarks/bench_whole_path.py     # also 16 M bars (per-bar cost)
    python benchmarks/bench_whole_path.py                       # plain timings and ratios

(a) A whole Play backtest: `trade.engine.run_backtest` of an SMA 20/100 cross Play deciding
    every 1m (the Play parsed once; bars passed in memory, so no store read: features,
    signals, kernel, metrics, bar digest, manifest) against vectorbt's
    `Portfolio.from_signals` computing its own moving averages and crosses on the same 1m
    closes (plus its total return). Both trade long only with all
    equity and no fees; they differ in the fill (trade: next 1m open, vectorbt: the signal
    bar's close) but take the same trades. Ratio = trade time / vectorbt time (<= 1: trade
    is as fast or faster). Also: peak memory the backtest allocates per 1m bar beyond the
    bars themselves (numpy buffers, traced by tracemalloc).
(b) The 10 x 10 SMA grid with 1 % stop / 2 % target deciding every 1m and every 15m over
    a year, from benchmarks/bench_sweep.py. Ratio = trade throughput / vectorbt's.
"""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import bench_sweep  # benchmarks/ is on sys.path (pytest, or as the script's folder)
import numpy as np
import pyarrow as pa
import pytest

from trade.data import open_store, synth_bars
from trade.engine import run_backtest
from trade.play import Play, load_play_text

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
SIZES = {"20k": 20_000} if QUICK else {"500k": 500_000, "2m": 2_000_000}
if os.environ.get("TRADE_BENCH_BIG") == "1":  # the large case: ~6 GB of RAM in all
    SIZES["16m"] = 16_000_000
FAST, SLOW = 20, 100

SMA_CROSS_PLAY = f"""
version: "3.0.0"
name: sma_cross_whole_path
symbol: BTCUSDT
timeframes: {{low_tf: 1m, exec: low_tf}}
account:
  starting_equity_usdt: 10000
  max_leverage: 1
  fee_model: {{taker_bps: 0, maker_bps: 0}}
  slippage_bps: 0
  min_trade_notional_usdt: 0
features:
  fast: {{indicator: sma, params: {{length: {FAST}}}}}
  slow: {{indicator: sma, params: {{length: {SLOW}}}}}
actions:
  entry_long: [fast, cross_above, slow]
  exit_long: [fast, cross_below, slow]
position_policy: {{exit_mode: signal}}
"""

_BARS: dict[int, pa.Table] = {}


def bars_of(n: int) -> pa.Table:
    if n not in _BARS:
        days = -(-n // 1440)
        _BARS[n] = synth_bars("BTCUSDT", days, 7, "mixed").slice(0, n)
    return _BARS[n]


_PLAY: list[Play] = []


def sma_play() -> Play:
    """The Play, parsed once (its YAML is not part of the run being measured)."""
    if not _PLAY:
        _PLAY.append(load_play_text(SMA_CROSS_PLAY, source="<bench_whole_path>"))
    return _PLAY[0]


def run_trade(bars: pa.Table) -> int:
    store = open_store("memory://bench-whole-path")  # empty: the bars are passed in memory
    r = run_backtest(sma_play(), store=store, bars=bars)
    return r.n_trades


def run_vectorbt(bars: pa.Table) -> int:
    import pandas as pd
    import vectorbt as vbt

    ts = pd.to_datetime(np.asarray(bars.column("ts")), unit="ms")
    c = pd.Series(np.asarray(bars.column("close")), index=ts)
    fa = vbt.MA.run(c, FAST).ma.to_numpy()
    sa = vbt.MA.run(c, SLOW).ma.to_numpy()
    fp, sp = np.roll(fa, 1), np.roll(sa, 1)
    fp[0] = sp[0] = np.nan
    entries = (fa > sa) & (fp <= sp)
    exits = (fa < sa) & (fp >= sp)
    pf = vbt.Portfolio.from_signals(c, entries, exits, init_cash=10_000.0, fees=0.0,
                                    freq="1min")
    pf.total_return()
    return int(pf.trades.count())


def best_of(run: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def bytes_per_bar(bars: pa.Table) -> float:
    """Peak numpy memory a backtest allocates, per 1m bar, beyond the bars it is given."""
    run_trade(bars)
    tracemalloc.start()
    try:
        run_trade(bars)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / bars.num_rows


def compare_backtest(n: int, rounds: int = 7) -> dict[str, Any]:
    """Both on the same bars, interleaved round by round (a shared machine's load then weighs
    on both alike); the best round of each."""
    bars = bars_of(n)
    n_trade, n_vbt = run_trade(bars), run_vectorbt(bars)  # warm-up (numba compiles)
    t = v = float("inf")
    for _ in range(rounds):
        t = min(t, best_of(lambda: run_trade(bars), 1))
        v = min(v, best_of(lambda: run_vectorbt(bars), 1))
    return {"bars": n, "trade_s": t, "vectorbt_s": v, "ratio": t / v,
            "trade_ns_per_bar": t / n * 1e9, "vectorbt_ns_per_bar": v / n * 1e9,
            "trades": n_trade, "vectorbt_trades": n_vbt, "bytes_per_bar": bytes_per_bar(bars)}


def print_backtest(r: dict[str, Any]) -> None:
    print(f"backtest {r['bars']:>9,} 1m bars: trade {r['trade_s'] * 1e3:7.1f} ms "
          f"({r['trade_ns_per_bar']:.0f} ns/bar, {r['trades']} trades), vectorbt "
          f"{r['vectorbt_s'] * 1e3:7.1f} ms ({r['vectorbt_ns_per_bar']:.0f} ns/bar, "
          f"{r['vectorbt_trades']} trades): trade / vectorbt time = {r['ratio']:.2f}x; "
          f"{r['bytes_per_bar']:.0f} bytes/bar beyond the data")


def _have_vectorbt() -> None:
    try:
        import vectorbt  # noqa: F401
    except ImportError:
        if QUICK:
            pytest.skip("vectorbt is not installed (pip install 'trade[bench]')")
        pytest.fail("vectorbt is not installed: pip install 'trade[bench]'")


@pytest.mark.parametrize("size", list(SIZES))
def test_backtest_trade(benchmark: Any, size: str) -> None:
    bars = bars_of(SIZES[size])
    run_trade(bars)
    n = benchmark.pedantic(lambda: run_trade(bars), rounds=3, iterations=1)
    benchmark.extra_info["trades"] = n
    benchmark.extra_info["bytes_per_bar"] = bytes_per_bar(bars)


@pytest.mark.parametrize("size", list(SIZES))
def test_backtest_vectorbt(benchmark: Any, size: str) -> None:
    _have_vectorbt()
    bars = bars_of(SIZES[size])
    run_vectorbt(bars)
    benchmark.pedantic(lambda: run_vectorbt(bars), rounds=3, iterations=1)
    res = compare_backtest(SIZES[size])
    benchmark.extra_info.update(res)
    print()
    print_backtest(res)


@pytest.mark.parametrize("tf", bench_sweep.TIMEFRAMES)
def test_grid_vs_vectorbt(benchmark: Any, tf: str) -> None:
    _have_vectorbt()
    bars = bench_sweep.year_bars()
    bench_sweep.run_trade(bars.slice(0, 20_000), tf)
    bench_sweep.run_vectorbt(bars.slice(0, 20_000), tf)
    res = benchmark.pedantic(lambda: bench_sweep.compare(bars, tf), rounds=1, iterations=1)
    benchmark.extra_info.update({"ratio_wall": res["ratio_wall"], "ratio_cpu": res["ratio_cpu"],
                                 "trade_s": res["trade"]["seconds"],
                                 "vectorbt_s": res["vectorbt"]["seconds"]})
    print()
    bench_sweep.print_comparison(res, bars.num_rows)


def main() -> None:
    for n in SIZES.values():
        print_backtest(compare_backtest(n))
    bars = bench_sweep.year_bars()
    bench_sweep.warm_up(bars)
    for tf in bench_sweep.TIMEFRAMES:
        bench_sweep.print_comparison(bench_sweep.compare(bars, tf, rounds=3), bars.num_rows)


if __name__ == "__main__":
    sys.exit(main())
