"""Multi-timeframe alignment: a higher-timeframe value is never visible before its bar closes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.indicators import compute
from trade.play import (
    ActionEvaluator,
    align_to_exec,
    compiled_actions,
    evaluate_actions,
    load_play_text,
)

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


def test_real_data_play_end_to_end_no_lookahead(shared_data: Path) -> None:
    """Real hourly BTC: a 4h EMA aligned onto 1h bars, then the full Play path
    (compile -> vectorised and incremental actions) agrees, and perturbing the
    future never changes a past decision."""
    df = pd.read_csv(shared_data / "coinbase_btcusd_1h.csv", skiprows=1)
    ts = pd.to_datetime(df["date"], format="%Y-%m-%d %I-%p", utc=True)
    ms = (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    df = df.assign(ts=ms).sort_values("ts").drop_duplicates("ts")
    df = df.iloc[-2000:].reset_index(drop=True)
    h1 = df["ts"].to_numpy(np.int64)
    close = df["close"].to_numpy(float)
    four_h = (h1 // (4 * HOUR)) * (4 * HOUR)
    grp = pd.Series(close).groupby(four_h)
    full = grp.size() == 4
    h4_ts = grp.last().index.to_numpy(np.int64)[full.to_numpy()]
    h4_close = grp.last().to_numpy(float)[full.to_numpy()]
    play = load_play_text(PLAY, source="e2e.yml")
    def bars(t: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
        return {"ts": t, "open": c, "high": c, "low": c, "close": c, "volume": np.ones(len(c))}

    ema_4h = compute("ema", play.features["ema_4h"].resolved_params(),
                     bars(h4_ts, h4_close))["value"]
    rsi = compute("rsi", play.features["rsi_14"].resolved_params(), bars(h1, close))["value"]

    def series(ema_src: np.ndarray) -> dict[str, np.ndarray]:
        aligned = align_to_exec(h4_ts, ema_src, 4 * HOUR, h1, HOUR)
        return {"close": close, "ema_4h": aligned, "rsi_14": rsi}

    actions = compiled_actions(play)
    s = series(ema_4h)
    sig = evaluate_actions(actions, s)
    ev = ActionEvaluator(actions)
    for i in range(len(close)):
        d = ev.update({k: float(v[i]) for k, v in s.items()})
        assert (d.entry_long, d.exit_long) == (sig.entry_long[i], sig.exit_long[i])
    assert sig.entry_long.sum() > 0 and sig.exit_long.sum() > 0
    # plant: change the last 4h bar's EMA; hourly bars before it closes must not change
    k = len(h4_ts) - 3
    planted = ema_4h.copy()
    planted[k] = 1e12
    sig2 = evaluate_actions(actions, series(planted))
    before = h1 + HOUR < h4_ts[k] + 4 * HOUR
    assert np.array_equal(sig.entry_long[before], sig2.entry_long[before])
    assert not (series(planted)["ema_4h"][before] == 1e12).any()
    assert (series(planted)["ema_4h"][~before] == 1e12).any()


PLAY = """\
version: "3.0.0"
name: e2e
symbol: BTCUSDT
timeframes: {low_tf: 1h, med_tf: 4h, exec: low_tf}
features:
  ema_4h: {indicator: ema, params: {length: 20}, tf: med_tf}
  rsi_14: {indicator: rsi, params: {length: 14}}
actions:
  entry_long:
    all:
      - [close, ">", ema_4h]
      - occurred_within: {bars: 5, expr: [[rsi_14, cross_above, 50]]}
  exit_long: [[close, cross_below, ema_4h]]
position_policy: {exit_mode: first_hit}  # signal exits count (TRADE's default ignores them)
"""
