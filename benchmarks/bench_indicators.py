"""Batch indicator speed vs TA-Lib on 1 M bars (TRADE_BENCH_QUICK=1: 50 k bars).

One benchmark group per indicator holds `trade` (trade.indicators.compute, validation
and output arrays included) and `talib` (the TA-Lib call(s) producing the same outputs).
At the end of the run a table gives each indicator's time ratio trade / talib (of the
minimum and of the median round; the minimum is the steadier one on a shared machine).

glibc returns freed large blocks to the system or keeps them depending on the sizes freed
before (its thresholds adapt), so an output array may cost fresh pages or not depending on
which benchmark ran first. The module fixes both thresholds so neither side pays page
faults for reused output memory, whatever the order.

Run: python -m pytest benchmarks/bench_indicators.py --benchmark-only -q -p no:randomly
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import talib

from trade.indicators import compute

N = 50_000 if os.environ.get("TRADE_BENCH_QUICK") == "1" else 1_000_000

Bars = dict[str, np.ndarray]


M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


@pytest.fixture(scope="module", autouse=True)
def _steady_allocator() -> Iterator[None]:
    path = ctypes.util.find_library("c")
    libc = ctypes.CDLL(path) if path else None
    mallopt = getattr(libc, "mallopt", None)  # glibc only
    if mallopt is not None:
        mallopt(M_MMAP_THRESHOLD, 32 << 20)  # blocks below 32 MB from the heap ...
        mallopt(M_TRIM_THRESHOLD, 1 << 30)  # ... kept for reuse when freed
    yield


@pytest.fixture(scope="module")
def bars() -> Bars:
    rng = np.random.default_rng(7)
    close = 30_000.0 + np.cumsum(rng.normal(0, 20.0, N))
    open_ = np.concatenate(([close[0]], close[:-1]))
    high = np.maximum(open_, close) + np.abs(rng.normal(0, 10.0, N))
    low = np.minimum(open_, close) - np.abs(rng.normal(0, 10.0, N))
    volume = rng.exponential(5.0, N)
    ts = 1_600_000_000_000.0 + 60_000.0 * np.arange(N)
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _hlc(f: Callable[..., Any], **kw: Any) -> Callable[[Bars], Any]:
    return lambda b: f(b["high"], b["low"], b["close"], **kw)


def _c(f: Callable[..., Any], **kw: Any) -> Callable[[Bars], Any]:
    return lambda b: f(b["close"], **kw)


def _adx(b: Bars) -> tuple[Any, ...]:
    h, lo, c = b["high"], b["low"], b["close"]
    return (talib.ADX(h, lo, c, 14), talib.PLUS_DI(h, lo, c, 14),
            talib.MINUS_DI(h, lo, c, 14), talib.ADXR(h, lo, c, 14))


def _aroon(b: Bars) -> tuple[Any, ...]:
    return (*talib.AROON(b["high"], b["low"], 14), talib.AROONOSC(b["high"], b["low"], 14))


def _bbands(b: Bars) -> tuple[Any, ...]:
    # TA-Lib gives the three bands; bandwidth and %b (trade's other outputs) from them
    up, mid, lo = talib.BBANDS(b["close"], 20, 2.0, 2.0, 0)
    return up, mid, lo, (up - lo) / mid, (b["close"] - lo) / (up - lo)


# TA-Lib has no supertrend: time its ATR, the part a talib-based version would share
CASES: list[tuple[str, dict[str, object], Callable[[Bars], Any]]] = [
    ("sma", {"length": 20}, _c(talib.SMA, timeperiod=20)),
    ("ema", {"length": 21}, _c(talib.EMA, timeperiod=21)),
    ("wma", {"length": 20}, _c(talib.WMA, timeperiod=20)),
    ("dema", {"length": 20}, _c(talib.DEMA, timeperiod=20)),
    ("tema", {"length": 20}, _c(talib.TEMA, timeperiod=20)),
    ("trima", {"length": 20}, _c(talib.TRIMA, timeperiod=20)),
    ("kama", {"length": 10}, _c(talib.KAMA, timeperiod=10)),
    ("linreg", {"length": 14}, _c(talib.LINEARREG, timeperiod=14)),
    ("rsi", {"length": 14}, _c(talib.RSI, timeperiod=14)),
    ("cmo", {"length": 14}, _c(talib.CMO, timeperiod=14)),
    ("roc", {"length": 10}, _c(talib.ROC, timeperiod=10)),
    ("mom", {"length": 10}, _c(talib.MOM, timeperiod=10)),
    ("macd", {}, _c(talib.MACD, fastperiod=12, slowperiod=26, signalperiod=9)),
    ("stoch", {}, _hlc(talib.STOCH, fastk_period=14, slowk_period=3, slowk_matype=0,
                       slowd_period=3, slowd_matype=0)),
    ("cci", {"length": 20}, _hlc(talib.CCI, timeperiod=20)),
    ("willr", {"length": 14}, _hlc(talib.WILLR, timeperiod=14)),
    ("mfi", {"length": 14},
     lambda b: talib.MFI(b["high"], b["low"], b["close"], b["volume"], 14)),
    ("atr", {"length": 14}, _hlc(talib.ATR, timeperiod=14)),
    ("natr", {"length": 14}, _hlc(talib.NATR, timeperiod=14)),
    ("adx", {"length": 14}, _adx),
    ("aroon", {"length": 14}, _aroon),
    ("bbands", {"length": 20, "std": 2.0}, _bbands),
    ("midprice", {"length": 14}, lambda b: talib.MIDPRICE(b["high"], b["low"], 14)),
    ("obv", {}, lambda b: talib.OBV(b["close"], b["volume"])),
    ("rolling_max", {"length": 20}, lambda b: talib.MAX(b["high"], 20)),
    ("supertrend", {"length": 10, "mult": 3.0}, _hlc(talib.ATR, timeperiod=10)),
]

# rows whose talib side is not the same indicator, marked in the ratio table
NOTES: dict[str, str] = {
    "supertrend": "not in TA-Lib: vs its ATR alone (1 output of our 4)",
}

_MIN: dict[tuple[str, str], float] = {}
_MEDIAN: dict[tuple[str, str], float] = {}


class _RatioReport:
    """Prints trade/talib per indicator after pytest-benchmark's own tables."""

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        names = [c[0] for c in CASES if (c[0], "trade") in _MIN and (c[0], "talib") in _MIN]
        if not names:
            return
        tr = terminalreporter
        tr.write_sep("-", f"trade / talib time ratio, {N} bars (<= 1.0: trade as fast)")
        tr.write_line(f"{'indicator':<12} {'min':>7} {'median':>7}")
        for name in names:
            r_min = _MIN[name, "trade"] / _MIN[name, "talib"]
            r_med = _MEDIAN[name, "trade"] / _MEDIAN[name, "talib"]
            note = f"  ({NOTES[name]})" if name in NOTES else ""
            tr.write_line(f"{name:<12} {r_min:7.2f} {r_med:7.2f}{note}")


@pytest.fixture(scope="module", autouse=True)
def _ratio_report(request: pytest.FixtureRequest) -> None:
    manager = request.config.pluginmanager
    if not manager.has_plugin("trade-indicator-ratios"):
        manager.register(_RatioReport(), "trade-indicator-ratios")


@pytest.mark.parametrize("impl", ["trade", "talib"])
@pytest.mark.parametrize(("name", "params", "ref"), CASES, ids=[c[0] for c in CASES])
def test_indicator(
    benchmark: Any,
    bars: Bars,
    name: str,
    params: dict[str, object],
    ref: Callable[[Bars], Any],
    impl: str,
) -> None:
    benchmark.group = name
    if impl == "trade":
        out = benchmark(compute, name, params, bars)
        assert len(next(iter(out.values()))) == N
    else:
        benchmark(ref, bars)
    if getattr(benchmark, "stats", None) is not None:  # None under --benchmark-disable
        _MIN[name, impl] = benchmark.stats.stats.min
        _MEDIAN[name, impl] = benchmark.stats.stats.median
