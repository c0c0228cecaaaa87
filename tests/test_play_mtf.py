"""Multi-timeframe alignment: a higher-timeframe value is never visible before its bar closes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.play import align_to_exec

MIN = 60_000
HOUR = 60 * MIN


def test_planted_future_value_is_never_seen_early() -> None:
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
    htf_ts = t0 + HOUR * np.arange(24)
    htf_vals = np.arange(24, dtype=float)
    k = 10
    htf_vals[k] = 1e9  # the planted value: hourly bar [t0+10h, t0+11h)
    exec_ts = t0 + 15 * MIN * np.arange(24 * 4)
    out = align_to_exec(htf_ts, htf_vals, HOUR, exec_ts, 15 * MIN)
    exec_close = exec_ts + 15 * MIN
    seen = np.flatnonzero(out == 1e9)
    # visible exactly from the exec bar that closes at t0 + 11h, through the next hour
    assert exec_close[seen].min() == htf_ts[k] + HOUR
    assert len(seen) == 4
    assert np.all(exec_close[out == 1e9] >= htf_ts[k] + HOUR)
    # before the first hourly bar closes nothing is visible
    assert np.isnan(out[:3]).all() and out[3] == 0.0
    # the exec bar at 10:45 (closing at 11:00) sees bar 10; the one at 10:30 sees bar 9
    assert out[np.searchsorted(exec_ts, htf_ts[k] + 30 * MIN)] == 9.0


@settings(max_examples=60, deadline=None)
@given(
    ratio=st.sampled_from([1, 2, 3, 4, 12, 60]),
    exec_min=st.sampled_from([1, 5, 15]),
    n_htf=st.integers(1, 30),
    start_shift=st.integers(-5, 5),
    plant=st.integers(0, 29),
    gaps=st.lists(st.integers(0, 2), min_size=30, max_size=30),
)
def test_alignment_matches_brute_force(ratio: int, exec_min: int, n_htf: int, start_shift: int,
                                       plant: int, gaps: list[int]) -> None:
    e_ms = exec_min * MIN
    h_ms = ratio * e_ms
    # higher-timeframe bars, possibly with missing bars (gaps)
    steps = np.array([1 + g for g in gaps[:n_htf]])
    htf_ts = 10 * h_ms + h_ms * (np.cumsum(steps) - steps[0])
    vals = np.arange(n_htf, dtype=float)
    vals[plant % n_htf] = -1e12
    n_exec = (int(htf_ts[-1] - htf_ts[0]) // e_ms) + 2 * ratio
    exec_ts = htf_ts[0] + start_shift * e_ms + e_ms * np.arange(n_exec)
    out = align_to_exec(htf_ts, vals, h_ms, exec_ts, e_ms)
    for j, ts in enumerate(exec_ts):
        closed = np.flatnonzero(htf_ts + h_ms <= ts + e_ms)
        if len(closed) == 0:
            assert np.isnan(out[j])
        else:
            assert out[j] == vals[closed[-1]]
        if out[j] == -1e12:
            assert htf_ts[plant % n_htf] + h_ms <= ts + e_ms  # never early


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="htf_ts_open is not strictly increasing at index 1"):
        align_to_exec(np.array([5, 5]), np.array([1.0, 2.0]), 1, np.array([1]), 1)
    with pytest.raises(ValueError, match="does not match"):
        align_to_exec(np.array([1, 2]), np.array([1.0]), 1, np.array([1]), 1)
    with pytest.raises(ValueError, match="intervals must be > 0"):
        align_to_exec(np.array([1]), np.array([1.0]), 0, np.array([1]), 1)
