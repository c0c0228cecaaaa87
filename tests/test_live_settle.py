"""The engine thread never waits on REST (docs/live.md, "Settling"): a reconciliation that
hangs does not delay the decisions of the next bars; meanwhile new entries are held and
exits go (reduce-only, sized from the engine's own view of the position); once the
reconciliation lands, entries go again. Counted in bars and events, never in seconds."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from trade.core import ExchangeAdapter, OrderRequest, OrderStatus, Side
from trade.exchange_sim import ExchangeSimServer
from trade.live import BybitRest, Credentials, LiveRunner, RiskLimits, RunConfig, read_journal

SYM = "BTCUSDT"
CREDS = Credentials(KEY, SECRET)
FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5}
WARM = 5  # bars 0..4 are history; each step closes the next one (5, 6, ...)


class Script:
    """A bar engine that does what the test scripts for a bar (by its open time), and
    records the order each live decision returned."""

    def __init__(self, adapter: ExchangeAdapter, actions: dict[int, str]) -> None:
        self.adapter: Any = adapter
        self.actions = actions
        self.returned: dict[int, list[tuple[str, float, bool, OrderStatus]]] = {}

    def on_bar(self, ts: int, open: float, high: float, low: float, close: float,
               volume: float = 0.0, mark_price: float = float("nan")) -> None:
        action = self.actions.get(ts)
        if action is None:
            return
        if action == "buy":  # an entry (adds to a long, opens from flat)
            request = OrderRequest(SYM, Side.BUY, 0.01)
        elif action == "flip":  # sell three times the long: would open a short
            request = OrderRequest(SYM, Side.SELL, 0.03)
        else:
            raise AssertionError(action)
        order = self.adapter.submit(request)
        self.returned.setdefault(ts, []).append(
            (order.request.side.bybit, order.request.qty, order.request.reduce_only,
             order.status))

    def finish(self) -> None:
        return None


def _venue_orders(sim: ExchangeSimServer) -> dict[int, tuple[str, float, bool]]:
    rows = sim.inspect(lambda v: [(r.order.order_link_id, r.order.request.side.bybit,
                                   round(r.order.request.qty, 9), r.order.request.reduce_only)
                                  for r in v.orders.values()])
    return {int(link.split("-")[1]) * 60_000: (side, qty, ro) for link, side, qty, ro in rows}


def test_a_hanging_reconciliation_never_delays_decisions_and_holds_only_entries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bars = synthetic_bars(n=60, seed=5)
    ts = bars.column("ts").to_pylist()
    # bar 5 enters long; while the reconciliation hangs, bar 7's entry is held, bar 8's
    # flip goes as a reduce-only close of the long, bar 9's entry is held; after it
    # lands, bar 10's entry goes
    actions = {ts[5]: "buy", ts[7]: "buy", ts[8]: "flip", ts[9]: "buy", ts[10]: "buy"}
    hang, release = threading.Event(), threading.Event()
    hung = threading.Event()
    original = BybitRest.wallet

    def wallet(self: BybitRest) -> dict[str, Any]:
        if hang.is_set():  # the reconciliation's last read hangs until the test says so
            hung.set()
            release.wait(60)
        return original(self)

    monkeypatch.setattr(BybitRest, "wallet", wallet)
    journal = tmp_path / "j.jsonl"
    engines: list[Script] = []

    def factory(adapter: ExchangeAdapter) -> Script:
        engines.append(Script(adapter, actions))
        return engines[-1]

    with make_server(bars, warm=WARM) as sim:
        cfg = RunConfig(symbol=SYM, mode="demo", endpoint=sim.base_url, credentials=CREDS,
                        journal_path=journal, stream_options=FAST, rest_timeout_s=0.5,
                        tag="st", risk_limits=RiskLimits(max_orders_per_minute=None),
                        settle_s=600.0,  # only a later bar may cut a bar's settling short
                        # bar 7 is decided when bar 8 arrives, one bar and a few ms late: the
                        # hold asserted here is REST in flight, not the stale-bar rule (which
                        # has its own test below), so staleness must not decide it first
                        max_bar_age_ms=10 * 60_000)
        runner = LiveRunner(cfg, factory)
        thread = threading.Thread(target=runner.run, name="live-engine-settle")
        thread.start()
        try:
            assert runner.ready.wait(20), runner.error
            session = runner.session
            assert session is not None
            for n in (1, 2):  # bar 5 enters, bar 6 fills it: REST healthy
                sim.step()
                assert runner.wait_bars(n, 20), (n, runner.error)
            assert sim.inspect(lambda v: v.engine.position().size) == pytest.approx(0.01)
            hang.set()
            sim.step()  # bar 7: its reconciliation starts and hangs
            assert hung.wait(20)
            sim.step()  # bar 8 arrives: bar 7 is decided at once, then bar 8
            assert runner.wait_bars(4, 20), (runner.bars_done, runner.error)
            sim.step()  # bar 9: the reconciliation still hangs, decided at once
            assert runner.wait_bars(5, 20), (runner.bars_done, runner.error)
            assert not release.is_set()  # all of that while the REST call was blocked
            assert runner.summary.unsettled_bars == 3  # bars 7, 8 and 9
            assert sim.inspect(lambda v: v.engine.position().side) == 0  # the exit went
            hang.clear()
            release.set()
            # the reconciliation lands (an event on the engine thread): entries go again
            pause = threading.Event()  # never set: a short pause between looks
            landed = False
            for _ in range(400):
                if session.call(lambda: not runner._unsettled and not runner._queue):
                    landed = True
                    break
                pause.wait(0.05)
            assert landed
            sim.step()  # bar 10
            assert runner.wait_bars(6, 20), (runner.bars_done, runner.error)
            assert runner.error is None
        finally:
            release.set()
            runner.stop()
            thread.join(15)
        assert not thread.is_alive()
        venue = _venue_orders(sim)
    engine = engines[-1]
    held = OrderStatus.REJECTED
    assert engine.returned[ts[7]] == [("Buy", 0.01, False, held)]
    # the flip is sized from the engine's view of the long: a reduce-only close, no short
    assert engine.returned[ts[8]][0][:3] == ("Sell", pytest.approx(0.01), True)
    assert engine.returned[ts[9]] == [("Buy", 0.01, False, held)]
    assert engine.returned[ts[10]][0][:3] == ("Buy", 0.01, False)
    assert engine.returned[ts[10]][0][3] is not held
    assert venue == {ts[5]: ("Buy", 0.01, False), ts[8]: ("Sell", 0.01, True),
                     ts[10]: ("Buy", 0.01, False)}
    records = read_journal(journal)
    refused = [r for r in records if r["kind"] == "order_refused"]
    assert len(refused) == 2
    assert all(r["reason"].startswith("entry held: ") and "in flight" in r["reason"]
               for r in refused)
    trimmed = [r for r in records if r["kind"] == "order_trimmed"]
    assert [(r["qty"], r["to"]) for r in trimmed] == [(0.03, pytest.approx(0.01))]
    held_bars = [r["bar"] for r in records if r["kind"] == "bar" and r.get("held")]
    assert held_bars == [ts[7], ts[8], ts[9]]
    catch_up = [r for r in records if r["kind"] in ("catch_up", "caught_up")]
    assert [(r["kind"], r["bar"]) for r in catch_up] == [("catch_up", ts[7]),
                                                       ("caught_up", ts[10])]
    assert runner.summary.held_bars == 3


def test_paper_mode_holds_entries_like_demo(tmp_path: Path) -> None:
    """Paper mode's entry hold (a missed or stale bar): an entry is refused, an order
    against the position goes reduce-only at most its size, so nothing opens or flips."""
    from trade.core import WallClock
    from trade.live import Journal
    from trade.live.paper import JournaledPaperAdapter
    from trade.sim import Bar, SimConfig

    path = tmp_path / "paper.jsonl"
    journal = Journal(path, WallClock())
    adapter = JournaledPaperAdapter(SimConfig(symbol=SYM, initial_balance=10_000.0), journal)
    t = 1_700_000_000_000
    prices = [30_000.0, 30_010.0, 30_020.0, 30_030.0]
    adapter.step(Bar(t, prices[0], prices[0] + 5, prices[0] - 5, prices[0], 1.0))
    assert adapter.submit(OrderRequest(SYM, Side.BUY, 0.01)).status is not OrderStatus.REJECTED
    adapter.step(Bar(t + 60_000, prices[1], prices[1] + 5, prices[1] - 5, prices[1], 1.0))
    assert (adapter.position(SYM).side, adapter.position(SYM).size) == (1, 0.01)
    adapter.entry_hold = "stale bar (test)"
    added = adapter.submit(OrderRequest(SYM, Side.BUY, 0.01))
    assert added.status is OrderStatus.REJECTED
    flip = adapter.submit(OrderRequest(SYM, Side.SELL, 0.05))
    assert flip.status is not OrderStatus.REJECTED
    assert (flip.request.qty, flip.request.reduce_only) == (pytest.approx(0.01), True)
    again = adapter.submit(OrderRequest(SYM, Side.SELL, 0.01))  # the long is already closing
    assert again.status is OrderStatus.REJECTED
    adapter.entry_hold = ""
    adapter.step(Bar(t + 120_000, prices[2], prices[2] + 5, prices[2] - 5, prices[2], 1.0))
    adapter.drain_events()
    assert adapter.position(SYM).side == 0  # closed, not flipped
    journal.close()
    records = read_journal(path)
    refused = [r["reason"] for r in records if r["kind"] == "order_refused"]
    assert refused == ["entry held: stale bar (test)"] * 2
    assert [(r["qty"], r["to"]) for r in records if r["kind"] == "order_trimmed"] == [
        (0.05, pytest.approx(0.01))]
    assert len(adapter.placed) == 2  # the entry and the reduce-only close


def test_a_flat_quiet_account_decides_without_a_reconciliation() -> None:
    """A finished reconciliation is not itself a change on the exchange: a flat account
    with no orders and no pushes since needs none before its next bar (else every bar
    would wait for REST); an order sent makes the next bar reconcile again."""
    from trade.live import LiveSession, make_session

    with make_server() as sim:
        rest = BybitRest(make_session("demo", endpoint=sim.base_url, credentials=CREDS,
                                      timeout_s=1.0))
        s = LiveSession(rest, SYM, credentials=CREDS, ws_base=sim.ws_base,
                        stream_options=FAST)
        try:
            s.open()  # reconciles once at start
            assert s.reconciles == 1
            assert not s.dirty()
            s.barrier()  # nothing to reconcile: no REST
            assert s.reconciles == 1
            s.last_price = 30_000.0
            from trade.live import LiveAdapter

            LiveAdapter(s).submit(OrderRequest(SYM, Side.BUY, 0.01))
            assert s.dirty()
            s.barrier()
            assert s.reconciles == 2
        finally:
            s.close()


def test_a_backlog_of_stale_bars_opens_nothing_and_its_exits_go(tmp_path: Path) -> None:
    """The engine thread is held while five bars close (a backlog, deterministic): each is
    older than one bar when decided, so its entry is refused ("stale bar") while its exit
    goes (a flip trimmed to the reduce-only close); the run says it is catching up; the
    next fresh bar enters again."""
    from trade.live.events import Deferred

    bars = synthetic_bars(n=60, seed=5)
    ts = bars.column("ts").to_pylist()
    # bar 5 enters long (fresh); bars 7..11 close while the engine is held: bar 7's entry
    # is refused, bar 8's flip closes the long; bar 12 (fresh) enters again
    actions = {ts[5]: "buy", ts[7]: "buy", ts[8]: "flip", ts[12]: "buy"}
    journal = tmp_path / "j.jsonl"
    engines: list[Script] = []

    def factory(adapter: ExchangeAdapter) -> Script:
        engines.append(Script(adapter, actions))
        return engines[-1]

    with make_server(bars, warm=WARM) as sim:
        cfg = RunConfig(symbol=SYM, mode="demo", endpoint=sim.base_url, credentials=CREDS,
                        journal_path=journal, stream_options=FAST, rest_timeout_s=0.5,
                        tag="sb", risk_limits=RiskLimits(max_orders_per_minute=None))
        runner = LiveRunner(cfg, factory)
        thread = threading.Thread(target=runner.run, name="live-engine-stale")
        thread.start()
        release = threading.Event()
        try:
            assert runner.ready.wait(20), runner.error
            session = runner.session
            assert session is not None
            for n in (1, 2):  # bar 5 enters, bar 6 fills it
                sim.step()
                assert runner.wait_bars(n, 20), (n, runner.error)
            assert sim.inspect(lambda v: v.engine.position().size) == pytest.approx(0.01)
            held = threading.Event()

            def hold() -> None:
                held.set()
                release.wait(60)

            session.post(Deferred(hold))  # the engine thread is busy: a backlog forms
            assert held.wait(20)
            for _ in range(5):  # bars 7..11 close meanwhile
                sim.step()
            # the stream has shown them (the bar clock is past bar 11's close)
            pause = threading.Event()  # never set: a short pause between looks
            for _ in range(400):
                if session.market_now_ms() >= ts[11] + 60_000:
                    break
                pause.wait(0.05)
            assert session.market_now_ms() >= ts[11] + 60_000
            release.set()
            assert runner.wait_bars(7, 30), (runner.bars_done, runner.error)
            for _ in range(400):  # caught up and settled: entries may go again
                if session.call(lambda: not runner._unsettled and not runner._queue):
                    break
                pause.wait(0.05)
            sim.step()  # bar 12, fresh
            assert runner.wait_bars(8, 20), (runner.bars_done, runner.error)
            assert runner.error is None
        finally:
            release.set()
            runner.stop()
            thread.join(15)
        assert not thread.is_alive()
        venue = _venue_orders(sim)
    engine = engines[-1]
    assert engine.returned[ts[7]] == [("Buy", 0.01, False, OrderStatus.REJECTED)]
    assert engine.returned[ts[8]][0][:3] == ("Sell", pytest.approx(0.01), True)
    assert engine.returned[ts[12]][0][:3] == ("Buy", 0.01, False)
    assert engine.returned[ts[12]][0][3] is not OrderStatus.REJECTED
    # nothing opened from the backlog; its exit went
    assert venue == {ts[5]: ("Buy", 0.01, False), ts[8]: ("Sell", 0.01, True),
                     ts[12]: ("Buy", 0.01, False)}
    records = read_journal(journal)
    refused = [r["reason"] for r in records if r["kind"] == "order_refused"]
    assert len(refused) == 1 and refused[0].startswith("entry held: stale bar: closed")
    bar_recs = {r["bar"]: r for r in records if r["kind"] == "bar"}
    for i in (7, 8, 9):  # decided at least two bars after their close (bar 10's lag is
        # one bar plus the moments since bar 11 arrived: at the limit, left out)
        assert bar_recs[ts[i]]["lag_ms"] > 60_000 and bar_recs[ts[i]]["held"]
        assert bar_recs[ts[i]]["hold"].startswith("stale bar")
    assert not bar_recs[ts[12]].get("held") and bar_recs[ts[12]]["lag_ms"] <= 60_000
    catch_up = [r for r in records if r["kind"] == "catch_up"]
    assert catch_up and catch_up[0]["bar"] == ts[7]
    assert catch_up[0]["reason"].startswith("stale bar")
    assert any(r["kind"] == "caught_up" for r in records)


def test_a_hanging_missing_bar_fetch_never_blocks_the_engine_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bar lost on the stream is fetched over REST on a worker: while that fetch hangs the
    engine thread keeps consuming events (a call answers, a later bar is queued behind the
    gap); when it lands, the missing bar is decided first (exits only), then the rest in
    order."""
    from trade.exchange_sim import FaultConfig

    bars = synthetic_bars(n=60, seed=5)
    ts = bars.column("ts").to_pylist()
    hang, release, hung = threading.Event(), threading.Event(), threading.Event()
    original = BybitRest.klines

    def klines(self: BybitRest, *args: Any, **kwargs: Any) -> Any:
        if hang.is_set():
            hung.set()
            release.wait(60)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BybitRest, "klines", klines)
    journal = tmp_path / "j.jsonl"
    with make_server(bars, warm=WARM) as sim:
        cfg = RunConfig(symbol=SYM, mode="demo", endpoint=sim.base_url, credentials=CREDS,
                        journal_path=journal, stream_options=FAST, rest_timeout_s=0.5,
                        tag="bf", risk_limits=RiskLimits(max_orders_per_minute=None))
        runner = LiveRunner(cfg, lambda a: Script(a, {}))  # type: ignore[arg-type]
        thread = threading.Thread(target=runner.run, name="live-engine-backfill")
        thread.start()
        try:
            assert runner.ready.wait(20), runner.error
            session = runner.session
            assert session is not None
            for n in (1, 2):  # bars 5 and 6
                sim.step()
                assert runner.wait_bars(n, 20), (n, runner.error)
            hang.set()
            sim.configure_faults(FaultConfig(ws_drop_rate=1.0))
            sim.step()  # bar 7: lost on the stream
            threading.Event().wait(0.5)
            sim.configure_faults(FaultConfig())
            sim.step()  # bar 8 shows the gap: bar 7 is fetched, and the fetch hangs
            assert hung.wait(20)
            # the engine thread is not waiting on it
            assert session.call(lambda: runner._backfilling, timeout_s=2.0) is True
            sim.step()  # bar 9 arrives meanwhile: queued behind the gap
            pause = threading.Event()  # never set: a short pause between looks
            for _ in range(200):
                if session.call(lambda: len(runner._waiting), timeout_s=2.0) == 1:
                    break
                pause.wait(0.05)
            assert session.call(lambda: len(runner._waiting), timeout_s=2.0) == 1
            assert runner.bars_decided == 2 and not release.is_set()
            hang.clear()
            release.set()
            assert runner.wait_bars(5, 20), (runner.bars_done, runner.error)
            assert runner.error is None
        finally:
            release.set()
            runner.stop()
            thread.join(15)
        assert not thread.is_alive()
    bar_recs = [r for r in read_journal(journal) if r["kind"] == "bar"]
    assert [r["bar"] for r in bar_recs] == ts[5:10]  # the missing bar first, in order
    # bar 7 was missed (exits only); bar 8, decided once bar 9 had closed, is a bar late
    holds = [r.get("hold", "") for r in bar_recs]
    assert holds[:2] == ["", ""] and holds[4] == ""
    assert holds[2].startswith("missed bar") and holds[3].startswith("stale bar")
    assert runner.summary.backfilled == 1
