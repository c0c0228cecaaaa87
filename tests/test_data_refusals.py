"""Bad input to the importer is refused with the file and line named, and nothing is stored:
non-positive prices, timestamps out of range, binary or mislabelled files, a header missing
a column; symbols are upper-cased (one symbol, one folder)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trade.core.errors import InputError
from trade.data import import_file, normalize_symbol, open_store, read_bars_file

HEADER = "ts,open,high,low,close,volume\n"
GOOD = [(1.0, 2.0, 0.5, 1.5), (1.5, 2.5, 1.0, 2.0), (2.0, 2.2, 1.8, 2.1)]


def _row(minute: int, o: float, h: float, lo: float, c: float, day: str = "2024-01-01") -> str:
    return f"{day}T00:{minute:02d}:00Z,{o},{h},{lo},{c},3\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # tmp_path: each example its own file


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURE_OK)
@given(bad_at=st.integers(0, 2), price=st.sampled_from([0.0, -0.0, -1.0, -1e9]),
       which=st.sets(st.sampled_from(["open", "high", "low", "close"]), min_size=1))
def test_non_positive_prices_are_refused_naming_the_line(tmp_path: Path, bad_at: int,
                                                         price: float, which: set[str]) -> None:
    rows = [list(r) for r in GOOD]
    for name in which:
        rows[bad_at][("open", "high", "low", "close").index(name)] = price
    text = HEADER + "".join(_row(i, *r) for i, r in enumerate(rows))  # type: ignore[arg-type]
    path = _write(tmp_path / f"p{bad_at}.csv", text)
    with pytest.raises(InputError) as info:
        read_bars_file(path)
    msg = str(info.value)
    assert f"{path}: line {bad_at + 2}:" in msg and "not a positive price" in msg
    store = open_store(tmp_path / "store")
    with pytest.raises(InputError):
        import_file(store, path, "BTCUSDT")
    assert not (tmp_path / "store").exists()  # nothing stored, not even a folder


@pytest.mark.parametrize("day", ["2223-01-01", "2100-01-01", "9999-12-31"])
def test_timestamps_from_the_future_are_refused(tmp_path: Path, day: str) -> None:
    path = _write(tmp_path / "f.csv", HEADER + _row(0, 1, 2, 0.5, 1.5) +
                  _row(1, 1, 2, 0.5, 1.5, day=day))
    with pytest.raises(InputError, match=rf"f.csv: line 3: timestamp is in the future: '{day}"):
        read_bars_file(path)


def test_the_store_refuses_bad_rows_whoever_writes_them(tmp_path: Path) -> None:
    """The store's own check (every writer: import, synth, fetch, repair)."""
    import pyarrow as pa

    from trade.data import BAR_SCHEMA, RefusedWriteError

    store = open_store(tmp_path / "s")
    far = 7_983_878_400_000  # 2223-01-01
    bad = pa.Table.from_pylist([
        {"ts": 1_704_067_200_000, "open": 0.0, "high": 0.0, "low": 0.0, "close": 0.0,
         "volume": 0.0, "turnover": 0.0},
        {"ts": far, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0,
         "turnover": 0.0}], schema=BAR_SCHEMA)
    with pytest.raises(RefusedWriteError) as info:
        store.write_bars("BTCUSDT", bad)
    reasons = [p.reason for p in info.value.report.problems]
    assert "not a positive price" in reasons[0]
    assert "2223-01-01" in reasons[1] and "outside" in reasons[1]
    assert not store.month_files("BTCUSDT")


@settings(max_examples=30, deadline=None, suppress_health_check=FIXTURE_OK)
@given(blob=st.binary(min_size=1, max_size=400),
       suffix=st.sampled_from([".csv", ".csv.gz", ".parquet"]))
def test_binary_files_fail_with_one_line_naming_the_file(tmp_path: Path, blob: bytes,
                                                         suffix: str) -> None:
    path = tmp_path / f"blob{suffix}"
    data = b"\x00\xff" + blob  # never valid UTF-8 text, never gzip or Parquet magic
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        read_bars_file(path)
    assert str(info.value).startswith(f"{path}:")
    assert "\n" not in str(info.value)


def test_gzip_of_binary_and_plain_text_named_gz(tmp_path: Path) -> None:
    gz = tmp_path / "b.csv.gz"
    gz.write_bytes(gzip.compress(b"\x00\x01\x02\xff" * 50))
    with pytest.raises(InputError, match=r"b.csv.gz: not a text CSV file"):
        read_bars_file(gz)
    fake = tmp_path / "t.csv.gz"
    fake.write_text(HEADER + _row(0, 1, 2, 0.5, 1.5))
    with pytest.raises(InputError, match=r"t.csv.gz: not a text CSV file \(gzip\)"):
        read_bars_file(fake)


@pytest.mark.parametrize("missing", ["open", "high", "low", "close"])
def test_a_header_missing_a_price_column_names_it(tmp_path: Path, missing: str) -> None:
    cols = [c for c in ("ts", "open", "high", "low", "close", "volume") if c != missing]
    values = {"ts": "2024-01-01T00:00:00Z", "open": "1", "high": "2", "low": "0.5",
              "close": "1.5", "volume": "3"}
    path = _write(tmp_path / "m.csv", ",".join(cols) + "\n" +
                  ",".join(values[c] for c in cols) + "\n")
    with pytest.raises(InputError, match=rf"m.csv: no '{missing}' column among"):
        read_bars_file(path)


@given(st.text(alphabet="abcdefxyzABC0123456789_-.", min_size=1, max_size=20).filter(
    lambda s: s[0].isalnum()))
def test_symbols_are_upper_cased(sym: str) -> None:
    assert normalize_symbol(sym) == sym.upper()
    assert normalize_symbol(normalize_symbol(sym)) == sym.upper()


def test_a_lowercase_symbol_is_the_upper_case_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.csv", HEADER + _row(0, 1, 2, 0.5, 1.5))
    store = open_store(tmp_path / "s")
    import_file(store, path, "btcusdt")
    assert store.symbols() == ["BTCUSDT"]
    assert store.read_bars("btcusdt").num_rows == 1
    assert store.provenance("BTCUSDT")["symbol"] == "BTCUSDT"
    with pytest.raises(InputError, match="bad symbol"):
        normalize_symbol("btc/usdt")
