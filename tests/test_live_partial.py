"""Partial TP/SL in the live stack (docs/live.md "Partial TP/SL"): the levels a live entry
sends are the kernel's own (differential against SimExchange), the read-back check finds
what is missing and forgets levels the position has already closed, and the journal
carries what a restart needs to repair them."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from tests.test_live_session import (
    BREAK_EVEN_YAML,
    FAST,
    PLAY_YAML,
    _backtest_fills,
    _key,
    _live_fills,
    _run,
    _run_paper,
)
from trade.core import FillEvent, Order, OrderRequest, OrderStatus, Side
from trade.engine import DEFAULT_INSTRUMENT, PlayEngine, order_plan, sim_config
from trade.exchange_sim import FaultConfig
from trade.live import (
    Credentials,
    LiveRunner,
    ProtectionPolicy,
    RiskLimits,
    RunConfig,
    read_journal,
)
from trade.live.executor import bracket_prices
from trade.live.journal import order_fields
from trade.live.protect import (
    PartialPlan,
    entry_plan,
    partial_missing,
    plan_from,
    split_levels,
    uses_partial,
    with_provisional,
)
from trade.play import Play, load_play
from trade.sim import SimConfig, SimExchange

SYM = "BTCUSDT"
NAN = float("nan")


@st.composite
def _levels(draw: st.DrawFn) -> tuple[tuple[float, float], ...]:
    n = draw(st.integers(1, 5))
    pcts = sorted(set(draw(st.lists(st.floats(0.001, 0.2), min_size=n, max_size=n))))
    sizes = draw(st.lists(st.floats(0.05, 1.0), min_size=len(pcts), max_size=len(pcts)))
    return tuple(zip(pcts, sizes, strict=True))


@settings(max_examples=200, deadline=None)
@given(levels=_levels(), buy=st.booleans(), qty_units=st.integers(1, 500),
       price=st.floats(50.0, 90_000.0), tick=st.sampled_from([0.01, 0.1, 0.5]),
       step=st.sampled_from([0.001, 0.01, 0.1]))
def test_live_split_levels_are_the_kernels(levels: tuple[tuple[float, float], ...], buy: bool,
                                           qty_units: int, price: float, tick: float,
                                           step: float) -> None:
    """The (price, qty) pairs a live entry sends as Partial take-profits equal the levels
    the backtest kernel cuts at the same fill."""
    qty = qty_units * step
    # a level within a tick of the fill is reached by the fill bar itself (not this test's)
    assume(levels[0][0] * price > 2 * tick)
    cfg = SimConfig(symbol=SYM, initial_balance=1e12, tick_size=tick, qty_step=step)
    engine = SimExchange(cfg)
    engine.on_bar(0, price, price, price, price, 1.0, NAN, NAN)
    side = Side.BUY if buy else Side.SELL
    req = OrderRequest(SYM, side, qty, take_profit_levels=levels, tp_limit=True)
    engine.submit(req)
    engine.on_bar(60_000, price, price, price, price, 1.0, NAN, NAN)
    fill = next(e.fill for e in engine.drain_events() if isinstance(e, FillEvent))
    sign = 1 if buy else -1
    mine = split_levels(fill.price, sign, fill.qty, levels, tick, step)
    assert list(mine) == engine.take_profit_levels()
    # and through the entry's bracket plan, as the session builds it
    order = Order("o-1", req, OrderStatus.FILLED, 0, 60_000, fill.qty, fill.price)
    brackets = bracket_prices(order)
    plan = plan_from(req, sign, fill.price, fill.qty, brackets, tick, step)
    assert plan is not None and plan.take_profits == mine and plan.tp_limit
    assert "takeProfit" not in brackets


def _row(kind: str, trigger: float, qty: float, *, limit: bool = False, mark: bool = False
         ) -> dict[str, Any]:
    return {"stopOrderType": kind, "triggerPrice": str(trigger), "qty": str(qty),
            "orderType": "Limit" if limit else "Market",
            "triggerBy": "MarkPrice" if mark else "LastPrice"}


def test_partial_missing_finds_what_the_exchange_does_not_list() -> None:
    plan = PartialPlan(((101.0, 0.3), (102.0, 0.3), (103.0, 0.4)), tp_limit=True,
                       stop_loss=98.0, sl_by_mark=True, size=1.0)
    pos = {"symbol": SYM, "side": "Buy", "size": "1"}
    tps = [_row("PartialTakeProfit", p, q, limit=True) for p, q in plan.take_profits]
    sl = _row("PartialStopLoss", 98.0, 1.0, mark=True)
    assert partial_missing(plan, [*tps, sl], pos, 1, 0.1, 0.1) == ([], False, "held")
    missing, send_sl, why = partial_missing(plan, tps[:2], pos, 1, 0.1, 0.1)
    assert missing == [(103.0, 0.4)] and send_sl and "1 Partial" in why
    # a market order where a limit one is wanted, or a looser stop, does not count
    wrong = [_row("PartialTakeProfit", 101.0, 0.3), *tps[1:],
             _row("PartialStopLoss", 97.0, 1.0, mark=True)]
    missing, send_sl, _ = partial_missing(plan, wrong, pos, 1, 0.1, 0.1)
    assert missing == [(101.0, 0.3)] and send_sl
    # the first level filled (the position is 0.7): it is not wanted again
    smaller = {**pos, "size": "0.7"}
    sl_07 = _row("PartialStopLoss", 98.5, 0.7, mark=True)  # tighter than asked: fine
    assert partial_missing(plan, [*tps[1:], sl_07], smaller, 1, 0.1, 0.1) == ([], False, "held")
    # flat: nothing is missing
    assert partial_missing(plan, [], {**pos, "size": "0"}, 1, 0.1, 0.1)[:2] == ([], False)


def test_partial_entries_carry_no_provisional_take_profit_and_journal_their_plan() -> None:
    req = OrderRequest(SYM, Side.BUY, 0.5, stop_loss_offset=0.02,
                       take_profit_levels=((0.01, 0.5), (0.02, 1.0)), sl_by_mark=True)
    assert uses_partial(req) == (True, True)
    prov = with_provisional(req, 30_000.0, 0.005, 0.1)
    assert prov.take_profit is None and prov.stop_loss is not None  # the stop stays Full
    plain = OrderRequest(SYM, Side.BUY, 0.5, stop_loss_offset=0.02, take_profit_offset=0.04)
    assert uses_partial(plain) == (False, False)
    assert with_provisional(plain, 30_000.0, 0.005, 0.1).take_profit is not None
    rec = order_fields("link-1", req)
    assert rec["tp_levels"] == [[0.01, 0.5], [0.02, 1.0]] and rec["sl_by_mark"] is True
    assert "tp_limit" not in order_fields("link-2", plain)
    # a restart rebuilds the entry's plan from the record at the position's entry price
    levels = {"stopLoss": 29_400.0}
    plan = entry_plan(rec, 1, 30_000.0, levels, 0.1, 0.001)
    order = Order("o", req, OrderStatus.FILLED, 0, 0, 0.5, 30_000.0)
    again = plan_from(req, 1, 30_000.0, 0.5, bracket_prices(order), 0.1, 0.001)
    assert plan is not None and again is not None
    assert plan.take_profits == again.take_profits and plan.stop_loss == 29_400.0
    assert levels == {}  # the stop went Partial (mark-price trigger)
    assert replace(plan, take_profits=(), stop_loss=0.0).record()["size"] == 0.5


# ------------------------------------------------------- live runs against the simulator

_RISK = ("risk:\n  stop_loss_pct: 0.2\n  {stop}\n  tp_order_type: Limit\n"
         "  take_profit_levels:\n    - {{pct: 0.1, size_pct: 50}}\n"
         "    - {{pct: 0.3, size_pct: 50}}\n    - {{pct: 0.6, size_pct: 100}}\n"
         "position_policy:")


def _split_play(tmp: Path, stop: str) -> Play:
    path = tmp / "split.yml"
    path.write_text(PLAY_YAML.replace("position_policy:", _RISK.format(stop=stop)))
    return load_play(path)


@pytest.mark.parametrize("stop", ["sl_order_type: Limit", "sl_trigger_by: MarkPrice"])
def test_a_demo_run_with_three_limit_take_profits_trades_as_its_backtest(
        tmp_path: Path, stop: str) -> None:
    """`trade run` in demo mode against the simulator: a Play with three take-profit levels
    as limits (and a limit or mark-price stop) sends them as Partial trading-stops and makes
    the backtest's fills on the same bars, maker take-profits and stop-outs included."""
    play = _split_play(tmp_path, stop)
    bars = synthetic_bars(n=400, seed=11)
    ref = _backtest_fills(play, bars, 5 + 200)
    live = _live_fills(play, bars, 200, tmp_path)
    kinds = [f.exec_type.name for f in ref]
    assert kinds.count("TAKE_PROFIT") >= 10 and "STOP_LOSS" in kinds
    assert all(f.is_maker for f in ref if f.exec_type.name == "TAKE_PROFIT")
    assert [_key(f) for f in live] == [_key(f) for f in ref]
    assert [f.is_maker for f in live] == [f.is_maker for f in ref]
    journal = read_journal(tmp_path / "journal.jsonl")
    asked = [r for r in journal if r["kind"] == "protection_requested"]
    assert asked and all(len(r["partial"]["tp_levels"]) == 3 for r in asked)
    assert sum(r["kind"] == "protection_confirmed" for r in journal) == len(asked)
    assert not any(r["kind"] == "protection_failed" for r in journal)


def test_a_restart_keeps_the_listed_partial_orders_and_sends_none_twice(
        tmp_path: Path) -> None:
    """Stopped with a short whose first level has filled, a restarted run finds the two
    levels left and the stop listed (it reads before it sends), adds nothing, and both runs
    together trade as one uninterrupted backtest."""
    play = _split_play(tmp_path, "sl_order_type: Limit")
    bars = synthetic_bars(n=400, seed=11)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    first, second = 21, 40  # the first run's last bar: a short with one level filled
    with make_server(bars, warm=5, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT),
                     rate_limits={"/v5/position/trading-stop": 1000}) as sim:
        _run(play, sim, first, tmp_path)
        left = sim.inspect(lambda v: [r.order.request.qty for r in v.partial_tps])
        held_sl = sim.inspect(lambda v: v.partial_sl is not None)
        runner = _run(play, sim, second, tmp_path)
        session = runner.session
        assert session is not None
        fills = list(session.book.fills)
        made = sim.inspect(lambda v: sum(1 for r in v.orders.values()
                                         if r.stop_order_type == "PartialTakeProfit"))
    assert len(left) == 2 and held_sl  # one level filled, two and the stop listed
    journal = read_journal(tmp_path / "journal.jsonl")
    starts = [i for i, r in enumerate(journal) if r["kind"] == "start"]
    assert len(starts) == 2
    repair = [r for r in journal[starts[1]:] if r["kind"] == "protection_requested"
              and r["reason"] == "restart"]
    assert len(repair) == 1
    entries = [r for r in journal if r["kind"] == "protection_requested"
               and r["reason"] == "entry"]
    assert made == 3 * len(entries)  # three levels per entry, none sent again on restart
    ref = _backtest_fills(play, bars, 5 + first + second)
    first_fills = [r for r in journal[:starts[1]] if r["kind"] == "fill"]
    before = {r["exec_id"] for r in first_fills}
    keys = [(int(Side.BUY if r["side"] == "Buy" else Side.SELL), round(r["qty"], 9),
             round(r["price"], 6), r["exec_ts"], r["exec_type"]) for r in first_fills]
    keys += [_key(f) for f in fills if f.exec_id not in before]
    assert keys == [_key(f) for f in ref]


def test_break_even_moves_a_limit_stop_as_a_partial_stop_and_trades_as_the_backtest(
        tmp_path: Path) -> None:
    """A limit stop is a Partial stop; a break-even moves it as a Partial stop of the same
    kind (a Full one would make it a market stop), so the live run stays the backtest."""
    path = tmp_path / "be_limit.yml"
    path.write_text(BREAK_EVEN_YAML.replace("risk_model:\n",
                                            "risk_model:\n  sl_order_type: Limit\n"))
    play = load_play(path)
    bars = synthetic_bars(n=400, seed=11)
    ref = _backtest_fills(play, bars, 5 + 200)
    live = _live_fills(play, bars, 200, tmp_path)
    stops = [f for f in ref if f.exec_type.name == "STOP_LOSS"]
    assert stops and all(f.is_maker for f in stops)
    assert [(*_key(f), f.is_maker) for f in live] == [(*_key(f), f.is_maker) for f in ref]
    journal = read_journal(tmp_path / "journal.jsonl")
    moved = [r for r in journal if r["kind"] == "protection_requested"
             and r["reason"] == "break_even"]
    assert moved and all(r["partial"]["sl_limit"] for r in moved)
    assert sum(r["kind"] == "protection_confirmed" for r in journal) == sum(
        r["kind"] == "protection_requested" for r in journal)


def test_paper_mode_passes_split_limit_brackets_to_its_kernel(tmp_path: Path) -> None:
    """`--mode paper` fills with its own step engine: the entry's levels and flags reach
    it with the request, so paper fills are the backtest's, maker take-profits included."""
    play = _split_play(tmp_path, "sl_trigger_by: MarkPrice")
    bars = synthetic_bars(n=400, seed=11)
    n = 120
    with make_server(bars, warm=5) as sim:
        runner = _run_paper(play, sim, n, tmp_path)
    assert runner.error is None
    records = read_journal(tmp_path / "journal.jsonl")
    entries = [r for r in records if r["kind"] == "order" and not r["reduce_only"]]
    assert entries and all(len(r["tp_levels"]) == 3 and r["tp_limit"] and r["sl_by_mark"]
                           for r in entries)
    fills = [r for r in records if r["kind"] == "fill"]
    ref = _backtest_fills(play, bars, 5 + n)
    assert sum(f.exec_type.name == "TAKE_PROFIT" for f in ref) >= 3
    assert [(int(Side.BUY if r["side"] == "Buy" else Side.SELL), round(r["qty"], 9),
             round(r["price"], 6), r["exec_ts"], r["exec_type"]) for r in fills] == [
        _key(f) for f in ref]


def test_refused_partial_brackets_close_the_position_and_pause(tmp_path: Path) -> None:
    """Issue 14's guarantee holds with Partial brackets: every trading-stop refused, the
    entry's provisional Full stop protects the position from its fill, the Partial levels
    and stop are never confirmed, so the position is closed reduce-only and entries pause."""
    play = _split_play(tmp_path, "sl_order_type: Limit")
    bars = synthetic_bars(n=400, seed=11)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    journal = tmp_path / "j.jsonl"
    refuse = FaultConfig(rest_paths=("/v5/position/trading-stop",), rest_error_rate=1.0)
    with make_server(bars, warm=5, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT)
                     ) as sim:
        sim.configure_faults(refuse)
        cfg = RunConfig(symbol="BTCUSDT", mode="demo", endpoint=sim.base_url,
                        credentials=Credentials(KEY, SECRET), journal_path=journal,
                        stream_options=FAST, rest_timeout_s=0.5, tag="pprot",
                        risk_limits=RiskLimits(max_orders_per_minute=None),
                        protection=ProtectionPolicy(deadline_s=1.0, backoff_initial_s=0.1,
                                                    backoff_max_s=0.2))
        runner = LiveRunner(cfg, lambda a: PlayEngine(play, a, plan=plan))
        thread = threading.Thread(target=runner.run, name="live-engine-pprot")
        thread.start()
        stops: list[float] = []
        try:
            assert runner.ready.wait(20), runner.error
            for i in range(1, 120):
                sim.step()
                assert runner.wait_bars(i, 20), (i, runner.error)
                pos = sim.inspect(lambda v: v.engine.position())
                if pos.side != 0:
                    stops.append(float(pos.stop_loss))
                session = runner.session
                assert session is not None
                if session.paused and sim.inspect(lambda v: v.engine.position().side) == 0:
                    break
            paused = session.paused
        finally:
            runner.stop()
            thread.join(15)
    assert stops and all(s > 0 for s in stops)  # the provisional stop from the fill on
    assert paused and "not confirmed" in paused
    records = read_journal(journal)
    kinds = [r["kind"] for r in records]
    assert "protection_confirmed" not in kinds
    failed = next(r for r in records if r["kind"] == "protection_failed")
    assert "Partial take-profit refused" in failed["detail"]
    assert kinds.index("protection_close") > kinds.index("protection_failed")


class _FillsBetweenReads:
    """A REST stand-in whose nearest take-profit fills right after the first read of a
    confirmation, whichever endpoint that read is: the race of a live repair."""

    def __init__(self, plan: PartialPlan) -> None:
        self.stop = threading.Event()
        self.sent: list[dict[str, Any]] = []
        self.size = plan.size
        self.tps = [_row("PartialTakeProfit", p, q, limit=plan.tp_limit)
                    for p, q in plan.take_profits]
        self.first = plan.take_profits[0][1]
        self.reads = 0

    def open_orders(self, symbol: str) -> list[dict[str, Any]]:
        rows = list(self.tps)
        self._after_read()
        return rows

    def call(self, method: str, path: str, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        if method == "POST":
            self.sent.append(params)
            return {}
        rows = [{"symbol": SYM, "side": "Buy", "size": str(self.size), "stopLoss": "0",
                 "takeProfit": "0", "trailingStop": "0"}]
        self._after_read()
        return {"list": rows}

    def _after_read(self) -> None:
        self.reads += 1
        if self.reads == 1:
            self.tps.pop(0)
            self.size = round(self.size - self.first, 9)


def test_a_take_profit_filling_between_the_confirmation_reads_is_not_sent_again() -> None:
    """A repair reads the open orders, then the position: a level that fills in between is
    either listed or out of the size, so nothing is sent (reading the position first made
    the filled level look missing, and a restart sent it a second time)."""
    from trade.core.clock import WallClock
    from trade.live.book import AccountBook
    from trade.live.executor import OrderExecutor

    plan = PartialPlan(((101.0, 0.3), (102.0, 0.3), (103.0, 0.4)), tp_limit=True, size=1.0)
    rest = _FillsBetweenReads(plan)
    posted: list[Any] = []
    done = threading.Event()

    def post(event: Any) -> None:
        posted.append(event)
        done.set()

    ex = OrderExecutor(rest, AccountBook(), post, WallClock(),  # type: ignore[arg-type]
                       replace(DEFAULT_INSTRUMENT, tick_size=0.1, qty_step=0.1))
    try:
        ex.protect(SYM, {}, 1, ProtectionPolicy(deadline_s=2.0), plan, blind=False)
        assert done.wait(10)
    finally:
        ex.shutdown()
    assert rest.reads == 2  # the orders, then the position, once: confirmed at once
    assert rest.sent == []
    assert posted and posted[0].confirmed, posted
