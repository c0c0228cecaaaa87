"""`trade data fetch`: the history download, end to end against the exchange simulator.

The simulator replays three days of synthetic 1m bars with three real gaps (one inside a page,
one across a page boundary, one across a day/chunk boundary), per-settlement funding rates and
non-default instrument rules. pybit, unmodified, talks to it through `make_http`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from pybit.exceptions import FailedRequestError, InvalidRequestError

from trade.core import SimulatedClock
from trade.data import Store, open_store, synth_bars
from trade.data.bybit_source import BybitSource
from trade.data.fetch import (
    Checkpoint,
    FetchInterrupted,
    FetchProgress,
    HistoryFetcher,
    LimitStatus,
    RetryPolicy,
    SourceError,
    TransientSourceError,
    merge_intervals,
    parse_kline_rows,
)
from trade.exchange_sim import ExchangeSimServer, FaultConfig, make_http
from trade.exchange_sim.venue import Instrument as VenueInstrument
from trade.sim import SimConfig

SYM = "BTCUSDT"
M = 60_000
H = 60 * M
DAY = 24 * H
START = 1_706_572_800_000  # 2024-01-30 00:00 UTC: the data crosses into February
END = START + 3 * DAY
GAPS = [
    (START + DAY + 10 * H, START + DAY + 10 * H + 30 * M),  # inside a page
    (START + DAY + 16 * H + 30 * M, START + DAY + 16 * H + 50 * M),  # across a page edge
    (START + 2 * DAY - 10 * M, START + 2 * DAY + 10 * M),  # across a day (chunk) edge
]
COLS = ["ts", "open", "high", "low", "close", "volume", "turnover"]


def _exchange_bars() -> pa.Table:
    full = synth_bars(SYM, 3, 11, start_ms=START)
    ts = full.column("ts").to_numpy()
    keep = np.ones(len(ts), dtype=bool)
    for a, b in GAPS:
        keep &= ~((ts >= a) & (ts < b))
    return full.filter(pa.array(keep))


EXCHANGE_BARS = _exchange_bars()


def _oi_at(mark: np.ndarray) -> np.ndarray:
    """The exchange's open interest stated at each 5-minute mark (a made-up, varying series)."""
    return np.asarray(50_000.0 + ((mark // (5 * M)) % 97) * 12.5, dtype=np.float64)


def _expected_open_interest(lo: int, hi: int) -> dict[int, float]:
    closes = EXCHANGE_BARS.column("ts").to_numpy() + M
    marks = closes[(closes % (5 * M) == 0) & (closes >= lo) & (closes < hi)]
    return dict(zip(marks.tolist(), _oi_at(marks).tolist(), strict=True))


@pytest.fixture(scope="module")
def sim() -> Iterator[ExchangeSimServer]:
    rng = np.random.default_rng(5)
    table = EXCHANGE_BARS.append_column(
        "funding_rate", pa.array(rng.normal(1e-4, 2e-4, EXCHANGE_BARS.num_rows)))
    closes = EXCHANGE_BARS.column("ts").to_numpy() + M
    table = table.append_column("open_interest", pa.array(_oi_at(closes - closes % (5 * M))))
    server = ExchangeSimServer(
        table, symbol=SYM, clock=SimulatedClock(END),
        sim_config=SimConfig(symbol=SYM, funding_rate=1e-4),
        instrument=VenueInstrument(symbol=SYM, base_coin="BTC", tick_size=0.5, qty_step=0.01,
                                   min_qty=0.02, min_notional=10.0, max_leverage=50.0),
    )
    server.start()
    try:
        server.sync()
        assert server.fed == EXCHANGE_BARS.num_rows  # every bar closed and visible
        yield server
    finally:
        server.stop()


def _source(sim: ExchangeSimServer, symbol: str = SYM, timeout_s: float = 5.0) -> BybitSource:
    return BybitSource(make_http(sim.base_url), symbol, timeout_s=timeout_s)


def _store() -> Store:
    return open_store(f"memory://fetch-{uuid.uuid4().hex}")


def _rows(table: pa.Table) -> dict[str, list[Any]]:
    return table.select(COLS).to_pydict()


def _expected(lo: int = START, hi: int = END) -> dict[str, list[Any]]:
    ts = EXCHANGE_BARS.column("ts").to_numpy()
    return _rows(EXCHANGE_BARS.filter(pa.array((ts >= lo) & (ts < hi))))


class Crash(Exception):
    """Injected: the process dies mid-download (not a retryable error)."""


class Recording:
    """A KlineSource wrapper: records every kline window asked for; optionally crashes on the
    n-th kline request; remembers the kinds of transient errors seen."""

    def __init__(self, inner: BybitSource, crash_at: int | None = None) -> None:
        self.inner = inner
        self.crash_at = crash_at
        self.kline_calls: list[tuple[int, int]] = []
        self.transient: list[str] = []
        self.calls = 0

    @property
    def symbol(self) -> str:
        return self.inner.symbol

    @property
    def name(self) -> str:
        return self.inner.name

    def limit_status(self) -> LimitStatus | None:
        return self.inner.limit_status()

    def _run(self, fn: Any, *args: Any) -> Any:
        self.calls += 1
        try:
            return fn(*args)
        except TransientSourceError as exc:
            self.transient.append(exc.kind)
            raise

    def server_time_ms(self) -> int:
        return int(self._run(self.inner.server_time_ms))

    def get_kline(self, start_ms: int, end_ms: int, limit: int) -> list[list[str]]:
        self.kline_calls.append((start_ms, end_ms))
        if self.crash_at is not None and len(self.kline_calls) == self.crash_at:
            raise Crash(f"killed at kline request {self.crash_at}")
        return list(self._run(self.inner.get_kline, start_ms, end_ms, limit))

    def get_funding_history(self, start_ms: int, end_ms: int, limit: int) -> list[dict[str, str]]:
        return list(self._run(self.inner.get_funding_history, start_ms, end_ms, limit))

    def get_open_interest(self, start_ms: int, end_ms: int, limit: int) -> list[dict[str, str]]:
        return list(self._run(self.inner.get_open_interest, start_ms, end_ms, limit))

    def get_instrument(self) -> dict[str, Any]:
        return dict(self._run(self.inner.get_instrument))


class RecordingClock:
    """Real `now`, but waits return at once and are recorded (so tests never sleep)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        self.waits.append(timeout_s)
        return event.is_set()

    def monotonic(self) -> float:
        return time.monotonic()


def _raw_funding(sim: ExchangeSimServer, lo: int, hi: int) -> list[tuple[int, float]]:
    """The oracle: one unpaginated pybit request for every settlement in [lo, hi)."""
    answer = make_http(sim.base_url).get_funding_rate_history(
        category="linear", symbol=SYM, startTime=lo, endTime=hi - 1, limit=200)
    rows = answer["result"]["list"]
    assert 0 < len(rows) < 200
    return sorted((int(r["fundingRateTimestamp"]), float(r["fundingRate"])) for r in rows)


def _minutes(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Kline request windows (inclusive end) as merged [a, b) minute ranges."""
    return merge_intervals([(a, b + 1) for a, b in windows])


def _overlap(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for a, b in x:
        for c, d in y:
            if max(a, c) < min(b, d):
                out.append((max(a, c), min(b, d)))
    return merge_intervals(out)


# ---------------------------------------------------------------------------------- parsing
def test_parse_kline_rows_handles_bybit_order_strings_and_window() -> None:
    rows = [  # newest first, strings, one row outside the window, one exact repeat
        ["1706572980000", "101", "102", "100", "101.5", "3", "304.5"],
        ["1706572920000", "100.5", "101", "100", "101", "2", "201"],
        ["1706572920000", "100.5", "101", "100", "101", "2", "201"],
        ["1706572860000", "100", "100.5", "99.5", "100.5", "1", "100"],
        ["1706572800000", "99", "100", "98", "100", "1", "99"],
    ]
    table = parse_kline_rows(rows, START + M, START + 4 * M)
    assert table.column("ts").to_pylist() == [START + M, START + 2 * M, START + 3 * M]
    assert table.column("close").to_pylist() == [100.5, 101.0, 101.5]
    assert table.column("turnover").to_pylist() == [100.0, 201.0, 304.5]

    conflict = [rows[1], ["1706572920000", "100.5", "101", "100", "100.9", "2", "201"]]
    with pytest.raises(SourceError, match="1706572920000 appears twice"):
        parse_kline_rows(conflict, START, END)
    with pytest.raises(SourceError, match="kline row 1: expected 7 fields"):
        parse_kline_rows([rows[0], ["1706572920000", "1"]], START, END)
    with pytest.raises(SourceError, match="kline row 0 field 3"):
        parse_kline_rows([["1706572920000", "1", "2", "x", "1", "1", "1"]], START, END)
    with pytest.raises(SourceError, match="high"):
        parse_kline_rows([["1706572920000", "100", "99", "98", "100", "1", "1"]], START, END)


class _StubSession:
    """Stands in for pybit's HTTP: raises what pybit raises for a given failure."""

    recv_window = 5000

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def get_kline(self, **params: Any) -> Any:
        raise self.exc


def _pybit_error(cls: Any, code: int, headers: dict[str, str] | None = None) -> Any:
    return cls(request="GET /v5/market/kline", message="boom", status_code=code,
               time="00:00:00", resp_headers=headers)


@pytest.mark.parametrize(("exc", "kind", "reset"), [
    (_pybit_error(InvalidRequestError, 10006, {"X-Bapi-Limit-Reset-Timestamp": "123456"}),
     "rate_limit", 123456),
    (_pybit_error(InvalidRequestError, 10002), "timestamp", None),
    (_pybit_error(InvalidRequestError, 10016), "server_busy", None),
    (_pybit_error(FailedRequestError, 502), "http_5xx", None),
    (_pybit_error(FailedRequestError, 403), "http_403", None),
    (requests.ReadTimeout("slow"), "timeout", None),
    (requests.ConnectionError("reset"), "network", None),
])
def test_bybit_source_classifies_transient_errors(exc: BaseException, kind: str,
                                                  reset: int | None) -> None:
    session = _StubSession(exc)
    source = BybitSource(session, SYM)
    assert session.retry_codes == set() and session.max_retries == 1  # type: ignore[attr-defined]
    with pytest.raises(TransientSourceError) as info:
        source.get_kline(START, START + M, 1000)
    assert info.value.kind == kind and info.value.reset_ms == reset
    if kind == "timestamp":
        assert session.recv_window == 7500  # pybit's remedy, kept


@pytest.mark.parametrize("exc", [_pybit_error(InvalidRequestError, 10001),
                                 _pybit_error(FailedRequestError, 404)])
def test_bybit_source_permanent_errors(exc: BaseException) -> None:
    with pytest.raises(SourceError) as info:
        BybitSource(_StubSession(exc), SYM).get_kline(START, START + M, 1000)
    assert not isinstance(info.value, TransientSourceError)


# ------------------------------------------------------------------------------ end to end
def test_full_fetch_equals_the_exchange_and_records_real_gaps(sim: ExchangeSimServer) -> None:
    store = _store()
    progress: list[tuple[str, int, int]] = []
    fetcher = HistoryFetcher(
        store, Recording(_source(sim)),
        on_progress=lambda p: progress.append((p.phase, p.done_minutes, p.total_minutes)))
    fetcher.funding_page_limit = 2  # walk the funding history in many pages
    lo, hi = START - 2 * H, END + 2 * H  # starts before the listing, ends after the last bar
    res = fetcher.fetch(lo, hi)

    assert _rows(store.read_bars(SYM)) == _expected()
    assert res.rows_written == EXCHANGE_BARS.num_rows
    # pages: [lo, START), 3 days x (1000 + 440 minutes), [END, hi)
    assert res.pages == 1 + 3 * 2 + 1
    assert res.gaps == GAPS  # before the first bar is not a gap; the tail is unconfirmed
    assert res.unconfirmed_tail == (END, hi)
    gaps = store.read_gaps(SYM).to_pydict()
    assert list(zip(gaps["start_ms"], gaps["end_ms"], strict=True)) == GAPS
    assert gaps["status"] == ["exchange"] * 3
    assert gaps["missing"] == [(b - a) // M for a, b in GAPS]

    funding = store.read_funding(SYM).to_pydict()
    assert list(zip(funding["ts"], funding["rate"], strict=True)) == _raw_funding(sim, lo, hi)
    assert res.funding_pages >= 5
    oi = store.read_open_interest(SYM).to_pydict()
    assert dict(zip(oi["ts"], oi["open_interest"], strict=True)) == \
        _expected_open_interest(lo, hi)  # every 5-minute mark the exchange states, none else
    assert res.open_interest_pages >= 4  # 200 a page
    inst = store.read_instrument(SYM)
    assert (inst.tick_size, inst.qty_step, inst.min_qty, inst.min_notional,
            inst.max_leverage) == (0.5, 0.01, 0.02, 10.0, 50.0)
    assert sim.base_url in store.provenance(SYM)["source"]
    assert progress[-1][0] == "done"
    kline_done = [d for phase, d, _ in progress if phase == "klines"]
    assert kline_done == sorted(kline_done) and kline_done[-1] == (hi - lo) // M

    # a second run asks only for the unconfirmed tail: stored and absent minutes are known
    again = Recording(_source(sim))
    res2 = HistoryFetcher(store, again).fetch(lo, hi, funding=False, instrument=False)
    assert again.kline_calls == [(END, hi - 1)]
    assert res2.rows_written == 0 and res2.minutes_already_stored == EXCHANGE_BARS.num_rows
    assert _rows(store.read_bars(SYM)) == _expected()


@settings(max_examples=14, deadline=None)
@given(kill_at=st.integers(1, 6), use_stop_event=st.booleans())
def test_interrupted_fetch_resumes_without_gaps_duplicates_or_refetching(
    sim: ExchangeSimServer, kill_at: int, use_stop_event: bool
) -> None:
    store = _store()
    first = Recording(_source(sim), crash_at=None if use_stop_event else kill_at)
    stop = threading.Event()

    def on_progress(p: FetchProgress) -> None:
        if use_stop_event and p.pages >= kill_at - 1 and p.pages > 0:
            stop.set()  # e.g. Ctrl-C handled by the caller: stop before the next request

    fetcher = HistoryFetcher(store, first, stop=stop, on_progress=on_progress)
    if use_stop_event and kill_at == 1:
        stop.set()
    with pytest.raises(FetchInterrupted if use_stop_event else Crash):
        fetcher.fetch_klines(START, END)
    # pages come two per day: the interrupted request belongs to day (kill_at - 1) // 2
    day = (kill_at - 1) // 2
    cut = START + day * DAY
    stored = store.read_bars(SYM).num_rows if store.month_files(SYM) else 0
    assert stored == len(_expected(START, cut)["ts"])  # whole days only, never half a chunk
    if stored:
        assert _rows(store.read_bars(SYM)) == _expected(START, cut)

    second = Recording(_source(sim))
    res = HistoryFetcher(store, second).fetch_klines(START, END)
    final = store.read_bars(SYM)
    ts = final.column("ts").to_numpy()
    assert np.all(np.diff(ts) > 0)  # no duplicates
    assert _rows(final) == _expected()  # no gaps beyond the exchange's own
    assert res.gaps == GAPS and res.unconfirmed_tail is None
    # nothing outside the interrupted day is asked for twice
    twice = _overlap(_minutes(first.kline_calls), _minutes(second.kline_calls))
    assert all(cut <= a and b <= cut + DAY for a, b in twice), twice
    assert _minutes(second.kline_calls) == [(cut, END)]
    ckpt = Checkpoint(store, SYM).load()
    assert ckpt.in_progress is None and ckpt.completed == [(START, END)]


def test_piecewise_fetches_confirm_gaps_without_marking_stored_minutes(
    sim: ExchangeSimServer,
) -> None:
    store = _store()
    gap_a, gap_b = GAPS[2]
    # 1: up to inside the day-edge gap (its tail stays unconfirmed); 2: from inside it on
    r1 = HistoryFetcher(store, _source(sim)).fetch_klines(START, gap_a + 5 * M)
    assert r1.unconfirmed_tail == (gap_a, gap_a + 5 * M)
    r2 = HistoryFetcher(store, _source(sim)).fetch_klines(gap_b - 5 * M, END - H)
    assert r2.unconfirmed_tail is None
    # 3: the whole range asks only for the unknown minutes, in two separate pieces
    third = Recording(_source(sim))
    res = HistoryFetcher(store, third).fetch_klines(START, END)
    assert third.kline_calls == [(gap_a, START + 2 * DAY - 1),
                                 (START + 2 * DAY, gap_b - 5 * M - 1), (END - H, END - 1)]
    assert res.gaps == GAPS
    assert Checkpoint(store, SYM).load().absent == GAPS  # no stored minute is marked absent
    assert _rows(store.read_bars(SYM)) == _expected()


def test_faults_5xx_timeouts_and_rate_limits_still_complete(sim: ExchangeSimServer) -> None:
    sim.configure_faults(FaultConfig(
        seed=3, rest_error_rate=0.15, rest_timeout_rate=0.08, rest_timeout_s=0.5,
        rest_rate_limit_rate=0.15))
    try:
        store = _store()
        source = Recording(_source(sim, timeout_s=0.25))
        clock = RecordingClock()
        policy = RetryPolicy(max_attempts=15, initial_s=0.01, max_backoff_s=0.05, jitter_s=0.01)
        fetcher = HistoryFetcher(store, source, clock=clock, policy=policy)
        fetcher.funding_page_limit = 2
        res = fetcher.fetch(START, END)
    finally:
        sim.configure_faults(FaultConfig())
    assert _rows(store.read_bars(SYM)) == _expected()
    assert res.gaps == GAPS
    funding = store.read_funding(SYM).to_pydict()
    assert list(zip(funding["ts"], funding["rate"], strict=True)) == _raw_funding(sim, START, END)
    assert store.read_instrument(SYM).tick_size == 0.5
    kinds = set(source.transient)
    assert {"http_5xx", "rate_limit", "timeout"} <= kinds, source.transient
    assert res.retries == len(source.transient) == len(clock.waits)
    # a rate-limit answer waits until X-Bapi-Limit-Reset-Timestamp (the simulator: ~1 s
    # ahead); every other failure backs off exponentially (here at most 0.05 s + jitter)
    long_waits = [w for w in clock.waits if w > 0.3]
    assert len(long_waits) == source.transient.count("rate_limit")
    assert all(0.3 < w <= 1.2 for w in long_waits)
    assert all(w <= 0.06 + 1e-9 for w in clock.waits if w <= 0.3)


def test_permanent_errors_are_not_retried(sim: ExchangeSimServer) -> None:
    source = Recording(_source(sim, symbol="ETHUSDT"))  # the simulator lists BTCUSDT only
    fetcher = HistoryFetcher(_store(), source, clock=RecordingClock())
    with pytest.raises(SourceError, match="retCode 10001"):
        fetcher.fetch_klines(START, END)
    assert source.kline_calls == [(START, START + 1000 * M - 1)]  # one try, no retry
    with pytest.raises(SourceError, match="ETHUSDT is not a linear symbol"):
        fetcher.fetch_instrument()
    assert fetcher.retries == 0


def test_waits_for_the_rate_limit_window_when_no_requests_are_left() -> None:
    clock = RecordingClock()

    class Exhausted:
        symbol = SYM
        name = "fake"

        def __init__(self) -> None:
            self.reset = clock.now_ms() + 700

        def limit_status(self) -> LimitStatus:
            return LimitStatus(limit=10, remaining=0, reset_ms=self.reset)

        def server_time_ms(self) -> int:
            return END + H

        def get_kline(self, start_ms: int, end_ms: int, limit: int) -> list[list[str]]:
            return []

    fetcher = HistoryFetcher(_store(), Exhausted(), clock=clock)  # type: ignore[arg-type]
    res = fetcher.fetch_klines(START, START + 10 * M)
    assert res.rows_written == 0 and res.unconfirmed_tail == (START, START + 10 * M)
    # two requests (server time, one kline page), each preceded by a wait for the reset
    assert len(clock.waits) == 2 and all(0.5 < w <= 0.8 for w in clock.waits), clock.waits


# ------------------------------------------------------------------------------------ CLI
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "trade", "data", "fetch", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_fetch_with_endpoint_then_resume(sim: ExchangeSimServer, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "store")
    first = _cli(SYM, "--start", "2024-01-30", "--end", "2024-01-31T12:00",
                 "--endpoint", sim.base_url, "--data-dir", data_dir, "--no-progress")
    assert first.returncode == 0, first.stderr
    part = START + DAY + 12 * H
    assert f"{len(_expected(START, part)['ts'])} 1m bars written" in first.stdout
    assert _rows(open_store(data_dir).read_bars(SYM)) == _expected(START, part)

    second = _cli(SYM, "--start", str(START), "--end", str(END), "--endpoint", sim.base_url,
                  "--data-dir", data_dir)
    assert second.returncode == 0, second.stderr
    store = open_store(data_dir)
    assert _rows(store.read_bars(SYM)) == _expected()
    already = len(_expected(START, part)["ts"])
    assert f"{already} minutes already stored" in second.stdout
    assert "exchange gaps: 3 (70 minutes)" in second.stdout
    assert store.read_funding(SYM).num_rows == len(_raw_funding(sim, START, END))
    assert store.read_instrument(SYM).max_leverage == 50.0

    bad = _cli(SYM, "--start", "2024-01-30", "--endpoint", sim.base_url, "--testnet",
               "--data-dir", data_dir)
    assert bad.returncode == 2 and "exclude each other" in bad.stderr


def test_cli_killed_mid_download_resumes(sim: ExchangeSimServer, tmp_path: Path) -> None:
    """SIGKILL the CLI after its first day is stored (faults slow it down), then run it again."""
    data_dir = tmp_path / "store"
    args = [SYM, "--start", str(START), "--end", str(END), "--endpoint", sim.base_url,
            "--data-dir", str(data_dir), "--no-progress", "--no-funding", "--max-attempts", "30"]
    sim.configure_faults(FaultConfig(seed=1, rest_paths=("/v5/market/kline",),
                                     rest_error_rate=0.6))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "trade", "data", "fetch", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not list(data_dir.glob("bars_1m/*/*.parquet")):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no chunk stored within 60 s"
                time.sleep(0.02)
            assert proc.poll() is None  # still downloading
            proc.kill()
        finally:
            proc.wait(timeout=30)
            proc.communicate()
    finally:
        sim.configure_faults(FaultConfig())
    partial = open_store(data_dir).read_bars(SYM)
    n_partial = partial.num_rows
    assert 0 < n_partial < EXCHANGE_BARS.num_rows
    assert _rows(partial) == _expected(START, int(partial.column("ts")[-1].as_py()) + M)

    again = _cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"{n_partial} minutes already stored" in again.stdout
    final = open_store(data_dir).read_bars(SYM)
    assert _rows(final) == _expected()


def test_cli_repair_refetches_lost_minutes_and_keeps_exchange_gaps(
    sim: ExchangeSimServer, tmp_path: Path
) -> None:
    """A store that lost minutes gets them back from the exchange; minutes the exchange never
    had stay marked as exchange gaps, and nothing is invented."""
    data_dir = str(tmp_path / "store")
    got = _cli(SYM, "--start", str(START), "--end", str(END), "--endpoint", sim.base_url,
               "--data-dir", data_dir, "--no-progress", "--no-funding")
    assert got.returncode == 0, got.stderr
    store = open_store(data_dir)
    full = store.read_bars(SYM)
    ts = np.asarray(full.column("ts").to_numpy(), dtype=np.int64)
    lost_lo, lost_hi = START + 5 * H, START + 5 * H + 45 * M  # 45 minutes the store loses
    gaps_before = store.read_gaps(SYM)  # the download recorded the exchange's own gaps
    assert set(gaps_before.column("status").to_pylist()) == {"exchange"}
    store.delete_symbol(SYM)  # the store loses 45 minutes (the gap table is kept aside)
    store.write_bars(SYM, full.filter(pa.array((ts < lost_lo) | (ts >= lost_hi))))
    store.write_gaps(SYM, gaps_before)

    offline = subprocess.run([sys.executable, "-m", "trade", "data", "repair", SYM,
                              "--data-dir", data_dir], capture_output=True, text=True,
                             timeout=120)
    assert offline.returncode == 0, offline.stderr
    assert "0 bars fetched" in offline.stdout, offline.stdout
    assert "3 missing at the exchange, 1 left as marked gaps" in offline.stdout
    assert store.read_bars(SYM, lost_lo, lost_hi).num_rows == 0  # offline invents nothing

    online = subprocess.run([sys.executable, "-m", "trade", "data", "repair", SYM,
                             "--endpoint", sim.base_url, "--data-dir", data_dir],
                            capture_output=True, text=True, timeout=120)
    assert online.returncode == 0, online.stderr
    assert "1 gaps filled" in online.stdout, online.stdout
    assert _rows(store.read_bars(SYM)) == _expected()
    table = store.read_gaps(SYM).to_pylist()
    statuses = {(r["start_ms"], r["end_ms"]): r["status"] for r in table}
    assert statuses[(lost_lo, lost_hi)] == "filled"
    # the exchange's own gaps are recorded as such, not as gaps to fetch again
    assert sorted(k for k, v in statuses.items() if v == "exchange") == sorted(GAPS)
