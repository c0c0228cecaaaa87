"""Protection of a live position (trade.live.protect, docs/live.md "Protection"):
provisional SL/TP on the entry, trading-stops confirmed by reading the position back, the
close-and-pause fallback when they cannot be, and the repair of a position on start."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest_exsim import KEY, SECRET, fast_cross_play_yaml, make_server, synthetic_bars
from trade.core import OrderRequest, OrderType, Side
from trade.engine import DEFAULT_INSTRUMENT, PlayEngine, order_plan, sim_config
from trade.exchange_sim import ExchangeSimServer, FaultConfig
from trade.live import (
    BybitRest,
    Credentials,
    LiveRunner,
    ProtectionPolicy,
    RiskLimits,
    RunConfig,
    make_session,
    read_journal,
)
from trade.live.protect import verdict, with_provisional
from trade.play import Play, load_play
from trade.sim.config import round_to_tick

SYM = "BTCUSDT"
CREDS = Credentials(KEY, SECRET)
FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.5}
BRACKET_YAML = fast_cross_play_yaml("protected_cross").replace(
    "position_policy:", "risk: {stop_loss_pct: 4.0, take_profit_pct: 8.0}\nposition_policy:"
).replace("allow_flip: false}", "allow_flip: false, exit_mode: first_hit}")  # signal exits
SL_OFF, TP_OFF = 0.02, 0.04  # 4 % / 8 % ROI at 2x leverage, as price fractions
REFUSE_TS = FaultConfig(rest_paths=("/v5/position/trading-stop",), rest_error_rate=1.0)


# ------------------------------------------------------------------ provisional levels


@settings(max_examples=300, deadline=None)
@given(ref=st.floats(100.0, 100_000.0), sl=st.floats(0.001, 0.2), tp=st.floats(0.001, 0.5),
       margin=st.floats(0.0, 0.02), move=st.floats(-1.0, 1.0), buy=st.booleans(),
       tick=st.sampled_from([0.01, 0.1, 0.5]))
def test_provisional_levels_are_looser_than_the_exact_ones_for_fills_within_the_margin(
        ref: float, sl: float, tp: float, margin: float, move: float, buy: bool,
        tick: float) -> None:
    """A fill that lands within the margin of the decision price gets exact levels (what the
    backtest attaches at the fill, on the tick grid) no looser than the provisional ones:
    the provisional stop and take profit can only fire where the exact ones would."""
    side = Side.BUY if buy else Side.SELL
    s = 1.0 if buy else -1.0
    req = OrderRequest(SYM, side, 0.1, stop_loss_offset=sl, take_profit_offset=tp)
    prov = with_provisional(req, ref, margin, tick)
    assert prov.stop_loss is not None and prov.take_profit is not None
    # the fill moved against the decision price by at most what the margin covers
    bound = min(margin / (1 + sl), margin / (1 + tp))
    fill = ref * (1 + move * bound)
    exact_sl = round_to_tick(fill * (1 - s * sl), tick)
    exact_tp = round_to_tick(fill * (1 + s * tp), tick)
    if buy:
        assert prov.stop_loss <= exact_sl + 1e-9 and prov.take_profit >= exact_tp - 1e-9
    else:
        assert prov.stop_loss >= exact_sl - 1e-9 and prov.take_profit <= exact_tp + 1e-9
    # on the tick grid, as Bybit wants them
    assert prov.stop_loss == pytest.approx(round_to_tick(prov.stop_loss, tick), abs=1e-9)


def test_provisional_levels_only_on_entries_with_brackets() -> None:
    exit_ = OrderRequest(SYM, Side.SELL, 0.1, reduce_only=True)
    bare = OrderRequest(SYM, Side.BUY, 0.1)
    assert with_provisional(exit_, 30_000, 0.005, 0.1) is exit_
    assert with_provisional(bare, 30_000, 0.005, 0.1) is bare
    limit = OrderRequest(SYM, Side.BUY, 0.1, OrderType.LIMIT, price=29_000.0,
                         stop_loss_offset=0.01)
    # a limit fills at its price or better: the levels come from the limit price
    from trade.live.protect import decision_price

    assert decision_price(limit, 30_000.0) == 29_000.0
    assert with_provisional(limit, 29_000.0, 0.005, 0.1).stop_loss == pytest.approx(
        29_000.0 * (1 - 0.015))


def test_verdict_reads_the_position_back() -> None:
    row = {"symbol": SYM, "side": "Buy", "size": "0.1", "stopLoss": "29400",
           "takeProfit": "31200", "trailingStop": "0"}
    want = {"stopLoss": 29_400.0, "takeProfit": 31_200.0}
    assert verdict(row, want, 1, 0.1) == (True, "held")
    # a stop moved tighter since (break-even, a trail) still protects at least as asked
    assert verdict({**row, "stopLoss": "29900"}, want, 1, 0.1)[0]
    ok, why = verdict({**row, "stopLoss": "29000"}, want, 1, 0.1)
    assert not ok and "stopLoss" in why
    ok, why = verdict({**row, "stopLoss": "0"}, want, 1, 0.1)
    assert not ok and why == "no stopLoss on the position"
    assert not verdict({**row, "takeProfit": "31300"}, want, 1, 0.1)[0]
    assert verdict({**row, "size": "0"}, want, 1, 0.1) == (True, "flat")
    assert verdict(None, want, 1, 0.1) == (True, "flat")
    short = {**row, "side": "Sell", "stopLoss": "30600"}
    assert verdict(short, {"stopLoss": 30_650.0}, -1, 0.1)[0]  # tighter for a short
    assert not verdict(short, {"stopLoss": 30_500.0}, -1, 0.1)[0]
    assert not verdict(row, {"takeProfit": 0.0}, 1, 0.1)[0]  # asked to clear, still set


# ------------------------------------------------------------------ against the simulator


def _play(tmp: Path, yaml: str = BRACKET_YAML) -> Play:
    path = tmp / "protected.yml"
    path.write_text(yaml)
    return load_play(path)


class Run:
    """A LiveRunner on its own thread against `sim` (stopped by `close`)."""

    def __init__(self, play: Play, sim: ExchangeSimServer, journal: Path, *,
                 policy: ProtectionPolicy | None = None, tag: str = "prot") -> None:
        plan = order_plan(play, DEFAULT_INSTRUMENT)
        cfg = RunConfig(symbol=SYM, mode="demo", endpoint=sim.base_url, credentials=CREDS,
                        journal_path=journal, stream_options=FAST, rest_timeout_s=0.5,
                        tag=tag, risk_limits=RiskLimits(max_orders_per_minute=None),
                        protection=policy or ProtectionPolicy())
        self.runner = LiveRunner(cfg, lambda a: PlayEngine(play, a, plan=plan))
        self.thread = threading.Thread(target=self.runner.run, name="live-engine-prot")
        self.thread.start()
        assert self.runner.ready.wait(20), self.runner.error

    def close(self) -> None:
        self.runner.stop()
        self.thread.join(15)
        assert not self.thread.is_alive()


def _until(pred: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    tick = threading.Event()
    waited = 0.0
    while waited < timeout:
        if pred():
            return True
        tick.wait(every)
        waited += every
    return pred()


def test_refused_trading_stops_leave_no_position_without_a_stop(tmp_path: Path) -> None:
    """Every trading-stop refused: the entry's provisional stop protects the position from
    its fill; protection is not confirmed within the deadline, so the position is closed
    reduce-only and new entries pause; the journal says why and never claims a stop that
    was not confirmed. Sampled every 50 ms: no moment with a position and no stop loss."""
    play = _play(tmp_path)
    bars = synthetic_bars(n=400, seed=11)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    journal = tmp_path / "j.jsonl"
    policy = ProtectionPolicy(deadline_s=2.0, backoff_initial_s=0.1, backoff_max_s=0.4)
    with make_server(bars, warm=5, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT)
                     ) as sim:
        sim.configure_faults(REFUSE_TS)
        run = Run(play, sim, journal, policy=policy)
        unprotected: list[float] = []  # seconds seen with a position and no stop loss
        held_s = 0.0
        opened = False
        try:
            runner = run.runner
            for i in range(1, 120):
                sim.step()
                assert runner.wait_bars(i, 20), (i, runner.error)
                for _ in range(6):  # 0.3 s of samples per bar: the deadline spans bars
                    pos = sim.inspect(lambda v: v.engine.position())
                    if pos.side != 0:
                        opened = True
                        held_s += 0.05
                        if pos.stop_loss <= 0:
                            unprotected.append(held_s)
                    threading.Event().wait(0.05)
                session = runner.session
                assert session is not None
                if session.paused and sim.inspect(lambda v: v.engine.position().side) == 0:
                    break
            session = runner.session
            assert session is not None
            paused = session.paused
            flat = sim.inspect(lambda v: v.engine.position().side) == 0  # closed, not held
            # paused: later entry signals place nothing
            before = sim.inspect(lambda v: len(v.orders))
            for j in range(i + 1, i + 40):
                sim.step()
                assert runner.wait_bars(j, 20), (j, runner.error)
            after_orders = sim.inspect(lambda v: [(r.order.order_link_id,
                                                   r.order.request.reduce_only)
                                                  for r in v.orders.values()])
        finally:
            run.close()
    assert opened and not unprotected and flat
    assert paused and "not confirmed" in paused
    assert all(reduce_only for _, reduce_only in after_orders[before:])
    records = read_journal(journal)
    kinds = [r["kind"] for r in records]
    assert "protection_requested" in kinds and "protection_confirmed" not in kinds
    failed = [r for r in records if r["kind"] == "protection_failed"]
    assert failed and "trading-stop refused" in failed[0]["detail"]
    assert failed[0]["attempts"] >= 2  # retried with backoff before giving up
    assert failed[0]["elapsed_ms"] <= 2_000 + 1_000  # within the deadline (+ one attempt)
    # the fallback: a reduce-only close, then the pause, said in journal and notification
    i_fail = kinds.index("protection_failed")
    assert kinds.index("protection_close") > i_fail and kinds.index("paused") > i_fail
    assert any(r["kind"] == "notify" and r["event"] == "paused" for r in records)
    refused = [r for r in records if r["kind"] == "order_refused"]
    assert all("paused" in r["reason"] for r in refused)
    # the entry carried its provisional stop on the order itself
    entry = next(r for r in records if r["kind"] == "order" and not r["reduce_only"])
    assert entry["sl"] and entry["tp"] and entry["sl_off"] == pytest.approx(SL_OFF)


def test_protection_confirmed_when_trading_stop_works(tmp_path: Path) -> None:
    """Fault-free: each entry's exact levels are asked, then confirmed from the position,
    and the exchange holds exactly the fill-relative levels (not the provisional ones)."""
    play = _play(tmp_path)
    bars = synthetic_bars(n=400, seed=11)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    journal = tmp_path / "j.jsonl"
    with make_server(bars, warm=5, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT)
                     ) as sim:
        run = Run(play, sim, journal)
        try:
            held = None
            for i in range(1, 60):
                sim.step()
                assert run.runner.wait_bars(i, 20), (i, run.runner.error)
                pos = sim.inspect(lambda v: v.engine.position())
                if pos.side != 0:
                    held = pos
                    break
        finally:
            run.close()
    assert held is not None
    s = float(held.side)
    assert held.stop_loss == pytest.approx(round_to_tick(
        held.entry_price * (1 - s * SL_OFF), 0.1))
    assert held.take_profit == pytest.approx(round_to_tick(
        held.entry_price * (1 + s * TP_OFF), 0.1))
    records = read_journal(journal)
    asked = [r for r in records if r["kind"] == "protection_requested"]
    done = [r for r in records if r["kind"] == "protection_confirmed"]
    assert asked and done and done[0]["reason"] == "entry" and done[0]["attempts"] == 1
    assert done[0]["held"]["stopLoss"] == pytest.approx(held.stop_loss)
    assert records.index(asked[0]) < records.index(done[0])


@pytest.mark.parametrize("policy", ["attach", "close", "report"])
def test_a_position_the_journal_does_not_know_follows_the_policy(
        policy: str, tmp_path: Path) -> None:
    play = _play(tmp_path)
    bars = synthetic_bars(n=400, seed=11)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    journal = tmp_path / "j.jsonl"
    with make_server(bars, warm=30, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT)
                     ) as sim:
        rest = BybitRest(make_session("demo", endpoint=sim.base_url, credentials=CREDS))
        rest.create_order({"category": "linear", "symbol": SYM, "side": "Buy",
                           "orderType": "Market", "qty": "0.05", "orderLinkId": "manual-1"})
        sim.step()
        entry = sim.inspect(lambda v: v.engine.position().entry_price)
        assert entry > 0
        run = Run(play, sim, journal, policy=ProtectionPolicy(
            unknown_position=policy,  # type: ignore[arg-type]
            fallback_sl_offset=SL_OFF, fallback_tp_offset=TP_OFF))
        try:
            if policy == "close":  # the close is sent on start; it fills at the next bar
                assert _until(lambda: sim.inspect(lambda v: len(v.orders)) >= 2, 10)
            sim.step()
            assert run.runner.wait_bars(1, 20), run.runner.error
            pos = sim.inspect(lambda v: v.engine.position())
        finally:
            run.close()
    records = read_journal(journal)
    unknown = [r for r in records if r["kind"] == "unknown_position"]
    assert len(unknown) == 1 and unknown[0]["policy"] == policy
    assert any(r["kind"] == "notify" and r["event"] == "unknown_position" for r in records)
    if policy == "attach":
        assert pos.side == 1
        assert pos.stop_loss == pytest.approx(round_to_tick(entry * (1 - SL_OFF), 0.1))
        assert pos.take_profit == pytest.approx(round_to_tick(entry * (1 + TP_OFF), 0.1))
        done = [r for r in records if r["kind"] == "protection_confirmed"]
        assert done and done[0]["reason"] == "unknown_position"
    elif policy == "close":
        assert pos.side == 0
    else:
        assert pos.side == 1 and pos.stop_loss == 0



def test_kill_9_between_the_fill_and_the_trading_stop_is_repaired_on_restart(
        tmp_path: Path) -> None:
    """`trade run` in a subprocess; its trading-stops never land, and it is killed (-9)
    right after its entry filled, holding only the entry's provisional levels. A restart on
    the same journal sends the exact fill-relative levels and confirms them before it
    decides anything."""
    import os
    import signal
    import subprocess
    import sys

    play_path = tmp_path / "protected.yml"
    play_path.write_text(BRACKET_YAML)
    play = load_play(play_path)
    bars = synthetic_bars(n=400, seed=11)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    journal = tmp_path / "run.jsonl"
    env = dict(os.environ, BYBIT_DEMO_API_KEY=KEY, BYBIT_DEMO_API_SECRET=SECRET)
    with make_server(bars, warm=20, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT)
                     ) as sim:
        sim.configure_faults(REFUSE_TS)
        proc = subprocess.Popen(
            [sys.executable, "-m", "trade", "run", str(play_path), "--mode", "demo",
             "--endpoint", sim.base_url, "--journal", str(journal), "--data-dir",
             str(tmp_path / "no-store"), "--protect-deadline", "60"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            text = lambda: journal.read_text() if journal.exists() else ""  # noqa: E731
            assert _until(lambda: '"kind":"ready"' in text() or proc.poll() is not None, 30)
            assert proc.poll() is None, proc.communicate()
            for _ in range(200):
                bars_seen = text().count('"kind":"bar"')
                sim.step()
                assert _until(lambda n=bars_seen: text().count('"kind":"bar"') > n  # type: ignore[misc]
                              or '"protection_requested"' in text(), 10)
                if '"protection_requested"' in text():
                    break
            assert '"protection_requested"' in text()
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        proc.communicate()
        held = sim.inspect(lambda v: v.engine.position())
        assert held.side != 0
        s = float(held.side)
        exact_sl = round_to_tick(held.entry_price * (1 - s * SL_OFF), 0.1)
        exact_tp = round_to_tick(held.entry_price * (1 + s * TP_OFF), 0.1)
        # killed holding the provisional levels only (looser than the exact ones)
        assert held.stop_loss > 0 and held.stop_loss != pytest.approx(exact_sl)
        first_run = len(read_journal(journal))
        sim.configure_faults(FaultConfig())
        run = Run(play, sim, journal)
        try:
            assert _until(lambda: any(r["kind"] == "protection_confirmed"
                                      for r in read_journal(journal)[first_run:]), 20)
            repaired = sim.inspect(lambda v: v.engine.position())
        finally:
            run.close()
    assert repaired.side == held.side and repaired.size == pytest.approx(held.size)
    assert repaired.stop_loss == pytest.approx(exact_sl)
    assert repaired.take_profit == pytest.approx(exact_tp)
    second = read_journal(journal)[first_run:]
    kinds = [r["kind"] for r in second]
    done = next(r for r in second if r["kind"] == "protection_confirmed")
    assert done["reason"] == "restart"
    # sent and confirmed before any new decision of the restarted run
    assert "signal" not in kinds[:kinds.index("protection_confirmed")]
    assert "unknown_position" not in kinds
