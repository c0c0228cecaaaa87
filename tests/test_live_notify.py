"""`trade run`'s notifications end to end: a paper run's fills reach a local receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_notify import Receiver

from tests.conftest_exsim import make_server, synthetic_bars
from tests.test_live_session import BRACKET_YAML, FAST, SYM
from trade.core import SimulatedClock
from trade.engine import DEFAULT_INSTRUMENT, PlayEngine, order_plan, sim_config
from trade.live import LiveRunner, RunConfig, read_journal
from trade.notify import Notifier, RateLimit, chain_listeners
from trade.play import load_play


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
    r.thread.join(10)


def test_a_paper_runs_fills_are_notified(tmp_path: Path, receiver: Receiver) -> None:
    path = tmp_path / "paper.yml"
    path.write_text(BRACKET_YAML)
    play = load_play(path)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    # a burst large enough for every fill: this test counts deliveries (limits have their own)
    limits = {k: RateLimit(burst=1000, per_minute=1) for k in ("fill", "rejection", "error")}
    notifier = Notifier([receiver.url], clock=SimulatedClock(), limits=limits, queue_size=1000)
    with make_server(synthetic_bars(n=300, seed=11), warm=5) as sim:
        cfg = RunConfig(symbol=SYM, mode="paper", endpoint=sim.base_url,
                        journal_path=tmp_path / "journal.jsonl", stream_options=FAST,
                        sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT))
        runner = LiveRunner(cfg, lambda a: PlayEngine(play, a, plan=plan),
                            listener=chain_listeners(notifier.on_state), notifier=notifier)
        thread = threading.Thread(target=runner.run, name="paper-notify-test")
        thread.start()
        try:
            assert runner.ready.wait(20), runner.error
            for i in range(1, 151):
                sim.step()
                assert runner.wait_bars(i, 20), (i, runner.error)
        finally:
            runner.stop()
            thread.join(10)
    assert runner.error is None
    assert notifier.close(10)
    fills = [r for r in read_journal(tmp_path / "journal.jsonl") if r["kind"] == "fill"]
    assert fills, "the scripted Play must trade in 150 bars"
    titles = receiver.titles()
    fill_msgs = [m for t, m in zip(titles, receiver.messages(), strict=True) if t.endswith("fill")]
    assert notifier.limiter.dropped_total["fill"] == 0
    assert len(fill_msgs) == len(fills) >= 1
    assert any(f"price: {fills[0]['price']:.10g}" in m for m in fill_msgs)
