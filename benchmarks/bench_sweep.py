"""Sweep throughput, side by side with vectorbt: the same dual-moving-average grid with fixed
stop loss / take profit on the same year of 1m bars, deciding every 1m and every 15m.

    pytest benchmarks/bench_sweep.py --benchmark-only        # both, figures in extra_info
    TRADE_BENCH_QUICK=1 pytest benchmarks/bench_sweep.py     # 30 days, small grid (CI)
    python benchmarks/bench_sweep.py                          # plain timings and the ratios

The strategy: SMA(fast) / SMA(slow) on the decision timeframe's closes (1m or 15m), long on
the fast crossing above the slow, out on the cross back down, 1 % stop loss and 2 % take
profit (leverage 1, so ROI % = price %), no fees, both sides sizing with all equity. Stops are
checked on every 1m bar by both engines (vectorbt: `Portfolio.from_signals(..., open/high/low,
sl_stop, tp_stop)` on the 1m bars; 15m signals are placed on each 15m bar's last minute).

The models differ in details (see tests/test_sweep_vectorbt.py): trade fills a market order
at the next 1m open, vectorbt at the signal bar's close; so the numbers are compared on
throughput only: variants/s and 1m bar-steps/s (= 1m bars x variants / wall time, the whole
sweep from bars to per-variant results: features, signals, simulation, metrics).
trade runs with `--metrics fast` (13 core metrics per variant) and 2 threads; vectorbt
runs its numba loop over all the variant columns at once (single-threaded) and computes
total return per column.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from trade.data import synth_bars
from trade.play import load_play_text
from trade.sweep import SweepContext, SweepSettings, run_sweep, space_for

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
DAYS = 30 if QUICK else 365
# a 10 x 10 grid (3 x 2 in quick mode)
FAST = (5, 10, 20) if QUICK else (5, 8, 10, 13, 16, 20, 25, 30, 35, 40)
SLOW = (40, 80) if QUICK else (45, 50, 60, 80, 100, 120, 160, 200, 240, 300)
SL, TP = 1.0, 2.0
WORKERS = 2
TIMEFRAMES = ("1m", "15m")

PLAY = """
version: "3.0.0"
name: dma_bench
symbol: BTCUSDT
timeframes: {{low_tf: {tf}, exec: low_tf}}
account:
  starting_equity_usdt: 10000
  max_leverage: 1
  fee_model: {{taker_bps: 0, maker_bps: 0}}
  slippage_bps: 0
  min_trade_notional_usdt: 0
features:
  fast: {{indicator: sma, params: {{length: 10}}}}
  slow: {{indicator: sma, params: {{length: 50}}}}
actions:
  entry_long: [fast, cross_above, slow]
  exit_long: [fast, cross_below, slow]
risk: {{stop_loss_pct: {sl}, take_profit_pct: {tp}}}
"""


def year_bars() -> pa.Table:
    return synth_bars("BTCUSDT", DAYS, 7, "mixed")


def run_trade(bars: pa.Table, tf: str = "15m") -> dict[str, Any]:
    play = load_play_text(PLAY.format(tf=tf, sl=SL, tp=TP), source="<bench>")
    ctx = SweepContext(play, bars, SweepSettings(metrics="fast", keep_daily=False))
    space = space_for(ctx, [f"features.fast.params.length=values:{','.join(map(str, FAST))}",
                            f"features.slow.params.length=values:{','.join(map(str, SLOW))}"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        c0 = time.process_time()
        out = run_sweep(ctx, space, Path(tmp) / "r.parquet", workers=WORKERS)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
    n = out.n_new
    return {"variants": n, "seconds": dt, "cpu_seconds": cpu, "variants_per_s": n / dt,
            "bar_steps_per_s": n * bars.num_rows / dt,
            "bar_steps_per_cpu_s": n * bars.num_rows / cpu}


def run_vectorbt(bars: pa.Table, tf: str = "15m") -> dict[str, Any]:
    import pandas as pd
    import vectorbt as vbt

    t0 = time.perf_counter()
    c0 = time.process_time()
    ts = pd.to_datetime(np.asarray(bars.column("ts")), unit="ms")
    o, h, lo, c = (pd.Series(np.asarray(bars.column(k)), index=ts)
                   for k in ("open", "high", "low", "close"))
    ctf = c if tf == "1m" else c.resample(tf.replace("m", "min")).last()
    pairs = [(f, s) for f in FAST for s in SLOW]
    fast = vbt.MA.run(ctf, window=[p[0] for p in pairs], short_name="fast").ma
    slow = vbt.MA.run(ctf, window=[p[1] for p in pairs], short_name="slow").ma
    fa, sa = fast.to_numpy(), slow.to_numpy()
    fp, sp = np.roll(fa, 1, axis=0), np.roll(sa, 1, axis=0)
    fp[0] = sp[0] = np.nan
    cross_up = (fa > sa) & (fp <= sp)
    cross_dn = (fa < sa) & (fp >= sp)
    if tf == "1m":
        entries, exits = cross_up, cross_dn
    else:
        # each decision bar's signal sits on its last 1m bar
        step = pd.Timedelta(tf.replace("m", "min"))
        last_min = np.searchsorted(ts.values, (ctf.index + step).values) - 1
        entries = np.zeros((len(c), len(pairs)), dtype=bool)
        exits = np.zeros_like(entries)
        entries[last_min] = cross_up
        exits[last_min] = cross_dn
    pf = vbt.Portfolio.from_signals(c, entries, exits, open=o, high=h, low=lo,
                                    sl_stop=SL / 100, tp_stop=TP / 100, fees=0.0,
                                    init_cash=10_000.0, freq="1min")
    total = np.asarray(pf.total_return())
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    n = len(pairs)
    assert total.shape == (n,)
    return {"variants": n, "seconds": dt, "cpu_seconds": cpu, "variants_per_s": n / dt,
            "bar_steps_per_s": n * len(c) / dt, "bar_steps_per_cpu_s": n * len(c) / cpu}


def warm_up(bars: pa.Table) -> None:
    """numba compilation (vectorbt) and first-call costs outside the timings."""
    for tf in TIMEFRAMES:
        run_trade(bars.slice(0, 20_000), tf)
        run_vectorbt(bars.slice(0, 20_000), tf)


def compare(bars: pa.Table, tf: str, rounds: int = 1) -> dict[str, Any]:
    """Both engines on the same bars (trade: best of `rounds`), and the ratio of their
    throughputs (trade / vectorbt: > 1 = trade is faster)."""
    t = min((run_trade(bars, tf) for _ in range(rounds)), key=lambda r: r["seconds"])
    v = run_vectorbt(bars, tf)
    return {"timeframe": tf, "trade": t, "vectorbt": v,
            "ratio_wall": t["bar_steps_per_s"] / v["bar_steps_per_s"],
            "ratio_cpu": t["bar_steps_per_cpu_s"] / v["bar_steps_per_cpu_s"]}


def print_comparison(res: dict[str, Any], n_bars: int) -> None:
    for name in ("trade", "vectorbt"):
        r = res[name]
        print(f"{res['timeframe']:>3s} decisions  {name:9s} {r['variants']} variants x "
              f"{n_bars:,} 1m bars in {r['seconds']:.2f}s wall, {r['cpu_seconds']:.2f}s CPU: "
              f"{r['variants_per_s']:.1f} variants/s, "
              f"{r['bar_steps_per_s'] / 1e6:.1f}M bar-steps/s "
              f"({r['bar_steps_per_cpu_s'] / 1e6:.1f}M per CPU-second)")
    print(f"{res['timeframe']:>3s} decisions  speed ratio trade / vectorbt: "
          f"{res['ratio_wall']:.1f}x (wall), {res['ratio_cpu']:.1f}x (CPU)")


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    return year_bars()


def _have_vectorbt() -> None:
    try:
        import vectorbt  # noqa: F401
    except ImportError:
        if QUICK:
            pytest.skip("vectorbt is not installed (pip install 'trade[bench]')")
        pytest.fail("vectorbt is not installed: pip install 'trade[bench]'")


@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_sweep_trade(benchmark: Any, bars: pa.Table, tf: str) -> None:
    run_trade(bars.slice(0, 20_000), tf)
    res = benchmark.pedantic(lambda: run_trade(bars, tf), rounds=1, iterations=1,
                             warmup_rounds=0)
    benchmark.extra_info.update(res)
    assert res["variants"] == len(FAST) * len(SLOW)


@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_sweep_vectorbt(benchmark: Any, bars: pa.Table, tf: str) -> None:
    _have_vectorbt()
    run_vectorbt(bars.slice(0, 20_000), tf)  # numba compilation outside the timing
    res = benchmark.pedantic(lambda: run_vectorbt(bars, tf), rounds=1, iterations=1)
    mine = run_trade(bars, tf)
    res["trade_bar_steps_per_s"] = mine["bar_steps_per_s"]
    res["ratio_trade_over_vectorbt"] = mine["bar_steps_per_s"] / res["bar_steps_per_s"]
    benchmark.extra_info.update(res)
    print(f"\n{tf} decisions: trade / vectorbt = {res['ratio_trade_over_vectorbt']:.1f}x")


def main() -> None:
    bars = year_bars()
    warm_up(bars)
    for tf in TIMEFRAMES:
        # trade is timed three times (best kept: the machine is shared), vectorbt once
        print_comparison(compare(bars, tf, rounds=3), bars.num_rows)


if __name__ == "__main__":
    sys.exit(main())
