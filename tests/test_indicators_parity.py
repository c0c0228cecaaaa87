"""Properties of every registered indicator on random valid OHLCV (hypothesis):

* a stream of `Incremental.update` calls equals `compute` bit for bit;
* no output at bar i depends on bars after i (rewrite the future, the past is unchanged);
* every output is NaN before its declared warm-up.

Random bars include flat stretches (equal prices, zero volume) to reach the
zero-range guards and tie rules, and irregular timestamps crossing UTC days,
weeks and months for VWAP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trade.indicators import REGISTRY, compute, get_spec, make_incremental, warmups
from trade.indicators.spec import ParamSpec

FIELDS = ("ts", "open", "high", "low", "close", "volume")


def random_bars(seed: int, n: int, flat: float) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1.0, n) * (rng.random(n) > flat)  # flat: price unchanged
    close = 100.0 + np.cumsum(steps)
    close = np.where(close < 1.0, 1.0 + np.abs(close), close)
    open_ = np.concatenate(([close[0]], close[:-1]))
    wick = np.abs(rng.normal(0, 0.5, (2, n))) * (rng.random((2, n)) > flat)
    high = np.maximum(open_, close) + wick[0]
    low = np.maximum(np.minimum(open_, close) - wick[1], 0.5)
    volume = rng.exponential(10.0, n) * (rng.random(n) > flat / 2)
    gaps = rng.choice([60_000.0, 3_600_000.0, 86_400_000.0, 20 * 86_400_000.0], n)
    ts = 1_500_000_000_000.0 + np.cumsum(gaps)
    return {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}


def _param_strategy(p: ParamSpec) -> st.SearchStrategy[Any]:
    if p.choices:
        return st.sampled_from(p.choices)
    if p.kind == "bool":
        return st.booleans()
    if p.kind == "floats":
        return st.lists(st.sampled_from([-0.272, 0.0, 0.236, 0.382, 0.5, 0.618, 1.0, 1.618]),
                        min_size=1, max_size=4, unique=True)
    if p.kind == "int":
        lo = int(p.min or 1)
        return st.integers(lo, lo + 9 if p.max is None else min(lo + 9, int(p.max)))
    assert p.kind == "float"
    lo, hi = float(p.min or 0.0), float(p.max or 10.0)
    return st.floats(max(lo, 0.01), min(hi, 4.0), allow_nan=False)


def params_for(name: str) -> st.SearchStrategy[dict[str, Any]]:
    spec = get_spec(name)
    check = spec.check
    strategy = st.fixed_dictionaries({p.name: _param_strategy(p) for p in spec.params})
    if check is None:
        return strategy
    return strategy.filter(lambda p: check(spec.with_defaults(p)) is None)


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


CFG = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("name", sorted(REGISTRY))
@CFG
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 160),
    flat=st.sampled_from([0.0, 0.3, 0.8]),
)
def test_incremental_equals_batch_bit_for_bit(
    name: str, data: st.DataObject, seed: int, n: int, flat: float
) -> None:
    params = data.draw(params_for(name))
    bars = random_bars(seed, n, flat)
    batch = compute(name, params, bars)
    inc = make_incremental(name, params)
    assert inc.outputs == get_spec(name).outputs_for(inc.params)
    rows = [inc.update(*(float(bars[f][i]) for f in FIELDS)) for i in range(n)]
    stream = np.array(rows, dtype=np.float64).reshape(n, len(inc.outputs))
    for j, field in enumerate(inc.outputs):
        assert np.array_equal(_bits(stream[:, j]), _bits(batch[field])), (name, field, params)
    for field, w in zip(inc.outputs, warmups(name, params), strict=True):
        assert np.isnan(batch[field][:w]).all(), (name, field, w)


@pytest.mark.parametrize("name", sorted(REGISTRY))
@CFG
@given(
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 160),
    flat=st.sampled_from([0.0, 0.3, 0.8]),
)
def test_no_output_depends_on_the_future(
    name: str, data: st.DataObject, seed: int, n: int, flat: float
) -> None:
    params = data.draw(params_for(name))
    cut = data.draw(st.integers(0, n - 2))
    bars = random_bars(seed, n, flat)
    other = random_bars(seed + 1, n, flat)
    changed = {f: bars[f].copy() for f in FIELDS}
    for f in FIELDS:
        if f == "ts":  # keep time increasing across the cut
            changed[f][cut + 1 :] = bars[f][cut] + np.cumsum(
                np.diff(other[f], prepend=other[f][0])[cut + 1 :] + 1.0
            )
        else:
            changed[f][cut + 1 :] = other[f][cut + 1 :]
    a = compute(name, params, bars)
    b = compute(name, params, changed)
    for field in a:
        assert np.array_equal(_bits(a[field][: cut + 1]), _bits(b[field][: cut + 1])), (
            name,
            field,
            params,
            cut,
        )
