"""Benchmark fixtures: seeded synthetic 1m data and signals (TRADE_BENCH_QUICK=1 shrinks them)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from trade.sim import SignalArrays, SizeMode

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
YEAR_BARS = 525_600
MIN = 60_000


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect benchmarks/bench_*.py when the directory is run (`pytest benchmarks`)."""
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        if parent.session.isinitpath(file_path):
            return None  # named on the command line: pytest collects it itself
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def synthetic_bars(n: int, seed: int = 7) -> pa.Table:
    """A seeded geometric random walk of 1m bars starting at a funding boundary."""
    rng = np.random.default_rng(seed)
    c = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0007, n)))
    o = np.r_[c[0], c[:-1]]
    h = np.maximum(o, c) * (1 + np.abs(rng.normal(0.0, 0.0003, n)))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0.0, 0.0003, n)))
    ts = 1_704_067_200_000 + np.arange(n, dtype=np.int64) * MIN  # 2024-01-01 00:00 UTC
    return pa.table({"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": np.ones(n)})


def tpsl_signals(n: int, exec_minutes: int = 15, every_hours: int = 4) -> SignalArrays:
    """Exec bars of `exec_minutes`; an entry (alternating long/short) every `every_hours`,
    1 % stop loss and 2 % take profit, 20 % of equity as margin."""
    idx = np.arange(exec_minutes - 1, n, exec_minutes)
    s = SignalArrays.empty(idx, size_mode=SizeMode.PERCENT_EQUITY)
    period = every_hours * 60 // exec_minutes
    s.entry_long[::period] = 1
    s.entry_short[period // 2 :: period] = 1
    s.size_value[:] = 20.0
    s.sl_pct[:] = 0.01
    s.tp_pct[:] = 0.02
    return s


def sizes() -> dict[str, int]:
    if QUICK:
        return {"1y": 20_000, "4y": 40_000, "step": 2_000, "reference": 1_000}
    return {"1y": YEAR_BARS, "4y": 4 * YEAR_BARS, "step": 50_000, "reference": 10_000}


_CACHE: dict[int, pa.Table] = {}


@pytest.fixture(scope="session")
def bars_of() -> object:
    def get(n: int) -> pa.Table:
        if n not in _CACHE:
            _CACHE[n] = synthetic_bars(n)
        return _CACHE[n]

    return get
