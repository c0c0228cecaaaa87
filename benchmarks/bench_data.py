"""Market-data store benchmarks: read 4 years of 1m bars into kernel arrays, resample, write.

Run: pytest benchmarks/bench_data.py --benchmark-only   (TRADE_BENCH_QUICK=1 shrinks sizes)
Rows per second are reported in each benchmark's extra_info.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from trade.data import Store, bar_arrays, open_store, resample, synth_bars

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
DAYS = 60 if QUICK else 4 * 365 + 1  # 4 years = 2 103 840 1m bars
START = 1_577_836_800_000  # 2020-01-01 00:00 UTC


@pytest.fixture(scope="module")
def bars() -> pa.Table:
    return synth_bars("BTCUSDT", DAYS, 42, "mixed", start_ms=START)


@pytest.fixture(scope="module")
def stored(bars: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    root = tmp_path_factory.mktemp("bench_store")
    store = open_store(root)
    store.write_bars("BTCUSDT", bars)
    single = root / "single.parquet"  # the same rows in one file, for the pyarrow baseline
    pq.write_table(store.read_bars("BTCUSDT"), single, compression="lz4", use_dictionary=False)
    return store, single


def _rate(benchmark: pytest.FixtureRequest, rows: int) -> None:
    stats = benchmark.stats.stats  # type: ignore[attr-defined]
    benchmark.extra_info["rows"] = rows  # type: ignore[attr-defined]
    benchmark.extra_info["rows_per_s_mean"] = round(rows / stats.mean)  # type: ignore[attr-defined]
    benchmark.extra_info["rows_per_s_best"] = round(rows / stats.min)  # type: ignore[attr-defined]


def test_read_store_into_kernel_arrays(benchmark, stored, bars) -> None:  # type: ignore[no-untyped-def]
    store, _ = stored
    arrays = benchmark(lambda: bar_arrays(store.read_bars("BTCUSDT")))
    assert len(arrays) == bars.num_rows
    _rate(benchmark, bars.num_rows)


def test_read_baseline_pyarrow_single_file(benchmark, stored, bars) -> None:  # type: ignore[no-untyped-def]
    _, single = stored
    table = benchmark(lambda: pq.read_table(single))
    assert table.num_rows == bars.num_rows
    _rate(benchmark, bars.num_rows)


def test_read_baseline_pyarrow_store_directory(benchmark, stored, bars) -> None:  # type: ignore[no-untyped-def]
    store, _ = stored
    table = benchmark(lambda: pq.read_table(store.bars_dir("BTCUSDT")))
    assert table.num_rows == bars.num_rows
    _rate(benchmark, bars.num_rows)


def test_resample_to_15m(benchmark, bars) -> None:  # type: ignore[no-untyped-def]
    out = benchmark(lambda: resample(bars, "15"))
    assert out.num_rows == bars.num_rows // 15
    _rate(benchmark, bars.num_rows)


def test_write_store(benchmark, bars, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def write() -> None:
        open_store(tmp_path / uuid.uuid4().hex).write_bars("BTCUSDT", bars)

    benchmark.pedantic(write, rounds=3, iterations=1)
    _rate(benchmark, bars.num_rows)


def test_synth_4_years(benchmark) -> None:  # type: ignore[no-untyped-def]
    out = benchmark.pedantic(lambda: synth_bars("BTCUSDT", DAYS, 1, "mixed"), rounds=2,
                             iterations=1)
    _rate(benchmark, out.num_rows)
