"""Live-stack latency on loopback against the exchange simulator.

    pytest benchmarks/bench_live.py                 # 200 cycles
    TRADE_BENCH_QUICK=1 pytest benchmarks/bench_live.py   # CI: 30 cycles, never fails on speed

One cycle: the simulator closes a 1m bar; the public kline reaches the session's queue;
the engine thread submits a market order through LiveAdapter and pumps until the REST
acknowledgement is applied (**bar close -> order acknowledged**); the next bar fills it and
the execution push is applied to the book (**execution event -> engine state updated**,
from the moment the WebSocket thread received the push to the end of `process`).
Percentiles (ms) are printed and stored in the benchmark's extra_info.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pytest

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from trade.core import OrderRequest, Side, WallClock
from trade.live import (
    BybitRest,
    Credentials,
    LiveAdapter,
    LiveSession,
    RateLimiter,
    RiskLimits,
    RiskManager,
    make_session,
)
from trade.live.events import KlinePush, PrivatePush

QUICK = os.environ.get("TRADE_BENCH_QUICK") == "1"
CYCLES = 30 if QUICK else 200


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {f"p{q}": round(float(np.percentile(a, q)), 3) for q in (50, 90, 99)} | {
        "n": len(xs)}


def test_bar_close_to_ack_and_execution_to_state(benchmark: Any) -> None:
    creds = Credentials(KEY, SECRET)
    # Cycles run back to back (real bars are a minute apart): lift the 10/s create limit on
    # both sides so the benchmark measures latency, not the rate limiter.
    fast = {"/v5/order/create": 1000}
    # One thread drives the simulator and the session: a bracket grace (the simulator
    # waiting for a trading-stop after a fill at the open) would hold sim.step() while the
    # execution push waits in the session's queue, and this benchmark sends no brackets.
    with make_server(synthetic_bars(n=2 * CYCLES + 50), warm=5, rate_limits=fast,
                     bracket_grace_s=0.0) as sim:
        clock = WallClock()
        rest = BybitRest(make_session("demo", endpoint=sim.base_url, credentials=creds),
                         clock=clock, limiter=RateLimiter(clock, limits=fast))
        session = LiveSession(rest, "BTCUSDT", credentials=creds, ws_base=sim.ws_base,
                              public_topics=("kline.1.BTCUSDT",),
                              risk=RiskManager(RiskLimits(max_orders_per_minute=None)))
        session.open()
        adapter = LiveAdapter(session)
        ack_lat: list[float] = []
        exec_lat: list[float] = []
        got: list[KlinePush] = []
        session.on_kline = got.append
        original = session.process

        def timed(event: Any) -> None:
            original(event)
            if isinstance(event, PrivatePush) and event.topic == "execution":
                exec_lat.append(time.monotonic() - event.received_mono)

        session.process = timed  # type: ignore[method-assign]
        side = [Side.BUY]

        def cycle() -> None:
            got.clear()
            sim.step()
            assert session.pump_until(lambda: bool(got), 10)
            start = got[-1].received_mono
            session.last_price = got[-1].close
            order = adapter.submit(OrderRequest("BTCUSDT", side[0], 0.01))
            assert session.pump_until(
                lambda: order.order_id in session.book.by_exchange_id.values(), 10)
            ack_lat.append(time.monotonic() - start)
            side[0] = side[0].opposite()

        benchmark.pedantic(cycle, rounds=CYCLES, iterations=1, warmup_rounds=2)
        sim.step()
        session.pump_until(lambda: len(exec_lat) >= CYCLES, 10)
        session.close()
    stats = {"bar_close_to_ack_ms": _pct(ack_lat), "execution_to_state_ms": _pct(exec_lat)}
    benchmark.extra_info.update(stats)
    print(f"\nlive latency on loopback: {stats}")
    assert ack_lat and exec_lat


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q", "-s"]))
