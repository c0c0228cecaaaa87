"""WebSocket streams and the order executor's futures against the simulator."""

from __future__ import annotations

import queue
import threading

from tests.conftest_exsim import KEY, SECRET, make_server
from trade.core import OrderRequest, OrderStatus, OrderType, Side
from trade.live import (
    BybitRest,
    ConnState,
    Credentials,
    LiveAdapter,
    LiveSession,
    StreamManager,
    make_session,
)
from trade.live.events import LiveEvent, StreamState

SYM = "BTCUSDT"
FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.3, "auth_timeout_s": 1.0}


def test_failed_auth_is_retried_with_backoff_not_a_hang() -> None:
    events: queue.Queue[LiveEvent] = queue.Queue()
    with make_server() as sim:
        stream = StreamManager("private", channel="private", topics=["order"], sink=events.put,
                               credentials=Credentials(KEY, "not-the-secret"),
                               ws_base=sim.ws_base, **FAST)  # type: ignore[arg-type]
        stream.start()
        assert not stream.wait_for_state(ConnState.SUBSCRIBED, 1.5)
        stream.stop()
        assert stream.state is ConnState.CLOSED
    assert stream.connects >= 2  # it tried again, with backoff, instead of waiting forever
    assert any("auth" in f for f in stream.failures)
    assert "not-the-secret" not in " ".join(stream.failures)
    seen = []
    while not events.empty():
        ev = events.get()
        if isinstance(ev, StreamState):
            seen.append(ev.state)
    assert ConnState.AUTHENTICATING in seen and ConnState.RECONNECTING in seen


def test_a_stale_stream_is_replaced_and_resubscribed() -> None:
    events: queue.Queue[LiveEvent] = queue.Queue()
    with make_server() as sim:
        stream = StreamManager("public", channel="linear", topics=["kline.1.BTCUSDT"],
                               sink=events.put, ws_base=sim.ws_base,
                               **{**FAST, "stale_after_s": 0.5, "ping_interval_s": 60.0})  # type: ignore[arg-type]
        stream.start()
        assert stream.wait_for_state(ConnState.SUBSCRIBED, 5)
        # no pushes and no pings for 0.5 s: the health monitor calls it stale and reconnects
        assert stream.wait_for_state(ConnState.STALE, 5)
        assert stream.wait_for_state(ConnState.SUBSCRIBED, 5)
        assert stream.reconnects >= 1
        sim.step()
        got = threading.Event()
        for _ in range(100):
            ev = events.get(timeout=5)
            if getattr(ev, "confirm", False):
                got.set()
                break
        assert got.is_set()  # resubscribed: bars flow on the new connection
        stream.stop()


def test_submit_returns_a_handle_and_the_fill_resolves_its_future() -> None:
    creds = Credentials(KEY, SECRET)
    with make_server() as sim:
        rest = BybitRest(make_session("demo", endpoint=sim.base_url, credentials=creds))
        session = LiveSession(rest, SYM, credentials=creds, ws_base=sim.ws_base,
                              stream_options=FAST)
        engine_ready = threading.Event()
        stop = threading.Event()
        result: dict[str, object] = {}

        def engine() -> None:
            session.open()
            engine_ready.set()
            while not stop.is_set():
                session.pump(0.05)

        thread = threading.Thread(target=engine, name="live-engine-test")
        thread.start()
        assert engine_ready.wait(15)
        adapter = LiveAdapter(session)

        def submit() -> object:
            session.last_price = float(sim.market.close[sim.fed - 1])
            limit = adapter.submit(OrderRequest(SYM, Side.BUY, 0.01, OrderType.LIMIT,
                                                price=round(session.last_price * 0.99, 1)))
            market = adapter.submit(OrderRequest(SYM, Side.BUY, 0.01))
            result["created"] = (limit.status, market.status)
            return adapter.handle(market.order_id), adapter.handle(limit.order_id)

        market_h, limit_h = session.call(submit)
        assert result["created"] == (OrderStatus.CREATED, OrderStatus.CREATED)
        assert not market_h.done  # type: ignore[attr-defined]
        tick = threading.Event()
        for _ in range(250):  # the create must reach the exchange before the next bar
            if market_h.exchange_id and limit_h.exchange_id:  # type: ignore[attr-defined]
                break
            tick.wait(0.02)
        sim.step()
        ex = session.executor
        assert ex is not None
        final = ex.wait_fill(market_h, 10)  # type: ignore[arg-type]
        assert final.status is OrderStatus.FILLED and final.filled_qty == 0.01
        # amend then cancel the resting limit; its future resolves with the final state
        session.call(lambda: adapter.amend(SYM, limit_h.key, qty=0.02))  # type: ignore[attr-defined]
        session.call(lambda: adapter.cancel(SYM, limit_h.key))  # type: ignore[attr-defined]
        cancelled = ex.wait_fill(limit_h, 10)  # type: ignore[arg-type]
        assert cancelled.status is OrderStatus.CANCELLED and cancelled.request.qty == 0.02
        stop.set()
        thread.join(10)
        session.close()
