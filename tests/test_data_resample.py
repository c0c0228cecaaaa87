"""Resampling against pandas' resample as the oracle, on real and synthetic data."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.data import (
    BAR_SCHEMA,
    INTERVALS,
    Store,
    bucket_start,
    import_file,
    interval_ms,
    normalize_interval,
    open_store,
    read_bars_file,
    resample,
    synth_bars,
)

MIN = 60_000
PANDAS_RULE = {
    **{n: f"{n}min" for n in ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720")},
    "D": "1D",
    "W": "W-MON",  # with closed/label left: weeks [Monday 00:00, next Monday)
    "M": "MS",
}


def pandas_resample(bars: pa.Table, interval: str) -> pd.DataFrame:
    """The oracle: pandas' resample, empty buckets dropped."""
    df = bars.select(list(BAR_SCHEMA.names)).to_pandas()
    df.index = pd.to_datetime(df.pop("ts"), unit="ms", utc=True)
    out = df.resample(PANDAS_RULE[interval], closed="left", label="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
         "turnover": "sum"}
    )
    out["n_1m"] = df["open"].resample(PANDAS_RULE[interval], closed="left", label="left").count()
    out = out[out["n_1m"] > 0]
    out.index = (out.index - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    return out


def assert_matches_pandas(bars: pa.Table, interval: str) -> pa.Table:
    got = resample(bars, interval)
    want = pandas_resample(bars, interval)
    assert np.array_equal(got.column("ts").to_numpy(), want.index.to_numpy(dtype=np.int64))
    for col in ("open", "high", "low", "close"):
        assert np.array_equal(got.column(col).to_numpy(), want[col].to_numpy()), col
    for col in ("volume", "turnover"):
        np.testing.assert_allclose(got.column(col).to_numpy(), want[col].to_numpy(),
                                   rtol=1e-12, atol=0)
    assert np.array_equal(got.column("n_1m").to_numpy(), want["n_1m"].to_numpy())
    return got


@pytest.fixture(scope="module")
def sample_store(shared_data: Path) -> Store:
    store = open_store(f"memory://resample-{uuid.uuid4().hex}")
    import_file(store, shared_data / "coinbase_btcusd_1h.csv", "CB", bridge_1m=True, seed=7)
    import_file(store, shared_data / "es_futures_1m.csv", "ES")
    import_file(store, shared_data / "binance_btcbusd_1m_sample.csv", "BN")
    return store


@pytest.mark.parametrize("interval", INTERVALS)
def test_real_es_futures_1m_matches_pandas(sample_store: Store, interval: str) -> None:
    assert_matches_pandas(sample_store.read_bars("ES"), interval)


@pytest.mark.parametrize("interval", ["3", "5", "15", "30", "60"])
def test_real_binance_1m_matches_pandas(sample_store: Store, interval: str) -> None:
    assert_matches_pandas(sample_store.read_bars("BN"), interval)


@pytest.mark.parametrize("interval", ["240", "720", "D", "W", "M"])
def test_real_coinbase_bridged_matches_pandas(sample_store: Store, interval: str) -> None:
    assert_matches_pandas(sample_store.read_bars("CB"), interval)


def test_bridged_coinbase_resamples_back_to_the_real_hourly_bars(
    sample_store: Store, shared_data: Path
) -> None:
    hourly = read_bars_file(shared_data / "coinbase_btcusd_1h.csv").table
    got = resample(sample_store.read_bars("CB"), "1h")
    for col in ("ts", "open", "high", "low", "close"):
        assert np.array_equal(got.column(col).to_numpy(), hourly.column(col).to_numpy()), col
    np.testing.assert_allclose(got.column("volume").to_numpy(),
                               hourly.column("volume").to_numpy(), rtol=1e-9)
    assert set(got.column("n_1m").to_numpy().tolist()) == {60}
    assert not any(got.column("partial").to_pylist())


@pytest.mark.parametrize("interval", ["15", "240", "W", "M"])
def test_synthetic_matches_pandas(interval: str) -> None:
    bars = synth_bars("SYNTH", 40, 5, "volatile", start_ms=1_706_000_000_000 // MIN * MIN)
    assert_matches_pandas(bars, interval)


@st.composite
def gappy_bars(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(1, 400))
    steps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 7, 59, 61, 1439, 10_081]),
                          min_size=n, max_size=n))
    start = draw(st.integers(0, 30_000_000)) * MIN
    ts = start + np.cumsum(np.asarray(steps, dtype=np.int64)) * MIN
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    o = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    c = o * np.exp(rng.normal(0, 0.01, n))
    h = np.maximum(o, c) * (1 + rng.random(n) * 0.01)
    lo = np.minimum(o, c) * (1 - rng.random(n) * 0.01)
    v = rng.random(n) * 10
    return pa.Table.from_arrays([pa.array(x) for x in (ts, o, h, lo, c, v, v * c)],
                                schema=BAR_SCHEMA)


@settings(max_examples=30, deadline=None)
@given(gappy_bars(), st.sampled_from(INTERVALS))
def test_random_gappy_bars_match_pandas_and_conserve(bars: pa.Table, interval: str) -> None:
    got = assert_matches_pandas(bars, interval)
    assert int(np.sum(got.column("n_1m").to_numpy())) == bars.num_rows
    starts = got.column("ts").to_numpy()
    assert np.array_equal(bucket_start(starts, interval), starts)  # aligned bucket opens
    partial = got.column("partial").to_numpy(zero_copy_only=False)
    assert not partial[1:-1].any()  # only edge bars can be partial


def test_partial_last_and_first_bars() -> None:
    day = 1_704_067_200_000  # Monday 2024-01-01 00:00 UTC
    full = synth_bars("S", 1, 1, start_ms=day)
    got = resample(full.slice(0, 30), "15")  # 00:00 .. 00:29: two complete bars
    assert got.column("partial").to_pylist() == [False, False]
    got = resample(full.slice(0, 25), "15")  # ends 00:24: the second bar is incomplete
    assert got.column("partial").to_pylist() == [False, True]
    assert got.column("n_1m").to_pylist() == [15, 10]
    got = resample(full.slice(3, 27), "15")  # starts 00:03: the first bar is incomplete
    assert got.column("partial").to_pylist() == [True, False]
    got = resample(full, "D")
    assert got.column("partial").to_pylist() == [False]
    assert resample(full.slice(0, 1439), "D").column("partial").to_pylist() == [True]


def test_bybit_alignment_weeks_months_hours() -> None:
    # 2024-01-03 (a Wednesday) 05:17 UTC
    ts = np.array([1_704_259_020_000], dtype=np.int64)
    assert bucket_start(ts, "W")[0] == 1_704_067_200_000  # Monday 2024-01-01 00:00
    assert bucket_start(ts, "M")[0] == 1_704_067_200_000  # 2024-01-01
    assert bucket_start(ts, "240")[0] == 1_704_254_400_000  # 04:00
    assert bucket_start(ts, "D")[0] == 1_704_240_000_000
    assert pd.Timestamp(int(bucket_start(ts, "W")[0]), unit="ms").day_name() == "Monday"


def test_interval_names_and_aliases() -> None:
    aliases = {"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60",
               "2h": "120", "4h": "240", "6h": "360", "12h": "720", "1d": "D", "M": "M",
               "W": "W", 60: "60"}
    for alias, name in aliases.items():
        assert normalize_interval(alias) == name
    assert interval_ms("15m") == 900_000 and interval_ms("4h") == 14_400_000
    assert interval_ms("D") == 86_400_000 and interval_ms("W") == 7 * 86_400_000
    with pytest.raises(ValueError, match="unknown interval"):
        normalize_interval("7m")


def test_resample_refuses_unsorted_input() -> None:
    bars = synth_bars("S", 1, 2).slice(0, 10)
    shuffled = bars.take(pa.array([1, 0, *range(2, 10)]))
    with pytest.raises(ValueError, match="strictly increasing"):
        resample(shuffled, "5")
    assert resample(bars.slice(0, 0), "5").num_rows == 0
