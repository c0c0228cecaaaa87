"""`check` finds gaps and suspicious bars; `repair` marks gaps offline or refetches them."""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa

from trade.data import Store, check, open_store, repair, synth_bars

MIN = 60_000
START = 1_704_067_200_000


def store_with_holes() -> tuple[Store, pa.Table, list[tuple[int, int]]]:
    full = synth_bars("BTCUSDT", 3, 9, start_ms=START)
    holes = [(100, 101), (500, 530), (1439, 1441), (3000, 3001)]  # [a, b) minute indexes
    keep = np.ones(full.num_rows, dtype=bool)
    for a, b in holes:
        keep[a:b] = False
    store = open_store(f"memory://quality-{uuid.uuid4().hex}")
    store.write_bars("BTCUSDT", full.filter(pa.array(keep)))
    return store, full, holes


def test_gaps_are_merged_ranges() -> None:
    store, _full, holes = store_with_holes()
    report = check(store, "BTCUSDT")
    assert [(g.start_ms, g.end_ms) for g in report.gaps] == [
        (START + a * MIN, START + b * MIN) for a, b in holes
    ]
    assert report.missing_minutes == sum(b - a for a, b in holes)


def test_gap_across_month_boundary_is_found() -> None:
    store = open_store(f"memory://quality-{uuid.uuid4().hex}")
    jan31 = START + 30 * 86_400_000 + 23 * 3_600_000
    t = synth_bars("X", 1, 1, start_ms=jan31)
    keep = np.ones(t.num_rows, dtype=bool)
    keep[50:70] = False  # 23:50 Jan 31 .. 00:09 Feb 1
    store.write_bars("X", t.filter(pa.array(keep)))
    gaps = check(store, "X").gaps
    assert [(g.start_ms, g.missing) for g in gaps] == [(jan31 + 50 * MIN, 20)]


def test_suspicious_zero_range_runs_and_jumps() -> None:
    t = synth_bars("BTCUSDT", 1, 4, start_ms=START).to_pydict()
    for i in range(200, 210):  # a stale feed: ten flat bars
        p = t["close"][199]
        t["open"][i] = t["high"][i] = t["low"][i] = t["close"][i] = p
    for col in ("open", "high", "low", "close"):  # a 40 % jump at bar 700
        t[col][700:] = [x * 1.4 for x in t[col][700:]]
    store = open_store(f"memory://quality-{uuid.uuid4().hex}")
    store.write_bars("BTCUSDT", pa.table(t))
    found = {(s.kind, s.ts) for s in check(store, "BTCUSDT").suspicious}
    assert found == {("zero_range_run", START + 200 * MIN), ("jump", START + 700 * MIN)}
    assert check(store, "BTCUSDT", zero_run=11).suspicious[0].kind == "jump"


def test_offline_repair_marks_gaps_and_invents_nothing() -> None:
    store, _full, holes = store_with_holes()
    before = store.read_bars("BTCUSDT")
    report = repair(store, "BTCUSDT")
    assert (report.gaps_found, report.gaps_filled, report.rows_fetched) == (len(holes), 0, 0)
    assert store.read_bars("BTCUSDT").equals(before)
    gaps = store.read_gaps("BTCUSDT").to_pydict()
    assert gaps["start_ms"] == [START + a * MIN for a, _ in holes]
    assert gaps["missing"] == [b - a for a, b in holes]
    assert set(gaps["status"]) == {"unfilled"}


def test_repair_with_fetcher_fills_gaps() -> None:
    store, full, holes = store_with_holes()
    calls: list[tuple[int, int]] = []

    def fetch(symbol: str, start_ms: int, end_ms: int) -> pa.Table:
        calls.append((start_ms, end_ms))
        if start_ms == START + 3000 * MIN:
            return full.slice(0, 0)  # the exchange has nothing there
        ts = full.column("ts").to_numpy()
        return full.filter(pa.array((ts >= start_ms - 5 * MIN) & (ts < end_ms + 5 * MIN)))

    report = repair(store, "BTCUSDT", fetch=fetch)
    assert calls == [(START + a * MIN, START + b * MIN) for a, b in holes]
    assert report.gaps_filled == 3 and report.gaps_unfilled == 1
    assert report.rows_fetched == sum(b - a for a, b in holes[:3])
    assert [(g.start_ms, g.missing) for g in check(store, "BTCUSDT").gaps] == [
        (START + 3000 * MIN, 1)]
    assert store.read_gaps("BTCUSDT").column("status").to_pylist() == [
        "filled", "filled", "filled", "unfilled"]
    stored = store.read_bars("BTCUSDT")
    ts = full.column("ts").to_numpy()
    assert stored.equals(full.filter(pa.array(ts != START + 3000 * MIN)))
