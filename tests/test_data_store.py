"""Store: exact round trips, idempotent writes, refusals, atomicity under faults, filesystems."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade.data import (
    BAR_SCHEMA,
    CorruptFileError,
    Instrument,
    NoDataError,
    RefusedWriteError,
    Store,
    bar_arrays,
    check,
    open_store,
    synth_bars,
)
from trade.data.store import _month_key

JAN_2024 = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MIN = 60_000


def mem_store() -> Store:
    return open_store(f"memory://test-{uuid.uuid4().hex}")


def bars(ts: np.ndarray, base: float = 100.0) -> pa.Table:
    n = len(ts)
    o = base + np.arange(n) * 0.25
    c = o + 0.5
    return pa.Table.from_arrays(
        [pa.array(np.asarray(ts, dtype=np.int64)), pa.array(o), pa.array(c + 1.0),
         pa.array(o - 1.0), pa.array(c), pa.array(np.full(n, 2.0)), pa.array(c * 2.0)],
        schema=BAR_SCHEMA,
    )


def three_months() -> pa.Table:
    # 2024-01-31 23:00 .. 2024-03-01 00:59: touches Jan, Feb and Mar
    start = JAN_2024 + 30 * 86_400_000 + 23 * 3_600_000
    ts = start + np.arange(0, 30 * 1440 + 120, 7) * MIN
    return bars(ts)


@st.composite
def bar_tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(1, 300))
    steps = draw(st.lists(st.integers(1, 5000), min_size=n, max_size=n))
    start = draw(st.integers(0, 400_000)) * 60 * MIN
    ts = start + np.cumsum(np.asarray(steps, dtype=np.int64)) * MIN
    price = np.asarray(draw(st.lists(st.floats(0.01, 1e6), min_size=n, max_size=n)))
    move = np.asarray(draw(st.lists(st.floats(-0.05, 0.05), min_size=n, max_size=n)))
    close = price * (1 + move)
    wick = np.asarray(draw(st.lists(st.floats(0, 0.02), min_size=n, max_size=n)))
    high = np.maximum(price, close) * (1 + wick)
    low = np.minimum(price, close) * (1 - wick)
    vol = np.asarray(draw(st.lists(st.floats(0, 1e9), min_size=n, max_size=n)))
    return pa.Table.from_arrays(
        [pa.array(ts), pa.array(price), pa.array(high), pa.array(low), pa.array(close),
         pa.array(vol), pa.array(vol * price)],
        schema=BAR_SCHEMA,
    )


@settings(max_examples=25, deadline=None)
@given(bar_tables())
def test_round_trip_is_exact_and_rewrite_changes_nothing(table: pa.Table) -> None:
    store = mem_store()
    first = store.write_bars("BTCUSDT", table)
    assert first.rows_added == table.num_rows
    back = store.read_bars("BTCUSDT")
    assert back.equals(table)
    again = store.write_bars("BTCUSDT", table)
    assert again.files_written == [] and again.rows_unchanged == table.num_rows
    assert store.read_bars("BTCUSDT").equals(table)


def test_layout_is_one_parquet_file_per_symbol_month(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    table = three_months()
    store.write_bars("BTCUSDT", table)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == [f"bars_1m/symbol=BTCUSDT/2024-{m}.parquet" for m in ("01", "02", "03")]
    jan = pq.read_table(tmp_path / "bars_1m/symbol=BTCUSDT/2024-01.parquet")
    assert set(_month_key(jan.column("ts").to_numpy())) == {"2024-01"}
    assert pa.concat_tables(
        pq.read_table(tmp_path / f) for f in files
    ).equals(table)


def test_read_is_zero_copy_friendly() -> None:
    store = mem_store()
    store.write_bars("BTCUSDT", three_months())
    table = store.read_bars("BTCUSDT")
    assert table.schema.equals(BAR_SCHEMA)
    assert all(table.column(c).num_chunks == 1 for c in table.column_names)
    arrays = bar_arrays(table)
    assert arrays.close.dtype == np.float64 and arrays.ts.dtype == np.int64
    # zero-copy views on Arrow memory are read-only, contiguous
    assert not arrays.close.flags.writeable and arrays.close.flags.c_contiguous
    assert np.array_equal(arrays.close, table.column("close").to_numpy())


def test_range_read_opens_only_needed_months(monkeypatch: pytest.MonkeyPatch) -> None:
    store = mem_store()
    table = three_months()
    store.write_bars("BTCUSDT", table)
    opened: list[str] = []
    original = Store._read_files

    def spy(self: Store, paths: list[str]) -> pa.Table:
        opened.extend(paths)
        return original(self, paths)

    monkeypatch.setattr(Store, "_read_files", spy)
    feb = JAN_2024 + 31 * 86_400_000
    mar = feb + 29 * 86_400_000
    got = store.read_bars("BTCUSDT", feb + 5 * MIN, feb + 3 * 86_400_000)
    assert [p.rsplit("/", 1)[1] for p in opened] == ["2024-02.parquet"]
    ts = table.column("ts").to_numpy()
    want = ts[(ts >= feb + 5 * MIN) & (ts < feb + 3 * 86_400_000)]
    assert np.array_equal(got.column("ts").to_numpy(), want)
    opened.clear()
    store.read_bars("BTCUSDT", mar - MIN, mar + MIN)  # straddles Feb/Mar
    assert [p.rsplit("/", 1)[1] for p in opened] == ["2024-02.parquet", "2024-03.parquet"]


def test_local_memory_and_explicit_filesystems_agree(tmp_path: Path) -> None:
    table = three_months()
    local = open_store(tmp_path / "a")
    uri = open_store(f"file://{tmp_path / 'b'}")
    sub = open_store("root", filesystem=pafs.SubTreeFileSystem(str(tmp_path / "c"),
                                                              pafs.LocalFileSystem()))
    mock = open_store("prefix/x", filesystem=pafs._MockFileSystem())
    mem = mem_store()
    for store in (local, uri, sub, mock, mem):
        store.write_bars("ETHUSDT", table)
        assert store.read_bars("ETHUSDT").equals(table)
        assert store.symbols() == ["ETHUSDT"]
    assert (tmp_path / "c/root/bars_1m/symbol=ETHUSDT/2024-02.parquet").is_file()


def test_same_memory_uri_sees_same_data() -> None:
    name = f"memory://shared-{uuid.uuid4().hex}/deep"
    open_store(name).write_bars("X", three_months())
    assert open_store(name).read_bars("X").num_rows == three_months().num_rows


def test_default_root_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADE_DATA_DIR", str(tmp_path / "envroot"))
    assert open_store().root == (tmp_path / "envroot").as_posix()
    monkeypatch.delenv("TRADE_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert open_store().root == (tmp_path / "data").as_posix()


def _bad(kind: str) -> tuple[pa.Table, int]:
    t = bars(JAN_2024 + np.arange(10) * MIN).to_pydict()
    i = 6
    if kind == "misaligned":
        t["ts"][i] += 1000
    elif kind == "backwards":
        t["ts"][i] = t["ts"][i - 2]
    elif kind == "high":
        t["high"][i] = max(t["open"][i], t["close"][i]) - 0.01
    elif kind == "low":
        t["low"][i] = min(t["open"][i], t["close"][i]) + 0.01
    elif kind == "volume":
        t["volume"][i] = -1.0
    elif kind == "nan":
        t["close"][i] = float("nan")
    elif kind == "null":
        t["open"][i] = None
    elif kind == "dup_conflict":
        t["ts"][i] = t["ts"][i - 1]
    return pa.table(t), i


@pytest.mark.parametrize(
    ("kind", "words"),
    [("misaligned", "minute boundary"), ("backwards", "backwards"), ("high", "high"),
     ("low", "low"), ("volume", "negative"), ("nan", "NaN"), ("null", "NaN/missing"),
     ("dup_conflict", "different values")],
)
def test_bad_rows_are_refused_and_nothing_is_stored(kind: str, words: str) -> None:
    store = mem_store()
    before = bars(JAN_2024 - 100 * MIN + np.arange(50) * MIN, base=5.0)
    store.write_bars("BTCUSDT", before)
    table, row = _bad(kind)
    with pytest.raises(RefusedWriteError) as info:
        store.write_bars("BTCUSDT", table)
    problems = info.value.report.problems
    assert info.value.report.refused
    assert [p.row for p in problems] == [row]
    assert words in problems[0].reason
    assert f"row {row}" in str(info.value)
    assert store.read_bars("BTCUSDT").equals(before)


def test_exact_duplicates_in_input_collapse() -> None:
    store = mem_store()
    t = bars(JAN_2024 + np.arange(5) * MIN)
    doubled = pa.concat_tables([t.slice(0, 3), t.slice(2, 3)])  # row 2 twice
    report = store.write_bars("BTCUSDT", doubled)
    assert report.duplicates_in_input == 1
    assert store.read_bars("BTCUSDT").equals(t)


def test_conflicting_reimport_refused_unless_overwrite() -> None:
    store = mem_store()
    t = bars(JAN_2024 + np.arange(100) * MIN)
    store.write_bars("BTCUSDT", t)
    changed = t.to_pydict()
    changed["close"][40] = changed["close"][40] + 0.1
    changed["high"][40] = changed["high"][40] + 0.1
    extra = bars(JAN_2024 + np.arange(100, 110) * MIN, base=200.0)
    new = pa.concat_tables([pa.table(changed).cast(BAR_SCHEMA), extra])
    with pytest.raises(RefusedWriteError) as info:
        store.write_bars("BTCUSDT", new)
    assert [c.ts for c in info.value.report.conflicts] == [JAN_2024 + 40 * MIN]
    assert store.read_bars("BTCUSDT").equals(t)  # the new rows were not stored either
    report = store.write_bars("BTCUSDT", new, overwrite=True)
    assert (report.rows_replaced, report.rows_added, report.rows_unchanged) == (1, 10, 99)
    assert store.read_bars("BTCUSDT").equals(new)


def test_failed_write_leaves_previous_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(tmp_path)
    old = three_months()
    store.write_bars("BTCUSDT", old)
    newer = bars(old.column("ts").to_numpy()[-1] + np.arange(1, 60_000) * MIN, base=900.0)
    import trade.data.store as store_mod

    calls = {"n": 0}
    real_write = store_mod.pq.write_table

    def dying_write(table: pa.Table, where: str, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second month file: write half of it, then die
            with kw["filesystem"].open_output_stream(where) as out:  # type: ignore[attr-defined]
                out.write(b"PAR1 half a file")
            raise OSError("disk died mid-write")
        real_write(table, where, **kw)

    monkeypatch.setattr(store_mod.pq, "write_table", dying_write)
    with pytest.raises(OSError, match="mid-write"):
        store.write_bars("BTCUSDT", newer)
    monkeypatch.undo()
    assert store.read_bars("BTCUSDT").equals(old)
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]  # cleaned up
    assert check(store, "BTCUSDT").corrupt_files == []


def test_killed_process_mid_write_leaves_previous_data(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    old = three_months()
    store.write_bars("BTCUSDT", old)
    script = textwrap.dedent(
        f"""
        import os, numpy as np, pyarrow as pa
        import trade.data.store as m
        from trade.data import open_store, synth_bars
        real = m.pq.write_table
        def die(table, where, **kw):
            with kw["filesystem"].open_output_stream(where) as out:
                out.write(b"PAR1" + b"x" * 1000)
            os._exit(9)  # killed mid-write: no cleanup, no exception handlers
        m.pq.write_table = die
        s = open_store({str(tmp_path)!r})
        t = synth_bars("BTCUSDT", 40, 1, start_ms={JAN_2024})
        s.write_bars("BTCUSDT", t, overwrite=True)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
    assert leftovers  # the dead process left its temp file ...
    assert store.read_bars("BTCUSDT").equals(old)  # ... which readers ignore
    assert store.month_files("BTCUSDT").keys() == {"2024-01", "2024-02", "2024-03"}


def test_corrupt_month_named_and_other_months_readable(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    table = three_months()
    store.write_bars("BTCUSDT", table)
    feb = tmp_path / "bars_1m/symbol=BTCUSDT/2024-02.parquet"
    feb.write_bytes(b"this is not parquet at all")
    with pytest.raises(CorruptFileError, match=r"2024-02\.parquet"):
        store.read_bars("BTCUSDT")
    mar = JAN_2024 + 60 * 86_400_000
    ts = table.column("ts").to_numpy()
    assert np.array_equal(store.read_bars("BTCUSDT", start_ms=mar).column("ts").to_numpy(),
                          ts[ts >= mar])
    assert store.read_bars("BTCUSDT", end_ms=JAN_2024 + 31 * 86_400_000).num_rows == int(
        (ts < JAN_2024 + 31 * 86_400_000).sum())
    assert check(store, "BTCUSDT").corrupt_files == [feb.as_posix()]
    # a write into the corrupt month is refused with the same clear error, nothing lost
    with pytest.raises(CorruptFileError, match=r"2024-02\.parquet"):
        store.write_bars("BTCUSDT", bars(np.array([JAN_2024 + 40 * 86_400_000])))


def test_unknown_symbol_and_bad_symbol() -> None:
    store = mem_store()
    with pytest.raises(NoDataError, match="NOPE"):
        store.read_bars("NOPE")
    with pytest.raises(ValueError, match="bad symbol"):
        store.write_bars("../etc", three_months())


def test_funding_round_trip_dedupe_and_conflict() -> None:
    store = mem_store()
    ts = JAN_2024 + np.arange(0, 30) * 8 * 3_600_000
    rate = np.linspace(-0.0005, 0.001, 30)
    shuffled = np.r_[15:30, 0:15]
    shuffled_table = pa.table({"ts": ts[shuffled], "rate": rate[shuffled]})
    assert store.write_funding("BTCUSDT", shuffled_table) == 30
    got = store.read_funding("BTCUSDT")
    assert np.array_equal(got.column("ts").to_numpy(), ts)
    assert np.array_equal(got.column("rate").to_numpy(), rate)
    assert store.write_funding("BTCUSDT", pa.table({"ts": ts[:5], "rate": rate[:5]})) == 0
    with pytest.raises(ValueError, match="different rate"):
        store.write_funding("BTCUSDT", pa.table({"ts": ts[:1], "rate": [0.5]}))
    assert store.write_funding("BTCUSDT", pa.table({"ts": ts[:1], "rate": [0.5]}),
                               overwrite=True) == 1
    assert store.read_funding("BTCUSDT").column("rate")[0].as_py() == 0.5
    assert store.read_funding("BTCUSDT", ts[3], ts[6]).num_rows == 3
    assert store.read_funding("OTHER").num_rows == 0


def test_instrument_round_trip_and_defaults() -> None:
    store = mem_store()
    default = Instrument()
    assert (default.symbol, default.tick_size, default.qty_step, default.min_notional) == (
        "BTCUSDT", 0.1, 0.001, 5.0)
    with pytest.raises(NoDataError):
        store.read_instrument("ETHUSDT")
    eth = Instrument(symbol="ETHUSDT", tick_size=0.01, qty_step=0.01, min_qty=0.01,
                     max_leverage=50, maintenance_margin_rate=0.01)
    store.write_instrument(eth)
    assert store.read_instrument("ETHUSDT") == eth
    assert store.read_instrument("XRPUSDT", default=default) is default
    with pytest.raises(ValueError):
        Instrument(tick_size=0)


def test_a_stored_instrument_is_read_strictly(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.write_instrument(Instrument(symbol="ETHUSDT", tick_size=0.01))
    path = tmp_path / "instruments" / "ETHUSDT.json"
    assert path.is_file()
    for text in ('{"symbol": "ETHUSDT", "tick": 0.1}', '{"symbol": "ETHUSDT", "tick_size": "x"}',
                 '[1, 2]', '{"symbol": "ETHUSDT", "tick_size": -1}'):
        path.write_text(text)
        with pytest.raises(CorruptFileError, match=r"ETHUSDT\.json"):  # a corrupt file, named
            store.read_instrument("ETHUSDT")


def test_provenance_records_and_is_idempotent() -> None:
    store = mem_store()
    store.write_bars("S", synth_bars("S", 1, 3))
    assert store.provenance("S") == {}
    entry = {"source": "f.csv", "bridged_1m": True, "seed": 3, "source_interval": "60"}
    store.record_provenance("S", entry)
    store.record_provenance("S", entry)
    prov = store.provenance("S")
    assert prov["bridged_1m"] is True and prov["seed"] == 3 and len(prov["imports"]) == 1


def test_write_timestamps_untouched_on_idempotent_rewrite(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    table = three_months()
    store.write_bars("BTCUSDT", table)
    files = sorted(tmp_path.rglob("*.parquet"))
    stamps = [os.stat(f).st_mtime_ns for f in files]
    report = store.write_bars("BTCUSDT", table.slice(100, 5000))
    assert report.files_written == [] and report.rows_unchanged == 5000
    assert [os.stat(f).st_mtime_ns for f in files] == stamps
