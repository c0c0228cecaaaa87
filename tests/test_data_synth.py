"""Synthetic markets: deterministic to the byte, valid OHLC, realistic statistics."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.core.errors import InputError
from trade.data import BAR_SCHEMA, REGIMES, regime_for_pattern, synth_bars, validate_bars
from trade.data.synth import PATTERN_REGIMES

MIN = 60_000


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@pytest.mark.parametrize("regime", REGIMES)
def test_same_seed_same_bytes_other_seed_other_bytes(regime: str) -> None:
    a = synth_bars("BTCUSDT", 20, 7, regime)
    b = synth_bars("BTCUSDT", 20, 7, regime)
    assert parquet_bytes(a) == parquet_bytes(b)
    assert a.equals(b)
    assert not synth_bars("BTCUSDT", 20, 8, regime).equals(a)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(sorted(PATTERN_REGIMES)), st.integers(0, 2**31), st.integers(1, 12),
       st.integers(0, 10**6))
def test_every_bar_valid_and_no_minute_missing(name: str, seed: int, days: int,
                                               start_min: int) -> None:
    start = 1_600_000_000_000 // MIN * MIN + start_min * MIN
    table = synth_bars("ETHUSDT", days, seed, name, start_ms=start)
    assert table.schema.equals(BAR_SCHEMA)
    assert table.num_rows == days * 1440
    assert validate_bars(table) == []
    ts = table.column("ts").to_numpy()
    assert ts[0] == start and np.all(np.diff(ts) == MIN)
    assert table.column("low").to_numpy().min() > 0


def test_a_long_downtrend_never_rounds_a_price_to_zero() -> None:
    # seed 7's mixed BTC market falls below half a tick (0.05) after ~2,700 days: rounded to
    # the grid its close was 0 and its low 0 (found backtesting 16 M bars); a price now stays
    # at one tick at least, and every bar stays valid
    table = synth_bars("BTCUSDT", 2_716, 7, "mixed").slice(3_900_000)
    low = table.column("low").to_numpy()
    assert low.min() >= 0.1
    assert validate_bars(table) == []


def test_pattern_names_map_onto_regimes() -> None:
    assert regime_for_pattern("trend_up_clean") == "trending"
    assert regime_for_pattern("range_wide") == "ranging"
    assert regime_for_pattern("v_bottom") == "crash"
    assert regime_for_pattern("breakout_false") == "ranging"
    assert regime_for_pattern("spike_recover") == "volatile"
    for regime in REGIMES:
        assert regime_for_pattern(regime) == regime
    with pytest.raises(ValueError, match="unknown synthetic pattern"):
        regime_for_pattern("moon")


def test_realistic_statistics() -> None:
    table = synth_bars("BTCUSDT", 60, 3, "mixed")
    o, h, lo, c = (table.column(x).to_numpy() for x in ("open", "high", "low", "close"))
    r = np.diff(np.log(c))
    z = (r - r.mean()) / r.std()
    assert np.mean(z**4) - 3 > 3  # fat tails: excess kurtosis well above a normal's 0
    a = np.abs(r)
    assert np.corrcoef(a[1:], a[:-1])[0, 1] > 0.05  # volatility clustering
    hour = (table.column("ts").to_numpy()[1:] // 3_600_000) % 24
    assert a[(hour >= 13) & (hour < 16)].mean() > 1.2 * a[(hour >= 1) & (hour < 4)].mean()
    gaps = np.abs(o[1:] / c[:-1] - 1)
    assert 0 < int((gaps > 0).sum()) < len(gaps) * 0.01  # occasional gaps
    wick = (h - np.maximum(o, c)) / c
    assert np.percentile(wick, 99.9) > 8 * np.median(wick)  # occasional long wicks
    low_wick = (np.minimum(o, c) - lo) / c
    assert np.percentile(low_wick, 99.9) > 8 * np.median(low_wick)
    assert table.column("volume").to_numpy().min() >= 0


def test_regimes_behave_as_named() -> None:
    for seed in range(4):
        up = synth_bars("BTCUSDT", 30, seed, "trending").column("close").to_numpy()
        assert up[-1] > up[0] * 1.05
        crash = synth_bars("BTCUSDT", 30, seed, "crash").column("close").to_numpy()
        peak = np.maximum.accumulate(crash)
        assert (crash / peak).min() < 0.75  # a deep drawdown
        rng = synth_bars("BTCUSDT", 30, seed, "ranging").column("close").to_numpy()
        assert abs(np.log(rng[-1] / rng[0])) < 0.1
        vol = synth_bars("BTCUSDT", 30, seed, "volatile").column("close").to_numpy()
        assert np.std(np.diff(np.log(vol))) > 1.5 * np.std(np.diff(np.log(rng)))


def _minute_returns(t: pa.Table) -> np.ndarray:
    close, open_ = (np.asarray(t.column(k).to_numpy()) for k in ("close", "open"))
    return np.log(close / open_)


@pytest.mark.parametrize(("rho", "seed"), [(0.3, 1), (0.6, 2), (0.9, 3)])
def test_portfolio_markets_are_correlated_as_asked(rho: float, seed: int) -> None:
    from trade.data import synth_portfolio

    tables = synth_portfolio(["BTCUSDT", "ETHUSDT", "SOLUSDT"], 6, seed, rho, "mixed")
    ts = [t.column("ts") for t in tables.values()]
    assert all(x.equals(ts[0]) for x in ts)  # the same minutes for every symbol
    for t in tables.values():
        validate_bars(t)
    c = np.corrcoef([_minute_returns(t) for t in tables.values()])
    pairs = [c[0, 1], c[0, 2], c[1, 2]]
    # the shocks correlate rho; returns a little less (own volatility paths and gaps)
    assert all(0.7 * rho - 0.05 < x < rho + 0.05 for x in pairs), pairs


def test_portfolio_without_correlation_is_each_symbols_own_market() -> None:
    from trade.data import synth_portfolio

    tables = synth_portfolio(["BTCUSDT", "ETHUSDT"], 3, 9, 0.0)
    for sym, t in tables.items():
        assert t.equals(synth_bars(sym, 3, 9))  # bit for bit the single-symbol generator
    again = synth_portfolio(["BTCUSDT", "ETHUSDT"], 3, 9, 0.5)
    assert all(again[s].equals(synth_portfolio(["BTCUSDT", "ETHUSDT"], 3, 9, 0.5)[s])
               for s in again)
    c = np.corrcoef([_minute_returns(t) for t in tables.values()])[0, 1]
    assert abs(c) < 0.05
    for bad in ({"symbols": [], "rho": 0.5}, {"symbols": ["A", "A"], "rho": 0.5},
                {"symbols": ["A", "B"], "rho": 1.5}):
        with pytest.raises(ValueError):
            synth_portfolio(bad["symbols"], 2, 1, bad["rho"])  # type: ignore[arg-type]


def test_cli_synth_several_symbols(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trade.cli import cli
    from trade.data import open_store

    res = CliRunner().invoke(cli, ["data", "synth", "--symbol", "aaausdt", "--symbol", "BBBUSDT",
                                   "--days", "2", "--correlation", "0.8", "--data-dir",
                                   str(tmp_path)])
    assert res.exit_code == 0, res.output
    store = open_store(tmp_path)
    assert store.symbols() == ["AAAUSDT", "BBBUSDT"]
    assert store.provenance("AAAUSDT")["portfolio"] == {"symbols": ["AAAUSDT", "BBBUSDT"],
                                                        "correlation": 0.8}
    a, b = (store.read_bars(s) for s in ("AAAUSDT", "BBBUSDT"))
    assert np.corrcoef(_minute_returns(a), _minute_returns(b))[0, 1] > 0.5
    lone = CliRunner().invoke(cli, ["data", "synth", "--symbol", "CCCUSDT", "--days", "1",
                                    "--correlation", "0.5", "--data-dir", str(tmp_path)])
    assert isinstance(lone.exception, InputError) and "needs two or more" in str(lone.exception)
