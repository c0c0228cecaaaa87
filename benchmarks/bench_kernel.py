"""Simulation kernel throughput in 1m bars per second (pytest-benchmark).

pytest benchmarks/bench_kernel.py -s                   # full: 1 and 4 years of 1m bars
TRADE_BENCH_QUICK=1 pytest benchmarks/bench_kernel.py  # CI: small sizes, never fails on speed

Batch path variants: `run_batch` end to end (bars validated in the loop, full equity
table), on `ValidatedBars` (validated once, as a sweep does), and `run_batch_summary`
(validated bars, equity summary instead of the per-bar curve: what sweeps run); and a signal
row on every 1m bar (a Play deciding every 1m) where only one row in 240 asks for anything:
the kernel goes from one row that can act to the next, so idle rows cost what idle bars do.
Figures: wall time (best of the rounds) and CPU time of the thread (best of 3), which is
steadier on a shared machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from conftest import sizes, tpsl_signals

from trade.sim import SignalArrays, SimConfig, SimExchange, SizeMode, run_batch
from trade.sim.batch import run_batch_summary, validate_bars
from trade.sim.driver import run_signals
from trade.sim.reference import ReferenceExchange
from trade.sim.signals import constant

CONFIG = SimConfig(leverage=3.0, slippage=0.0002, funding_rate=0.0001)


def _cpu_seconds(run: Callable[[], object]) -> float:
    """CPU time of the thread for one run: steadier than wall time on a shared machine."""
    start = time.thread_time()
    run()
    return time.thread_time() - start


def _report(benchmark: object, n_bars: int, n_trades: int, cpu_s: float) -> None:
    stats = benchmark.stats.stats  # type: ignore[attr-defined]
    info = benchmark.extra_info  # type: ignore[attr-defined]
    info["bars"] = n_bars
    info["trades"] = n_trades
    info["bars_per_s_best"] = n_bars / stats.min
    info["bars_per_s_mean"] = n_bars / stats.mean
    info["bars_per_s_cpu"] = n_bars / cpu_s if cpu_s > 0 else float("inf")
    print(
        f"\n{n_bars} bars, {n_trades} trades: {n_bars / stats.min / 1e6:.2f} M bars/s wall (best),"
        f" {info['bars_per_s_cpu'] / 1e6:.2f} M bars/s CPU"
    )


@pytest.mark.parametrize("span", ["1y", "4y"])
def test_batch_kernel(benchmark: object, bars_of: Callable[[int], pa.Table], span: str) -> None:
    n = sizes()[span]
    bars = bars_of(n)
    signals = tpsl_signals(n)
    result = benchmark.pedantic(  # type: ignore[attr-defined]
        run_batch, args=(bars, signals, CONFIG), rounds=5, iterations=1, warmup_rounds=1
    )
    assert result.equity.num_rows == n and result.n_trades > 0
    cpu = min(_cpu_seconds(lambda: run_batch(bars, signals, CONFIG)) for _ in range(3))
    _report(benchmark, n, result.n_trades, cpu)


@pytest.mark.parametrize("mode", ["validated", "summary"])
@pytest.mark.parametrize("span", ["1y", "4y"])
def test_batch_kernel_prevalidated(benchmark: object, bars_of: Callable[[int], pa.Table],
                                   span: str, mode: str) -> None:
    n = sizes()[span]
    bars = validate_bars(bars_of(n))
    signals = tpsl_signals(n)
    run = run_batch if mode == "validated" else run_batch_summary
    result = benchmark.pedantic(  # type: ignore[attr-defined]
        run, args=(bars, signals, CONFIG), rounds=5, iterations=1, warmup_rounds=1
    )
    assert result.n_trades > 0
    cpu = min(_cpu_seconds(lambda: run(bars, signals, CONFIG)) for _ in range(3))
    _report(benchmark, n, result.n_trades, cpu)


def idle_row_signals(n: int) -> SignalArrays:
    """tpsl_signals' orders on 1m rows: one row per 1m bar, an entry every 4 hours."""
    s = SignalArrays.empty(np.arange(n), size_mode=SizeMode.PERCENT_EQUITY)
    s.entry_long[::240] = 1
    s.entry_short[120::240] = 1
    s.size_value = constant(n, 20.0)
    s.sl_pct = constant(n, 0.01)
    s.tp_pct = constant(n, 0.02)
    return s


@pytest.mark.parametrize("checked", [False, True], ids=["validated", "engine-built"])
def test_batch_kernel_1m_rows(benchmark: object, bars_of: Callable[[int], pa.Table],
                              checked: bool) -> None:
    """Summary runs over validated bars; the signals validated as a user's (every row), or
    taken as engine-built (checked=True: what run_backtest and sweeps pass)."""
    n = sizes()["1y"]
    bars = validate_bars(bars_of(n))
    signals = idle_row_signals(n)

    def run() -> object:
        return run_batch_summary(bars, signals, CONFIG, checked=checked)

    result = benchmark.pedantic(run, rounds=5, iterations=1,  # type: ignore[attr-defined]
                                warmup_rounds=1)
    assert result.n_trades > 0  # type: ignore[attr-defined]
    _report(benchmark, n, result.n_trades, min(_cpu_seconds(run) for _ in range(3)))  # type: ignore[attr-defined]


def test_step_path(benchmark: object, bars_of: Callable[[int], pa.Table]) -> None:
    n = sizes()["step"]
    bars = bars_of(n)
    signals = tpsl_signals(n)

    def run() -> object:
        return run_signals(SimExchange(CONFIG), bars, signals, CONFIG)

    result = benchmark.pedantic(run, rounds=3, iterations=1)  # type: ignore[attr-defined]
    assert result.equity.num_rows == n  # type: ignore[attr-defined]
    _report(benchmark, n, result.n_trades, _cpu_seconds(run))  # type: ignore[attr-defined]


def test_reference_simulator(benchmark: object, bars_of: Callable[[int], pa.Table]) -> None:
    n = sizes()["reference"]
    bars = bars_of(n)
    signals = tpsl_signals(n)

    def run() -> object:
        return run_signals(ReferenceExchange(CONFIG), bars, signals, CONFIG)

    result = benchmark.pedantic(run, rounds=2, iterations=1)  # type: ignore[attr-defined]
    assert result.equity.num_rows == n  # type: ignore[attr-defined]
    _report(benchmark, n, result.n_trades, _cpu_seconds(run))  # type: ignore[attr-defined]
