"""The three pybit behaviours the live stack must survive that had no test: a stream
callback that raises, a server that is down for 2 s (connection refused, not a reset) and a
server that ends the connection with a WebSocket close frame. Each: the stream reports it,
comes back subscribed on its own, and bars flow again."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from tests.conftest_exsim import KEY, SECRET, make_server, synthetic_bars
from trade.core import SimulatedClock
from trade.exchange_sim import ExchangeSimServer
from trade.live import ConnState, StreamManager
from trade.live.events import Failure, KlinePush, LiveEvent, StreamState

FAST = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
        "backoff_max_s": 0.3, "auth_timeout_s": 1.0}
TOPIC = "kline.1.BTCUSDT"


def _public(sim: ExchangeSimServer, sink: Callable[[LiveEvent], None]) -> StreamManager:
    return StreamManager("public", channel="linear", topics=[TOPIC], sink=sink,
                         ws_base=sim.ws_base, **FAST)  # type: ignore[arg-type]


def _next_closed(events: queue.Queue[LiveEvent], timeout: float = 10.0) -> KlinePush:
    while True:
        ev = events.get(timeout=timeout)
        if isinstance(ev, KlinePush) and ev.confirm:
            return ev


class Recorder:
    """A sink: every event on a queue, and every StreamState kept in order."""

    def __init__(self) -> None:
        self.events: queue.Queue[LiveEvent] = queue.Queue()
        self.states: list[StreamState] = []

    def __call__(self, ev: LiveEvent) -> None:
        if isinstance(ev, StreamState):
            self.states.append(ev)
        self.events.put(ev)


def test_a_callback_that_raises_is_reported_and_the_stream_goes_on() -> None:
    events: queue.Queue[LiveEvent] = queue.Queue()
    raised: list[int] = []

    def sink(ev: LiveEvent) -> None:
        if isinstance(ev, KlinePush) and ev.confirm and not raised:
            raised.append(ev.start)
            raise RuntimeError("consumer blew up")
        events.put(ev)

    with make_server() as sim:
        stream = _public(sim, sink)
        stream.start()
        try:
            assert stream.wait_for_state(ConnState.SUBSCRIBED, 10)
            sim.step()  # its bar reaches a sink that raises
            failure = events.get(timeout=10)
            while not isinstance(failure, Failure):
                failure = events.get(timeout=10)
            assert "consumer blew up" in failure.message
            assert raised
            sim.step()
            after = _next_closed(events)
            assert after.start > raised[0]  # the next bar arrives on the same connection
            assert stream.state is ConnState.SUBSCRIBED and stream.reconnects == 0
        finally:
            stream.stop()


def test_a_two_second_server_outage_is_survived() -> None:
    """The server process is gone for 2 s (connects are refused), then a server comes back
    on the same port: the stream retries with backoff and resubscribes by itself."""
    bars = synthetic_bars(n=50)
    rec = Recorder()
    events = rec.events
    first = make_server(bars).start()
    port = first.port
    stream = _public(first, rec)
    stream.start()
    second: ExchangeSimServer | None = None
    try:
        assert stream.wait_for_state(ConnState.SUBSCRIBED, 10)
        first.step()
        _next_closed(events)
        first.stop()  # the server is down, not just the connection
        assert stream.wait_for_state(ConnState.RECONNECTING, 10)
        down = stream.connects
        threading.Event().wait(2.0)  # the outage: 2 s of real time with the port closed
        assert stream.connects > down  # it kept trying while the port was closed
        assert stream.state is not ConnState.SUBSCRIBED
        clock = SimulatedClock(int(bars.column("ts")[0].as_py()) + 5 * 60_000)
        second = ExchangeSimServer(bars, symbol="BTCUSDT", api_keys={KEY: SECRET},
                                   clock=clock, ws_ack_delay_s=0.02, port=port).start()
        assert stream.wait_for_state(ConnState.SUBSCRIBED, 15)
        second.step()
        got = _next_closed(events)
        assert got.start == int(bars.column("ts")[5].as_py())
        assert stream.reconnects >= 1
        assert any(s.reconnected and s.state is ConnState.SUBSCRIBED for s in rec.states)
    finally:
        stream.stop()
        if second is not None:
            second.stop()
        first.stop()


def test_a_server_close_frame_is_survived() -> None:
    """The server closes the connection with a close frame (a clean WebSocket close, not a
    TCP reset): the stream treats it as a loss, reconnects and resubscribes."""
    rec = Recorder()
    events = rec.events
    with make_server() as sim:
        stream = _public(sim, rec)
        stream.start()
        try:
            assert stream.wait_for_state(ConnState.SUBSCRIBED, 10)
            assert sim.close_connections("public", abort=False) == 1
            assert stream.wait_for_state(ConnState.RECONNECTING, 10)
            assert stream.wait_for_state(ConnState.SUBSCRIBED, 10)
            sim.step()
            _next_closed(events)
            assert stream.reconnects >= 1
            assert any(s.reconnected for s in rec.states)
        finally:
            stream.stop()
