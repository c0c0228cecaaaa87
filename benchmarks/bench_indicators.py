"""Batch indicator speed vs TA-Lib on 1 M bars (TRADE_BENCH_QUICK=1: 50 k bars).

Run: pytest benchmarks/bench_indicators.py --benchmark-only -q
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest
import talib

from trade.indicators import compute

N = 50_000 if os.environ.get("TRADE_BENCH_QUICK") == "1" else 1_000_000


@pytest.fixture(scope="module")
def bars() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    close = 30_000.0 + np.cumsum(rng.normal(0, 20.0, N))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + np.abs(rng.normal(0, 10.0, N))
    low = np.minimum(open_, close) - np.abs(rng.normal(0, 10.0, N))
    volume = rng.exponential(5.0, N)
    ts = 1_600_000_000_000.0 + 60_000.0 * np.arange(N)
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _supertrend_talib(b: dict[str, np.ndarray]) -> object:
    # TA-Lib has no supertrend: time its ATR, the part a talib-based version would share
    return talib.ATR(b["high"], b["low"], b["close"], 10)


CASES: list[tuple[str, dict[str, object], Callable[[dict[str, np.ndarray]], object]]] = [
    ("ema", {"length": 21}, lambda b: talib.EMA(b["close"], 21)),
    ("rsi", {"length": 14}, lambda b: talib.RSI(b["close"], 14)),
    ("atr", {"length": 14}, lambda b: talib.ATR(b["high"], b["low"], b["close"], 14)),
    ("bbands", {"length": 20, "std": 2.0}, lambda b: talib.BBANDS(b["close"], 20, 2.0, 2.0, 0)),
    (
        "adx",
        {"length": 14},
        lambda b: (
            talib.ADX(b["high"], b["low"], b["close"], 14),
            talib.PLUS_DI(b["high"], b["low"], b["close"], 14),
            talib.MINUS_DI(b["high"], b["low"], b["close"], 14),
        ),
    ),
    ("supertrend", {"length": 10, "mult": 3.0}, _supertrend_talib),
]


@pytest.mark.parametrize(("name", "params", "_ref"), CASES, ids=[c[0] for c in CASES])
def test_trade(
    benchmark: object,
    bars: dict[str, np.ndarray],
    name: str,
    params: dict[str, object],
    _ref: object,
) -> None:
    out = benchmark(compute, name, params, bars)  # type: ignore[operator]
    assert len(next(iter(out.values()))) == N


@pytest.mark.parametrize(("name", "params", "ref"), CASES, ids=[c[0] for c in CASES])
def test_talib(
    benchmark: object,
    bars: dict[str, np.ndarray],
    name: str,
    params: dict[str, object],
    ref: Callable[[dict[str, np.ndarray]], object],
) -> None:
    benchmark(ref, bars)  # type: ignore[operator]
