"""Live brackets the exchange lacks or spells differently: break-even done by the session,
trailing activation sent as Bybit's activePrice. Differential against the kernel
(trade.sim.SimExchange), which implements fill_model.md rule 5 natively."""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import T0, make_server
from trade.core import (
    ExchangeAdapter,
    FillEvent,
    Order,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Side,
)
from trade.live import Credentials, LiveRunner, RiskLimits, RunConfig, read_journal
from trade.live.breakeven import BreakEvenTracker
from trade.live.executor import bracket_prices, fmt_step
from trade.sim import SimConfig, SimExchange

SYM = "BTCUSDT"
MIN = 60_000
CREDS = Credentials("test-key", "test-secret")
FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5}
CFG = SimConfig(symbol=SYM, initial_balance=10_000.0, slippage=0.0002)
TICK = 0.1


# ------------------------------------------------------------------ trailing activation


def _filled(request: OrderRequest, price: float) -> Order:
    return Order("o1", request, OrderStatus.FILLED, 0, 0, filled_qty=request.qty,
                 avg_fill_price=price)


@pytest.mark.parametrize(("side", "sign"), [(Side.BUY, 1.0), (Side.SELL, -1.0)])
def test_trailing_activation_becomes_bybits_active_price(side: Side, sign: float) -> None:
    req = OrderRequest(SYM, side, 0.1, trailing_offset=0.01, trailing_activation=0.02,
                       stop_loss_offset=0.03)
    levels = bracket_prices(_filled(req, 30_000.0))
    assert levels["trailingStop"] == pytest.approx(300.0)
    assert levels["activePrice"] == pytest.approx(30_000.0 * (1 + sign * 0.02))
    assert levels["stopLoss"] == pytest.approx(30_000.0 * (1 - sign * 0.03))
    # no activation (the kernel's "armed at the fill"): no activePrice
    plain = dataclasses.replace(req, trailing_activation=None)
    assert "activePrice" not in bracket_prices(_filled(plain, 30_000.0))
    assert "trailingStop" in bracket_prices(_filled(plain, 30_000.0))


# ------------------------------------------------------------------ break-even: property


def _bars(closes: list[float], spreads: list[tuple[float, float]]) -> list[tuple[float, ...]]:
    out: list[tuple[float, ...]] = []
    prev = closes[0]
    for i, (c, (up, down)) in enumerate(zip(closes, spreads, strict=True)):
        o = prev
        out.append((T0 + i * MIN, o, max(o, c) + up, min(o, c) - down, c))
        prev = c
    return out


def _fills(ex: SimExchange) -> list[tuple[Any, ...]]:
    return [(int(e.fill.side), round(e.fill.qty, 9), round(e.fill.price, 6), e.fill.ts,
             e.fill.exec_type.name) for e in ex.drain_events() if isinstance(e, FillEvent)]


@st.composite
def be_cases(draw: st.DrawFn) -> tuple[Any, ...]:
    n = draw(st.integers(8, 40))
    steps = draw(st.lists(st.floats(-0.006, 0.006), min_size=n, max_size=n))
    closes = list(30_000.0 * np.cumprod(1 + np.array(steps)))
    spreads = draw(st.lists(st.tuples(st.floats(0, 120), st.floats(0, 120)),
                            min_size=n, max_size=n))
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    act = draw(st.floats(0.0005, 0.02))
    off = draw(st.sampled_from([0.0, 0.0005, 0.002]))
    sl_off = draw(st.sampled_from([None, 0.001, 0.004, 0.03]))
    at = draw(st.integers(0, n - 3))
    return _bars(closes, spreads), side, act, off, sl_off, at


@pytest.mark.parametrize("tick", [0.0, 0.5])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(be_cases())
def test_session_break_even_equals_the_kernels_rule_5(tick: float, case: tuple[Any, ...]
                                                       ) -> None:
    """The kernel with break-even set on the order vs. the kernel without it, driven the
    way the live session drives Bybit: the tracker at each 1m close, a trading-stop when it
    fires. Same stop after every bar, same fills."""
    bars, side, act, off, sl_off, at = case
    request = OrderRequest(SYM, side, 0.1, stop_loss_offset=sl_off,
                           break_even_activation=act, break_even_offset=off)
    cfg = dataclasses.replace(CFG, tick_size=tick)
    native = SimExchange(cfg)
    live = SimExchange(cfg)
    tracker = BreakEvenTracker(SYM, tick)
    plain = dataclasses.replace(request, break_even_activation=None, break_even_offset=0.0)
    native_fills: list[Any] = []
    live_fills: list[Any] = []
    for i, (ts, o, h, lo, c) in enumerate(bars):
        native.on_bar(ts, o, h, lo, c)
        live.on_bar(ts, o, h, lo, c)
        native_fills += _fills(native)
        events = live.drain_events()
        for ev in events:
            if isinstance(ev, OrderUpdate) and ev.order.status is OrderStatus.FILLED \
                    and not ev.order.request.reduce_only:
                # what the book reports: our order (with its break-even settings), filled
                tracker.on_entry(dataclasses.replace(ev.order, request=request), ts)
        live_fills += [(int(e.fill.side), round(e.fill.qty, 9), round(e.fill.price, 6),
                        e.fill.ts, e.fill.exec_type.name)
                       for e in events if isinstance(e, FillEvent)]
        pos: Position = live.position()
        action = tracker.on_bar(ts, h, lo, c, pos)
        if action is not None:
            live.set_trading_stop(stop_loss=action.level)
            live.drain_events()
        assert live.position().stop_loss == pytest.approx(native.position().stop_loss,
                                                          rel=1e-12), (i, ts)
        if i == at:
            native.submit(request)
            live.submit(plain)
    assert live_fills == native_fills


def test_break_even_never_loosens_and_fires_once() -> None:
    t = BreakEvenTracker(SYM)
    req = OrderRequest(SYM, Side.BUY, 1.0, break_even_activation=0.01, break_even_offset=0.001)
    t.on_entry(_filled(req, 100.0), T0 + 30_000)  # fills inside bar T0
    pos = Position(SYM, side=1, size=1.0, entry_price=100.0, stop_loss=100.5)
    assert t.on_bar(T0 - MIN, 105.0, 99.0, 100.0, pos) is None  # before the entry bar
    assert t.state is not None and t.state.best == 100.0
    assert t.on_bar(T0, 100.9, 99.0, 100.5, pos) is None  # 0.9 %: not yet
    # 1.2 % reached, but the stop (100.5) is already tighter than 100.1: unchanged, and done
    assert t.on_bar(T0 + MIN, 101.2, 100.0, 101.0, pos) is None
    assert t.state.done
    pos.stop_loss = 95.0
    assert t.on_bar(T0 + 2 * MIN, 110.0, 100.0, 101.0, pos) is None  # once per position
    # an adding order with break-even re-arms it, keeping the best price
    t.on_entry(_filled(req, 101.0), T0 + 3 * MIN)
    pos = Position(SYM, side=1, size=2.0, entry_price=100.5, stop_loss=95.0)
    action = t.on_bar(T0 + 3 * MIN, 101.0, 100.8, 100.9, pos)
    assert action is not None and not action.through
    assert action.level == pytest.approx(100.5 * 1.001)
    # flat: forgotten; a short from a new fill tracks lows from its own fill price
    assert t.on_bar(T0 + 4 * MIN, 101.0, 99.0, 100.0, Position(SYM)) is None
    assert t.state is None
    t.on_entry(_filled(dataclasses.replace(req, side=Side.SELL), 100.0), T0 + 5 * MIN)
    short = Position(SYM, side=-1, size=1.0, entry_price=100.0)
    action = t.on_bar(T0 + 5 * MIN, 100.2, 98.9, 99.95, short)
    assert action is not None and action.level == pytest.approx(99.9)
    assert action.through  # the bar closed above 99.9: a stop there would be refused


# ------------------------------------------------------------------ break-even: live


class Scripted:
    """A bar engine that submits one order after the close of bar `at`."""

    def __init__(self, adapter: ExchangeAdapter, at: int, request: OrderRequest) -> None:
        self.adapter = adapter
        self.at = at
        self.request = request

    def on_bar(self, ts: int, open: float, high: float, low: float, close: float,
               volume: float = 0.0, mark_price: float = math.nan) -> None:
        self.adapter.drain_events()
        if ts == self.at:
            self.adapter.submit(self.request)

    def finish(self) -> None:
        self.adapter.drain_events()


WARM = 5


def _scenario(kind: str) -> tuple[pa.Table, OrderRequest, int]:
    """Bars (warm-up, decision bar D, entry at D+1, break-even at the close of D+2)."""
    flat = [(30_000.0, 30_010.0, 29_990.0, 30_000.0)] * (WARM + 1)
    tail = [(30_000.0, 30_100.0, 29_950.0, 30_050.0),   # D+1: entry at the open
            (30_050.0, 30_400.0, 30_000.0, 30_350.0),   # D+2: +1.33 %: break-even
            (30_350.0, 30_380.0, 30_200.0, 30_250.0),   # D+3: above the new stop
            (30_250.0, 30_260.0, 30_000.0, 30_100.0),   # D+4: stopped at break-even
            (30_100.0, 30_110.0, 30_090.0, 30_100.0),
            (30_100.0, 30_110.0, 30_090.0, 30_100.0)]
    if kind == "through":  # D+2 closes under the break-even level: closed at D+3's open
        tail[1] = (30_050.0, 30_400.0, 30_000.0, 30_040.0)
        tail[2] = (30_040.0, 30_080.0, 30_000.0, 30_020.0)
    rows = flat + tail
    side = Side.BUY
    if kind == "short":  # the mirror image around 30 000
        rows = [(60_000 - o, 60_000 - lo, 60_000 - h, 60_000 - c) for o, h, lo, c in rows]
        side = Side.SELL
    n = len(rows)
    bars = pa.table({"ts": T0 + np.arange(n, dtype=np.int64) * MIN,
                     "open": [r[0] for r in rows], "high": [r[1] for r in rows],
                     "low": [r[2] for r in rows], "close": [r[3] for r in rows],
                     "volume": [5.0] * n})
    request = OrderRequest(SYM, side, 0.1, stop_loss_offset=0.02,
                           break_even_activation=0.01, break_even_offset=0.002)
    return bars, request, T0 + WARM * MIN


def _kernel(bars: pa.Table, request: OrderRequest, at: int
            ) -> tuple[list[float], list[tuple[Any, ...]]]:
    ex = SimExchange(CFG)
    stops: list[float] = []
    fills: list[tuple[Any, ...]] = []
    for r in bars.to_pylist():
        ex.on_bar(r["ts"], r["open"], r["high"], r["low"], r["close"], r["volume"])
        fills += _fills(ex)
        stops.append(ex.position().stop_loss)
        if r["ts"] == at:
            ex.submit(request)
    return stops, fills


def _live(bars: pa.Table, request: OrderRequest, at: int, journal: Path
          ) -> tuple[list[float], list[tuple[Any, ...]], list[str]]:
    """Run the Scripted engine through `trade run`'s runner against the simulator; the
    venue's stop after every live bar, the book's fills and the session's failures."""
    with make_server(bars, warm=WARM, sim_config=CFG) as sim:
        cfg = RunConfig(symbol=SYM, mode="demo", endpoint=sim.base_url, credentials=CREDS,
                        journal_path=journal, stream_options=FAST, rest_timeout_s=0.5,
                        tag="be", risk_limits=RiskLimits(max_orders_per_minute=None))
        runner = LiveRunner(cfg, lambda a: Scripted(a, at, request))
        thread = threading.Thread(target=runner.run, name="live-engine-test")
        thread.start()
        stops: list[float] = []
        try:
            assert runner.ready.wait(20), runner.error
            for i in range(1, bars.num_rows - WARM + 1):
                sim.step()
                assert runner.wait_bars(i, 20), (i, runner.error)
                stops.append(sim.inspect(lambda v: v.engine.position().stop_loss))
            session = runner.session
            assert session is not None
            fills = [(int(f.side), round(f.qty, 9), round(f.price, 6), f.ts,
                      f.exec_type.name) for f in session.book.fills]
        finally:
            runner.stop()
            thread.join(10)
        assert not thread.is_alive()
    return stops, fills, list(session.failures)


@pytest.mark.parametrize("kind", ["long", "short", "through"])
def test_live_break_even_against_the_simulator_equals_the_kernel(kind: str,
                                                                 tmp_path: Path) -> None:
    bars, request, at = _scenario(kind)
    ref_stops, ref_fills = _kernel(bars, request, at)
    journal = tmp_path / "j.jsonl"
    stops, live_fills, failures = _live(bars, request, at, journal)
    assert not failures
    be_bar = WARM + 2
    entry = ref_fills[0][2]
    level = entry * (1.002 if kind != "short" else 0.998)
    assert ref_stops[be_bar] == pytest.approx(level)  # the kernel moved it at D+2's close
    assert ref_stops[be_bar - 1] == pytest.approx(entry * (0.98 if kind != "short" else 1.02))
    expected = list(ref_stops[WARM:])
    if kind == "through":
        # the bar closed beyond the level: the session closes instead of setting the stop
        expected[be_bar - WARM] = ref_stops[be_bar - 1]
    # the venue's stop after each live bar equals the kernel's (the venue rounds to ticks)
    assert stops == pytest.approx(expected, abs=TICK / 2)
    assert len(live_fills) == len(ref_fills) == 2
    # same entry, and the exit at the break-even price (or the gapped open) on the same bar
    for live, ref in zip(live_fills, ref_fills, strict=True):
        assert live[:2] == ref[:2] and live[3] == ref[3]
        # a slipped fill is on the venue's tick grid, rounded against the trader (< 1 tick)
        assert live[2] == pytest.approx(ref[2], abs=TICK)
    assert ref_fills[1][4] == "STOP_LOSS"
    assert live_fills[1][4] == ("TRADE" if kind == "through" else "STOP_LOSS")
    records = [r for r in read_journal(journal) if r["kind"] == "break_even"]
    assert [(r["bar"], r["action"]) for r in records] == [
        (T0 + be_bar * MIN, "close" if kind == "through" else "stop")]
    assert records[0]["level"] == pytest.approx(level)


def test_trailing_activation_reaches_the_exchange_as_active_price(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trade.live import BybitRest

    sent: list[dict[str, str]] = []
    original = BybitRest.call
    envelope = {"category", "symbol", "tpslMode", "positionIdx"}

    def spy(self: BybitRest, method: str, path: str, params: Any = None,
            **kw: Any) -> dict[str, Any]:
        if path == "/v5/position/trading-stop":
            sent.append({k: v for k, v in dict(params).items() if k not in envelope})
        return original(self, method, path, params, **kw)

    monkeypatch.setattr(BybitRest, "call", spy)
    bars, _, at = _scenario("long")
    request = OrderRequest(SYM, Side.BUY, 0.1, trailing_offset=0.005, trailing_activation=0.01)
    _, fills, failures = _live(bars, request, at, tmp_path / "j.jsonl")
    assert not failures  # the simulator accepted it
    entry = fills[0][2]
    assert sent[0] == {"trailingStop": fmt_step(entry * 0.005, TICK),
                       "activePrice": fmt_step(entry * 1.01, TICK)}
    records = read_journal(tmp_path / "j.jsonl")
    asked = [r for r in records if r["kind"] == "protection_requested"]
    assert asked[0]["activePrice"] == pytest.approx(entry * 1.01)
    # asked, then confirmed by the position read back: two records, in that order
    confirmed = [r for r in records if r["kind"] == "protection_confirmed"]
    assert confirmed and confirmed[0]["held"]["trailingStop"] == pytest.approx(
        float(fmt_step(entry * 0.005, TICK)))
    assert records.index(asked[0]) < records.index(confirmed[0])


def _order_rec(link: str, side: str, be_act: float | None, reduce_only: bool = False
               ) -> dict[str, Any]:
    return {"kind": "order", "link": link, "side": side, "reduce_only": reduce_only,
            "be_act": be_act, "be_off": 0.001 if be_act else 0.0}


def _fill_rec(exec_id: str, link: str, side: str, qty: float, price: float, ts: int
              ) -> dict[str, Any]:
    return {"kind": "fill", "exec_id": exec_id, "link": link, "side": side, "qty": qty,
            "price": price, "exec_ts": ts, "exec_type": "TRADE"}


def test_break_even_is_restored_from_the_journal_of_an_earlier_run() -> None:
    bars = [(T0 - MIN, 99.0, 104.0, 98.0, 99.0), (T0, 100.0, 100.6, 99.5, 100.2),
            (T0 + MIN, 100.2, 100.8, 100.0, 100.5)]
    records = [
        _order_rec("a", "Buy", 0.01), _fill_rec("e1", "a", "Buy", 1.0, 100.0, T0 + 30_000),
        _fill_rec("e1", "a", "Buy", 1.0, 100.0, T0 + 30_000),  # journaled again: counted once
    ]
    long1 = Position(SYM, side=1, size=1.0, entry_price=100.0, stop_loss=95.0)
    t = BreakEvenTracker(SYM)
    st = t.restore(records, long1, bars)
    # best from the entry's own bar on (the bar before it is not counted), settings kept
    assert st is not None and t.state is st
    assert (st.side, st.best, st.from_ts, st.activation, st.offset, st.done) == (
        1, 100.8, T0, 0.01, 0.001, False)
    # it then fires as the uninterrupted tracker would
    action = t.on_bar(T0 + 2 * MIN, 101.1, 100.4, 100.9, long1)
    assert action is not None and action.level == pytest.approx(100.1)
    # a break-even the earlier run already applied stays done
    done = BreakEvenTracker(SYM).restore(
        [*records, {"kind": "break_even", "bar": T0 + MIN, "level": 100.1}], long1, bars)
    assert done is not None and done.done
    # the journal does not account for the exchange's position: nothing restored
    t2 = BreakEvenTracker(SYM)
    assert t2.restore(records, Position(SYM, side=1, size=2.0, entry_price=100.0), bars) is None
    assert t2.state is None
    assert t2.restore(records, Position(SYM), bars) is None  # flat
    # closed (a stop from the exchange: no link) then reopened short by an order without
    # break-even: a new position, best from its own fill, no activation
    more = [*records, _fill_rec("e2", "", "Sell", 1.0, 99.0, T0 + 2 * MIN + 1),
            _order_rec("b", "Sell", None), _fill_rec("e3", "b", "Sell", 0.5, 98.0,
                                                     T0 + 3 * MIN + 5)]
    short = Position(SYM, side=-1, size=0.5, entry_price=98.0)
    st3 = BreakEvenTracker(SYM).restore(more, short, [*bars, (T0 + 3 * MIN, 98.0, 98.5,
                                                               97.2, 97.9)])
    assert st3 is not None and (st3.side, st3.best, st3.activation) == (-1, 97.2, 0.0)


def test_break_even_level_is_on_the_tick_grid_and_through_is_judged_on_it() -> None:
    """Entry 100, offset 0.3 % -> 100.3 -> 100.5 on the 0.5 grid, the stop the exchange
    would hold. A close at 100.4 is already through it: the session closes instead of
    sending a stop Bybit would refuse (the kernel gaps through it at the next open)."""
    t = BreakEvenTracker(SYM, 0.5)
    req = OrderRequest(SYM, Side.BUY, 1.0, break_even_activation=0.01, break_even_offset=0.003)
    t.on_entry(_filled(req, 100.0), T0)
    pos = Position(SYM, side=1, size=1.0, entry_price=100.0, stop_loss=95.0)
    action = t.on_bar(T0, 101.2, 99.8, 100.4, pos)
    assert action is not None and action.level == 100.5 and action.through
