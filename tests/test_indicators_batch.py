"""Each indicator's own batch loop (Kernel.batch) against its per-bar `step` (hypothesis).

The parity test compares `compute` with a stream from a fresh kernel. Here the bars are cut
into random chunks: some chunks go through the batch form (`run` or `run_columns`), the
others bar by bar through `update`, all on ONE kernel, so every batch loop must leave the
state exactly where the same bars fed one at a time would (ring buffers, the rolling
max/min deque rebuilt after its scan, smoother seeds), starting from any state. Inputs
carry NaN holes (a batch loop must treat them as step does) and windows longer than the
chunks. Reference: one stream of `update` over all bars, compared bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_indicators_parity import params_for, random_bars
from trade.indicators import REGISTRY
from trade.indicators.api import BAR_FIELDS, resolve_params
from trade.indicators.registry import ENTRIES

CFG = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def _kernel(name: str, params: dict[str, Any]) -> Any:
    return ENTRIES[name].factory(resolve_params(name, params))


@pytest.mark.parametrize("name", sorted(REGISTRY))
@CFG
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 240),
    flat=st.sampled_from([0.0, 0.3, 0.8]),
)
def test_batch_chunks_continue_the_stream_bit_for_bit(
    name: str, data: st.DataObject, seed: int, n: int, flat: float
) -> None:
    params = data.draw(params_for(name))
    bars = random_bars(seed, n, flat)
    holes = data.draw(st.lists(st.tuples(st.sampled_from(BAR_FIELDS[1:]), st.integers(0, n - 1)),
                               max_size=3))
    for field, i in holes:  # a NaN field value: an upstream gap
        bars[field][i] = np.nan
    cols = [np.ascontiguousarray(bars[f], dtype=np.float64) for f in BAR_FIELDS]

    ref = _kernel(name, params)
    stream = np.array([ref.update(*(float(c[i]) for c in cols)) for i in range(n)])

    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=4))) - {n})
    kernel = _kernel(name, params)
    got = np.empty((n, kernel.n_out))
    for a, b in zip([0, *cuts], [*cuts, n], strict=True):
        how = data.draw(st.sampled_from(["run", "columns", "update"]))
        part = [c[a:b] for c in cols]
        if how == "run":
            got[a:b] = kernel.run(*part).T
        elif how == "columns":
            got[a:b] = np.array(kernel.run_columns(*part)).T
        else:
            got[a:b] = [kernel.update(*(float(c[i]) for c in part)) for i in range(b - a)]
    assert np.array_equal(_bits(got), _bits(stream.reshape(n, -1))), (name, params, cuts)


@pytest.mark.parametrize("name", ["rolling_max", "rolling_min", "midprice", "willr", "stoch"])
@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    length=st.integers(1, 12),
    n=st.integers(1, 400),
    ties=st.booleans(),
)
def test_rolling_extreme_scan_equals_the_deque(
    name: str, seed: int, length: int, n: int, ties: bool
) -> None:
    """The batch scan of the rolling max/min family on long inputs, with runs of equal
    values and signed zeros (the tie rule decides which zero is reported)."""
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values, +0.0 and -0.0 among them
        pool = np.array([-0.0, 0.0, 1.0, 2.0, -1.0])
        close = rng.choice(pool, n)
        high, low = close.copy(), close.copy()
    else:
        close = 100.0 + np.cumsum(rng.normal(0, 1.0, n))
        high = close + np.abs(rng.normal(0, 0.5, n))
        low = close - np.abs(rng.normal(0, 0.5, n))
    bars = {"ts": 60_000.0 * np.arange(n), "open": close, "high": high, "low": low,
            "close": close, "volume": np.ones(n)}
    key = "k_length" if name == "stoch" else "length"
    params: dict[str, Any] = {key: length}
    cols = [np.ascontiguousarray(bars[f]) for f in BAR_FIELDS]
    ref = _kernel(name, params)
    stream = np.array([ref.update(*(float(c[i]) for c in cols)) for i in range(n)])
    batch = np.array(_kernel(name, params).run_columns(*cols)).T
    assert np.array_equal(_bits(batch), _bits(stream.reshape(n, -1))), (name, length)


# indicators whose batch loop runs blocks of bars optimistically (pairs of Wilder steps,
# window extremes by blocks) and redoes a block bar by bar when it meets a NaN
# (a name:variant entry is the indicator with that variant's extra parameters)
BLOCKED = ["atr", "natr", "atr:first_range", "natr:first_range", "rsi", "cmo", "supertrend",
           "supertrend:pandas_ta", "keltner", "keltner:pandas_ta", "willr", "rsi:mid",
           "willr:mid", "midprice", "rolling_max", "rolling_min", "stoch", "stoch:flat_k", "kama",
           "kama:pandas_ta", "sma", "wma", "trima", "ema", "dema", "tema", "macd", "ppo"]
VARIANTS: dict[str, dict[str, Any]] = {
    "supertrend:pandas_ta": {"style": "pandas_ta"},
    "stoch:flat_k": {"flat_k": 50.0},
    "keltner:pandas_ta": {"style": "pandas_ta"},
    "rsi:mid": {"flat": "mid"},
    "willr:mid": {"flat": "mid"},
    "atr:first_range": {"first_range": True},
    "natr:first_range": {"first_range": True},
    "kama:pandas_ta": {"style": "pandas_ta"},
}


def _with_length(name: str, length: int) -> dict[str, Any]:
    if name in VARIANTS:
        return {**_with_length(name.split(":")[0], length), **VARIANTS[name]}
    if name == "stoch":
        return {"k_length": length}
    if name == "keltner":
        return {"length": length, "atr_length": length}
    if name in ("macd", "ppo"):
        return {"fast": length, "slow": length + 3, "signal": max(1, length // 2)}
    return {"length": length}


def _stream_and_batch(name: str, params: dict[str, Any],
                      bars: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    name = name.split(":")[0]
    cols = [np.ascontiguousarray(bars[f], dtype=np.float64) for f in BAR_FIELDS]
    n = len(cols[0])
    ref = _kernel(name, params)
    stream = np.array([ref.update(*(float(c[i]) for c in cols)) for i in range(n)])
    batch = np.array(_kernel(name, params).run_columns(*cols)).T
    return stream.reshape(n, -1), batch.reshape(n, -1)


@pytest.mark.parametrize("name", BLOCKED)
@settings(max_examples=12, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 2200),
    length=st.integers(1, 30),
    holes=st.lists(st.tuples(st.sampled_from(["high", "low", "close"]), st.floats(0, 1)),
                   max_size=4),
)
def test_blocked_batch_over_long_inputs_with_holes(
    name: str, seed: int, n: int, length: int, holes: list[tuple[str, float]]
) -> None:
    """Inputs across several blocks (512 bars), NaN holes anywhere (at a block's edge, in
    the seed, on the last bar), windows from 1 bar: batch equals the stream bit for bit."""
    params = _with_length(name, length)
    bars = random_bars(seed, n, 0.3)
    for field, where in holes:
        bars[field][min(int(where * n), n - 1)] = np.nan
    stream, batch = _stream_and_batch(name, params, bars)
    assert np.array_equal(_bits(batch), _bits(stream)), (name, length, holes)


@pytest.mark.parametrize("name", BLOCKED)
@pytest.mark.parametrize("n", [1, 2, 3, 513, 1025])
def test_blocked_batch_edges(name: str, n: int) -> None:
    """Short inputs, all-NaN inputs and NaN-only blocks, window 1: batch equals stream."""
    for length in (1, 2, 14):
        params = _with_length(name, length)
        bars = random_bars(n, n, 0.0)
        stream, batch = _stream_and_batch(name, params, bars)
        assert np.array_equal(_bits(batch), _bits(stream)), (name, n, length, "plain")
        zero = {**bars, "close": bars["close"].copy()}  # NATR's zero-close guard
        zero["close"][::7] = 0.0
        stream, batch = _stream_and_batch(name, params, zero)
        assert np.array_equal(_bits(batch), _bits(stream)), (name, n, length, "zero")
        for field in ("high", "low", "close"):
            nan = {**bars, field: np.full(n, np.nan)}
            stream, batch = _stream_and_batch(name, params, nan)
            assert np.array_equal(_bits(batch), _bits(stream)), (name, n, length, field)
        if n > 512:  # a whole block of NaN closes after the seed, then values again
            gap = {**bars, "close": bars["close"].copy()}
            gap["close"][40:600] = np.nan
            stream, batch = _stream_and_batch(name, params, gap)
            assert np.array_equal(_bits(batch), _bits(stream)), (name, n, length, "gap")
            for field in ("high", "low", "close"):  # lone NaN on odd and even bars
                lone = {**bars, field: bars[field].copy()}
                lone[field][[100, 301, 511, 512, n - 2, n - 1]] = np.nan
                stream, batch = _stream_and_batch(name, params, lone)
                assert np.array_equal(_bits(batch), _bits(stream)), (name, n, length, field)
