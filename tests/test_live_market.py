"""Live trading reads `funding_rate` / `open_interest` from the exchange as the backtest reads
them from the store: paper and demo runs against the exchange simulator (which serves the
store's funding history and 5-minute open interest over REST) make the backtest's fills,
and the feed holds exactly the stored records; the feed alone, on delayed and holed
series, gives `known_at` over what was published by each close."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import KEY, SECRET, T0, make_server, synthetic_bars
from tests.test_market_builtins import H8, SYM, M, _play, _records
from trade.core import FillEvent
from trade.data import open_store
from trade.data.series import funding_column, funding_stale_ms, known_at, open_interest_stale_ms
from trade.engine import DEFAULT_INSTRUMENT, PlayEngine, order_plan, sim_config
from trade.engine.backtest import with_market_series
from trade.live import Credentials, LiveRunner, RiskLimits, RunConfig, read_journal
from trade.live.errors import NetworkError
from trade.live.market import MarketFeed
from trade.play import Play
from trade.sim import BacktestAdapter, Bar


def _live_bars(n: int) -> pa.Table:
    """1m bars crossing the 8h funding mark T0 (its rate becomes known there), with the
    columns the simulator serves: funding settlements and open interest at each close."""
    return synthetic_bars(n=n, t0=T0 - 60 * M, seed=5)


def _backtest_fills(play: Play, bars: pa.Table, n: int) -> list[Any]:
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    adapter = BacktestAdapter(sim_config(play, plan, DEFAULT_INSTRUMENT))
    engine = PlayEngine(play, adapter, plan=plan)
    fills: list[Any] = []
    drain = adapter.drain_events

    def spy() -> list[Any]:  # the engine drains the events: keep the fills it sees
        events = drain()
        fills.extend(e.fill for e in events if isinstance(e, FillEvent))
        return events

    adapter.drain_events = spy  # type: ignore[method-assign]
    for row in bars.slice(0, n).to_pylist():
        adapter.step(Bar(row["ts"], row["open"], row["high"], row["low"], row["close"],
                         row["volume"]))
        engine.on_bar(row["ts"], row["open"], row["high"], row["low"], row["close"],
                      row["volume"], funding_rate=row["last_funding_rate"],
                      open_interest=row["open_interest"])
    drain_rest = drain()
    fills.extend(e.fill for e in drain_rest if isinstance(e, FillEvent))
    return fills


@pytest.mark.parametrize("mode", ["paper", "demo"])
def test_a_live_run_reads_them_from_the_exchange_and_trades_as_the_backtest(
        tmp_path: Path, mode: str) -> None:
    """The store holds funding and open interest; the simulator serves the same series
    over REST (funding history, 5-minute open interest). The live runner (paper: its own
    kernel; demo: orders on the simulator) reads them from there and makes the fills the
    backtest makes with the store's values."""
    play = _play("1m")
    warm, n = 5, 300
    bars = _live_bars(warm + n + 5)
    store = open_store(tmp_path / "store")
    store.write_bars(SYM, bars.append_column("turnover", pc.multiply(bars.column("volume"),
                                                                      bars.column("close"))))
    ts = bars.column("ts").to_numpy()
    first, stop = int(ts[0]) + M, int(ts[-1]) + M
    f, o = _records(first, stop, seed=9)
    # the settlement at T0: a small negative rate, which both entries accept
    f = pa.table({"ts": f.column("ts"), "rate": pa.array(
        [-5e-5 if t == T0 else r for t, r in zip(f.column("ts").to_pylist(),
                                                  f.column("rate").to_pylist(), strict=True)])})
    # the simulator serves what its bars hold, from their first close on: store that much
    store.write_funding(SYM, f.filter(pc.greater_equal(f.column("ts"), first)))
    store.write_open_interest(SYM, o.filter(pc.greater_equal(o.column("ts"), first)))
    ref_bars = with_market_series(play, bars, store, SYM, {"kind": "store"})
    fund_col = funding_column(bars, store, SYM)
    assert fund_col is not None
    served = bars.append_column("funding_rate", pa.array(fund_col)).append_column(
        "open_interest", ref_bars.column("open_interest"))
    known = ref_bars.column("last_funding_rate").to_numpy()
    assert np.isnan(known[0]) and np.isfinite(known[-1])  # the rate becomes known at T0
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    config = sim_config(play, plan, DEFAULT_INSTRUMENT)
    with make_server(served, warm=warm, sim_config=config) as sim:
        cfg = RunConfig(symbol=SYM, mode="paper" if mode == "paper" else "demo",
                        endpoint=sim.base_url, journal_path=tmp_path / "journal.jsonl",
                        stream_options={"ping_interval_s": 2.0, "stale_after_s": 6.0,
                                        "backoff_initial_s": 0.05, "backoff_max_s": 0.5},
                        sim_config=config if mode == "paper" else None,
                        credentials=None if mode == "paper" else Credentials(KEY, SECRET),
                        risk_limits=RiskLimits(max_orders_per_minute=None), tag="test")
        runner = LiveRunner(cfg, lambda a: PlayEngine(play, a, plan=plan))
        thread = threading.Thread(target=runner.run, name="live-market-test")
        thread.start()
        try:
            assert runner.ready.wait(20), runner.error
            for i in range(1, n + 1):
                sim.step()
                assert runner.wait_bars(i, 20), (i, runner.error)
            session = runner.session
            assert session is not None
            if mode == "demo":
                session.call(lambda: session.barrier(force=True), timeout_s=30)
        finally:
            runner.stop()
            thread.join(10)
    assert runner.error is None
    feed = runner.market
    assert feed is not None and feed.failures == 0
    # the warm-up's two reads, then one open-interest read per 5 minutes and one funding
    # read per hour (one settlement does not tell the funding interval: Bybit's are 1 h to
    # 8 h, on the hour)
    assert feed.requests == 2 + n // 5 + 5, feed.requests
    assert feed.late == 0
    if mode == "paper":
        records = read_journal(tmp_path / "journal.jsonl")
        fills = [(1 if r["side"] == "Buy" else -1, round(r["qty"], 9), round(r["price"], 6),
                  r["exec_ts"]) for r in records if r["kind"] == "fill"]
    else:
        fills = [(int(x.side), round(x.qty, 9), round(x.price, 6), x.ts)
                 for x in session.book.fills]
    ref = [(int(x.side), round(x.qty, 9), round(x.price, 6), x.ts)
           for x in _backtest_fills(play, ref_bars, warm + n)]
    assert len(ref) >= 4
    assert min(t for *_, t in ref) > T0  # no entry before the first settlement is known
    assert fills == ref
    # each signal record says what the decision saw: the backtest's values on that bar
    by_ts = {int(t): (fr, oi) for t, fr, oi in zip(
        ts.tolist(), known.tolist(), ref_bars.column("open_interest").to_pylist(), strict=True)}
    signals = [r for r in read_journal(tmp_path / "journal.jsonl") if r["kind"] == "signal"]
    assert sum(r["market"]["funding_rate"] is not None for r in signals) >= 4
    for r in signals:
        fr, oi = by_ts[r["bar"]]
        assert r["market"] == {"funding_rate": fr if np.isfinite(fr) else None,
                               "open_interest": oi}
    # the feed read the store's records from the exchange (those stated by the last bar)
    last_close = int(ts[warm + n - 1]) + M
    stored_oi = store.read_open_interest(SYM, None, last_close + 1).to_pydict()
    assert feed.open_interest.records == dict(zip(stored_oi["ts"], stored_oi["open_interest"],
                                                  strict=True))
    assert feed.funding.records == {T0: -5e-5}


# ============================================================== the feed on its own


class _History:
    """A fake REST client answering Bybit's funding and open-interest history from lists:
    a record at `t` is published at `t + delay_ms` (the exchange's clock is `now`)."""

    def __init__(self, funding: list[tuple[int, float]], oi: list[tuple[int, float]],
                 delay_ms: int = 0) -> None:
        self.funding, self.oi, self.delay_ms = funding, oi, delay_ms
        self.now = 0
        self.fail = False
        self.block: threading.Event | None = None

    def get(self, path: str, q: dict[str, Any], *, auth: bool = True) -> dict[str, Any]:
        assert not auth  # public endpoints
        if self.block is not None:
            self.block.wait(10)
        if self.fail:
            raise NetworkError("connection reset", path=path)
        rows = self.funding if path.endswith("funding/history") else self.oi
        hit = [(t, v) for t, v in rows if q["startTime"] <= t <= q["endTime"]
               and t + self.delay_ms <= self.now][::-1][:q["limit"]]
        if path.endswith("funding/history"):
            return {"list": [{"fundingRateTimestamp": str(t), "fundingRate": str(v)}
                             for t, v in hit]}
        assert q["intervalTime"] == "5min"
        return {"list": [{"timestamp": str(t), "openInterest": str(v)} for t, v in hit]}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), delay_s=st.sampled_from([0, 30, 90, 250]),
       holes=st.sets(st.integers(0, 140), max_size=20))
def test_the_feed_gives_the_backtests_values_on_what_was_published(
        seed: int, delay_s: int, holes: set[int]) -> None:
    """At every close the feed's values are `known_at` over the records published by then
    (all of them when the exchange publishes on time): a late record is picked up at the
    first close after it appears, a hole in the series is a hole."""
    rng = np.random.default_rng(seed)
    t0 = T0 - 3 * H8
    f = [(t, float(rng.normal(0, 1e-4))) for t in range(t0, T0 + 13 * 3_600_000, H8)]
    o = [(t0 + k * 5 * M, float(50_000 + k)) for k in range(12 * 24) if k not in holes]
    fake = _History(f, o, delay_s * 1000)
    feed = MarketFeed(fake, SYM, {"funding_rate", "open_interest"})  # type: ignore[arg-type]
    first = t0 + 60 * M
    fake.now = first
    feed.warm(first - 30 * M, first)
    for close in range(first + M, first + 600 * M, M):
        fake.now = close
        got = feed.values(close)
        cut = close - delay_s * 1000
        for name, rows, stale in (("funding_rate", f, funding_stale_ms),
                                  ("open_interest", o, open_interest_stale_ms)):
            seen = [(t, v) for t, v in rows if t <= cut]
            ts = np.array([t for t, _ in seen], dtype=np.int64)
            want = known_at(ts, np.array([v for _, v in seen]), np.array([close]),
                            stale(ts))[0]
            np.testing.assert_equal(got[name], want, err_msg=f"{name} at {close}")
    assert feed.failures == 0 and feed.late == 0


def test_a_failing_or_hanging_read_never_stops_the_run() -> None:
    o = [(T0 + k * 5 * M, 1000.0 + k) for k in range(40)]
    fake = _History([], o)
    feed = MarketFeed(fake, SYM, {"open_interest"}, wait_s=0.05)  # type: ignore[arg-type]
    fake.now = T0 + 10 * M
    feed.warm(T0, T0 + 10 * M)
    assert feed.values(T0 + 10 * M) == {"open_interest": 1002.0}
    fake.fail = True  # every read fails: the last value is carried, then NaN (15 min)
    fake.now = T0 + 15 * M
    assert feed.values(T0 + 15 * M) == {"open_interest": 1002.0}
    fake.now = T0 + 26 * M
    assert math.isnan(feed.values(T0 + 26 * M)["open_interest"])
    assert feed.failures >= 2
    fake.fail, fake.block = False, threading.Event()  # a read that hangs
    fake.now = T0 + 30 * M
    assert math.isnan(feed.values(T0 + 30 * M)["open_interest"])  # decided without it
    assert feed.late == 1
    fake.block.set()  # it lands; the next close sees its records
    feed.close()
    fake.now = T0 + 31 * M
    assert feed.values(T0 + 31 * M) == {"open_interest": 1006.0}
