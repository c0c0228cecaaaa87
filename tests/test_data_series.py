"""Stored funding and open interest laid onto 1m bars, and served by the exchange simulator.

The rule both keep: a value shows on the bar whose close is the moment the exchange states
it, never earlier (no look-ahead); open interest is carried forward only while fresh."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.core import SimulatedClock
from trade.data import open_store, synth_bars
from trade.data.series import (
    OPEN_INTEREST_STALE_MS,
    funding_column,
    open_interest_column,
    open_interest_stale_ms,
    with_series,
)
from trade.exchange_sim.server import ExchangeSimServer, load_bars

M = 60_000
SYM = "BTCUSDT"
START = 1_704_067_200_000


def _oi_table(ts: list[int], values: list[float]) -> pa.Table:
    return pa.table({"ts": pa.array(ts, pa.int64()), "open_interest": pa.array(values)})


@settings(max_examples=60, deadline=None)
@given(marks=st.lists(st.integers(0, 600), min_size=1, max_size=40, unique=True),
       cut=st.integers(10, 700))
def test_open_interest_on_bars_never_looks_ahead(tmp_path_factory: pytest.TempPathFactory,
                                                 marks: list[int], cut: int) -> None:
    store = open_store(tmp_path_factory.mktemp("s"))
    bars = synth_bars(SYM, 1, 3).slice(0, 720)
    stated = sorted(START + m * M for m in marks)  # moments the exchange states a value
    values = [1000.0 + i for i in range(len(stated))]
    store.write_open_interest(SYM, _oi_table(stated, values))
    col, n = open_interest_column(bars, store, SYM)
    closes = bars.column("ts").to_numpy() + M
    # carried for three of the series' intervals (its median spacing), at least 15 minutes
    spacing = [b - a for a, b in itertools.pairwise(stated)]
    stale = OPEN_INTEREST_STALE_MS if not spacing else \
        max(OPEN_INTEREST_STALE_MS, 3 * int(np.median(spacing)))
    assert open_interest_stale_ms(np.array(stated)) == stale
    for i, c in enumerate(closes):
        known = [v for t, v in zip(stated, values, strict=True) if t <= c]
        last_t = max((t for t in stated if t <= c), default=None)
        if last_t is None or c - last_t > stale:
            assert np.isnan(col[i])
        else:
            assert col[i] == known[-1]
    assert n == int(np.isfinite(col).sum())
    # truncating the future never changes a past value
    head, _ = open_interest_column(bars.slice(0, cut), store, SYM)
    np.testing.assert_array_equal(head, col[:cut])


def test_funding_sits_on_the_bar_closing_at_its_settlement(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    bars = synth_bars(SYM, 1, 3)
    settle = [START + 8 * 60 * M, START + 16 * 60 * M, START + 30 * 60 * M]  # last: later
    store.write_funding(SYM, pa.table({"ts": pa.array(settle, pa.int64()),
                                       "rate": pa.array([1e-4, -2e-4, 3e-4])}))
    assert funding_column(bars, open_store(tmp_path / "none"), SYM) is None  # nothing stored
    rate = funding_column(bars, store, SYM)
    assert rate is not None
    closes = bars.column("ts").to_numpy() + M
    assert rate[np.flatnonzero(closes == settle[0])[0]] == 1e-4
    assert rate[np.flatnonzero(closes == settle[1])[0]] == -2e-4
    assert int(np.isfinite(rate).sum()) == 2
    both = with_series(bars, store, SYM)
    assert both.column_names[-1] == "funding_rate"  # no open interest stored: no column


def test_the_simulator_serves_the_stores_open_interest(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    bars = synth_bars(SYM, 1, 5)
    store.write_bars(SYM, bars)
    marks = [START + k * 5 * M for k in range(1, 288)]
    store.write_open_interest(SYM, _oi_table(marks, [20_000.0 + k for k in range(1, 288)]))
    table = load_bars(tmp_path, SYM)
    assert "open_interest" in table.column_names
    server = ExchangeSimServer.from_store(tmp_path, SYM, clock=SimulatedClock(START + 86_400_000))
    with server:
        import requests

        server.sync()
        base = server.base_url
        got = requests.get(f"{base}/v5/market/open-interest", timeout=5, params={
            "category": "linear", "symbol": SYM, "intervalTime": "5min", "limit": 5}).json()
        rows = got["result"]["list"]
        assert rows, got
        for row in rows:  # each mark answers the latest value the store holds at it
            k = (int(row["timestamp"]) - START) // (5 * M)
            assert float(row["openInterest"]) == 20_000.0 + min(k, 287)
        tick = requests.get(f"{base}/v5/market/tickers", timeout=5, params={
            "category": "linear", "symbol": SYM}).json()["result"]["list"][0]
        assert float(tick["openInterest"]) > 20_000.0
