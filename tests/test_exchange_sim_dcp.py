"""Disconnect-cancel-all (DCP) in the exchange simulator, driven by unmodified pybit.

The DCP window is timed on an injected SimulatedClock (`dcp_clock`), so a test expires it
by advancing that clock and calling `check_dcp()`: no test waits for a window to pass.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websocket
from pybit.exceptions import InvalidRequestError

from tests.conftest_exsim import KEY, SECRET, Collector, close_ws, make_server, ws_kwargs
from trade.core import SimulatedClock
from trade.exchange_sim import DcpMonitor, ExchangeSimServer, make_http, make_websocket
from trade.exchange_sim.protocol import ws_auth_signature

SYM = "BTCUSDT"
WINDOW_S = 10


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll a condition on a short interval (an Event that is never set: no bare sleep)."""
    idle = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if pred():
            return True
        idle.wait(0.01)
    return pred()


@pytest.fixture()
def clock() -> SimulatedClock:
    return SimulatedClock(1_000_000)


@pytest.fixture()
def sim(clock: SimulatedClock) -> Iterator[ExchangeSimServer]:
    with make_server(dcp_clock=clock) as server:
        yield server


def _http(sim: ExchangeSimServer) -> Any:
    return make_http(sim.base_url, api_key=KEY, api_secret=SECRET)


def _dcp_ws(sim: ExchangeSimServer, callback: Collector, *, restart: bool = False) -> Any:
    """A private pybit WebSocket subscribed to dcp.future (and the order stream)."""
    ws = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET,
                        restart_on_error=restart, **ws_kwargs())
    # pybit has no dcp_stream(); its generic subscribe formats the topic with a symbol
    ws.subscribe("dcp.future", callback, symbol="")
    return ws


def _connections(sim: ExchangeSimServer) -> int:
    return int(sim.dcp_status()["DERIVATIVES"]["connections"])


def _position_with_tpsl_and_resting_orders(sim: ExchangeSimServer) -> dict[str, Any]:
    """Long 0.02 with TP/SL on the position, a resting limit buy and a resting stop buy."""
    http = _http(sim)
    http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market",
                     qty="0.02", orderLinkId="entry")
    sim.step()
    last = float(sim.market.close[sim.fed - 1])
    tp, sl = round(last * 1.2, 1), round(last * 0.8, 1)
    http.set_trading_stop(category="linear", symbol=SYM, takeProfit=str(tp), stopLoss=str(sl),
                          positionIdx=0)
    http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Limit", qty="0.01",
                     price=str(round(last * 0.9, 1)), orderLinkId="rest-limit")
    http.place_order(category="linear", symbol=SYM, side="Buy", orderType="Market", qty="0.01",
                     triggerPrice=str(round(last * 1.1, 1)), triggerDirection=1,
                     orderLinkId="rest-stop")
    pos = http.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
    assert pos["size"] == "0.02" and float(pos["takeProfit"]) == tp
    assert float(pos["stopLoss"]) == sl
    return pos


def _open_links(sim: ExchangeSimServer) -> set[str]:
    rows = _http(sim).get_open_orders(category="linear", symbol=SYM)["result"]["list"]
    return {r["orderLinkId"] for r in rows}


# ------------------------------------------------------------------ REST endpoint


def test_set_dcp_through_pybit_and_query_the_config(sim: ExchangeSimServer) -> None:
    http = _http(sim)
    assert http.query_dcp_info()["result"] == {"dcpInfos": []}
    res = http.set_dcp(timeWindow=WINDOW_S, product="DERIVATIVES")
    assert res["retCode"] == 0 and res["result"] == {}
    assert http.set_dcp(timeWindow=40)["retCode"] == 0  # product defaults to OPTIONS
    infos = http.query_dcp_info()["result"]["dcpInfos"]
    assert infos == [
        {"product": "OPTIONS", "dcpStatus": "ON", "timeWindow": "40"},
        {"product": "DERIVATIVES", "dcpStatus": "ON", "timeWindow": str(WINDOW_S)},
    ]
    status = sim.dcp_status()
    assert status["DERIVATIVES"]["window_s"] == WINDOW_S and status["SPOT"]["window_s"] is None


@pytest.mark.parametrize("params", [
    {"timeWindow": 2, "product": "DERIVATIVES"},
    {"timeWindow": 301, "product": "DERIVATIVES"},
    {"timeWindow": 10.5, "product": "DERIVATIVES"},
    {"timeWindow": True, "product": "DERIVATIVES"},
    {"product": "DERIVATIVES"},
    {"timeWindow": 10, "product": "FUTURES"},
])
def test_set_dcp_rejects_bad_parameters(sim: ExchangeSimServer, params: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _http(sim).set_dcp(**params)
    assert info.value.status_code == 10001
    assert sim.dcp_status()["DERIVATIVES"]["window_s"] is None


def test_window_bounds_are_inclusive() -> None:
    mon = DcpMonitor()
    mon.configure("SPOT", 3)
    mon.configure("DERIVATIVES", 300)
    assert [r["timeWindow"] for r in mon.info()] == ["300", "3"]
    with pytest.raises(ValueError, match="timeWindow"):
        mon.configure("SPOT", 0)


# ------------------------------------------------------------------ WebSocket topic


def _raw_subscribe(sim: ExchangeSimServer, topic: str) -> dict[str, Any]:
    conn = websocket.create_connection(sim.ws_private_url, timeout=5)
    try:
        expires = sim.server_now_ms() + 10_000
        conn.send(json.dumps({"op": "auth",
                              "args": [KEY, expires, ws_auth_signature(SECRET, expires)]}))
        assert json.loads(conn.recv())["success"] is True
        conn.send(json.dumps({"op": "subscribe", "req_id": "r1", "args": [topic]}))
        ack: dict[str, Any] = json.loads(conn.recv())
        return ack
    finally:
        conn.close()


@pytest.mark.parametrize("topic", ["dcp.future", "dcp.spot", "dcp.option"])
def test_dcp_topics_are_private_topics(sim: ExchangeSimServer, topic: str) -> None:
    ack = _raw_subscribe(sim, topic)
    assert ack["success"] is True and ack["op"] == "subscribe" and ack["req_id"] == "r1"


def test_deprecated_plain_dcp_topic_is_refused_unless_legacy(clock: SimulatedClock) -> None:
    with make_server(dcp_clock=clock) as sim:
        ack = _raw_subscribe(sim, "dcp")
        assert ack["success"] is False and "dcp" in ack["ret_msg"]
    with make_server(dcp_clock=clock, dcp_legacy_topic=True) as sim:
        assert _raw_subscribe(sim, "dcp")["success"] is True


# ------------------------------------------------------------------ firing


def test_dcp_cancels_orders_after_the_window_but_keeps_position_and_tpsl(
    sim: ExchangeSimServer, clock: SimulatedClock
) -> None:
    http = _http(sim)
    assert http.set_dcp(timeWindow=WINDOW_S, product="DERIVATIVES")["retCode"] == 0
    dcp_pushes, observed = Collector(), Collector()
    dcp_ws = _dcp_ws(sim, dcp_pushes)
    # Another private connection that never subscribed dcp: it neither arms nor delays
    # DCP (Bybit's case "A dead, B alive, C dead"), and it hears the cancellations.
    observer = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET,
                              **ws_kwargs())
    try:
        observer.order_stream(observed)
        assert wait_until(lambda: _connections(sim) == 1)
        assert wait_until(lambda: any("order" in c.topics for c in list(sim._conns.values())))
        pos_before = _position_with_tpsl_and_resting_orders(sim)
        assert _open_links(sim) == {"rest-limit", "rest-stop"}
        assert wait_until(lambda: {r["orderLinkId"] for r in observed.rows("order")}
                          >= {"rest-limit", "rest-stop"})

        assert sim.close_connections("private", topic="dcp.future") == 1
        assert sim.connection_count("private") == 1  # the observer is still there
        assert sim.dcp_status()["DERIVATIVES"]["down_s"] == 0.0
        clock.advance(WINDOW_S * 1000)  # exactly the window: not yet ("more than")
        assert sim.check_dcp() == []
        assert _open_links(sim) == {"rest-limit", "rest-stop"}
        clock.advance(1)
        fired = sim.check_dcp()
        assert [t.product for t in fired] == ["DERIVATIVES"] and len(fired[0].order_ids) == 2
        assert sim.dcp_triggers == fired

        assert _open_links(sim) == set()
        hist = http.get_order_history(category="linear", symbol=SYM)["result"]["list"]
        by_link = {r["orderLinkId"]: r for r in hist}
        assert by_link["rest-limit"]["orderStatus"] == "Cancelled"
        assert by_link["rest-stop"]["orderStatus"] in ("Cancelled", "Deactivated")
        for link in ("rest-limit", "rest-stop"):
            assert by_link[link]["cancelType"] == "CancelByDCP"
        assert by_link["entry"]["orderStatus"] == "Filled"  # history is untouched
        assert observed.wait_for(lambda _: {
            r["orderLinkId"] for r in observed.rows("order") if r["cancelType"] == "CancelByDCP"
        } == {"rest-limit", "rest-stop"})

        pos_after = http.get_positions(category="linear", symbol=SYM)["result"]["list"][0]
        for key in ("side", "size", "avgPrice", "takeProfit", "stopLoss", "leverage"):
            assert pos_after[key] == pos_before[key], key
        assert dcp_pushes.snapshot() == []  # the dcp topic itself carries no data

        clock.advance(3_600_000)  # fires once per outage
        assert sim.check_dcp() == []
    finally:
        close_ws(dcp_ws, observer)


def test_reconnecting_within_the_window_cancels_nothing(
    sim: ExchangeSimServer, clock: SimulatedClock
) -> None:
    assert _http(sim).set_dcp(timeWindow=WINDOW_S, product="DERIVATIVES")["retCode"] == 0
    first = _dcp_ws(sim, Collector())
    second = None
    try:
        assert wait_until(lambda: _connections(sim) == 1)
        _position_with_tpsl_and_resting_orders(sim)
        sim.close_connections("private")
        assert _connections(sim) == 0
        clock.advance((WINDOW_S - 1) * 1000)
        assert sim.check_dcp() == []
        second = _dcp_ws(sim, Collector())  # the client comes back within the window
        assert wait_until(lambda: _connections(sim) == 1)
        assert sim.dcp_status()["DERIVATIVES"]["down_s"] is None  # the timing was reset
        clock.advance(3_600_000)
        assert sim.check_dcp() == [] and sim.dcp_triggers == []
        assert _open_links(sim) == {"rest-limit", "rest-stop"}

        # The next outage starts a fresh window of its own.
        sim.close_connections("private")
        clock.advance(WINDOW_S * 1000 + 1)
        assert [t.product for t in sim.check_dcp()] == ["DERIVATIVES"]
        assert _open_links(sim) == set()
    finally:
        close_ws(first, *([second] if second is not None else []))


def test_pybit_reconnect_resubscribes_and_keeps_the_orders(
    sim: ExchangeSimServer, clock: SimulatedClock
) -> None:
    assert _http(sim).set_dcp(timeWindow=WINDOW_S, product="DERIVATIVES")["retCode"] == 0
    ws = _dcp_ws(sim, Collector(), restart=True)  # pybit's own reconnect loop
    try:
        assert wait_until(lambda: _connections(sim) == 1)
        _position_with_tpsl_and_resting_orders(sim)
        sim.close_connections("private")
        assert wait_until(lambda: _connections(sim) == 1)  # pybit resubscribed dcp.future
        clock.advance(3_600_000)
        assert sim.check_dcp() == []
        assert _open_links(sim) == {"rest-limit", "rest-stop"}
    finally:
        close_ws(ws)


def test_without_dcp_enabled_a_dead_connection_cancels_nothing(
    sim: ExchangeSimServer, clock: SimulatedClock
) -> None:
    ws = _dcp_ws(sim, Collector())
    try:
        assert wait_until(lambda: _connections(sim) == 1)
        _position_with_tpsl_and_resting_orders(sim)
        sim.close_connections("private")
        clock.advance(3_600_000)
        assert sim.check_dcp() == []
        assert _open_links(sim) == {"rest-limit", "rest-stop"}
    finally:
        close_ws(ws)


def test_unsubscribing_the_topic_disarms_dcp(
    sim: ExchangeSimServer, clock: SimulatedClock
) -> None:
    sim_http = _http(sim)
    assert sim_http.set_dcp(timeWindow=WINDOW_S, product="DERIVATIVES")["retCode"] == 0
    ws = _dcp_ws(sim, Collector())
    try:
        assert wait_until(lambda: _connections(sim) == 1)
        _position_with_tpsl_and_resting_orders(sim)
        ws.ws.send(json.dumps({"op": "unsubscribe", "args": ["dcp.future"]}))
        assert wait_until(lambda: _connections(sim) == 0)
        assert sim.dcp_status()["DERIVATIVES"]["down_s"] is None
        sim.close_connections("private")
        clock.advance(3_600_000)
        assert sim.check_dcp() == []
        assert _open_links(sim) == {"rest-limit", "rest-stop"}
    finally:
        close_ws(ws)


def test_the_bar_driver_fires_dcp_by_itself(
    sim: ExchangeSimServer, clock: SimulatedClock
) -> None:
    assert _http(sim).set_dcp(timeWindow=3, product="DERIVATIVES")["retCode"] == 0
    ws = _dcp_ws(sim, Collector())
    try:
        assert wait_until(lambda: _connections(sim) == 1)
        _position_with_tpsl_and_resting_orders(sim)
        sim.close_connections("private")
        clock.advance(3_001)
        assert wait_until(lambda: len(sim.dcp_triggers) == 1)  # no check_dcp() call
        assert _open_links(sim) == set()
    finally:
        close_ws(ws)


# ------------------------------------------------------------------ the live stack
#
# trade/live enables DCP for `--mode live` only (LiveSession(live=True) calls
# BybitRest.set_dcp, product DERIVATIVES) and subscribes `dcp.future`; the simulator runs
# with its defaults, which refuse the deprecated plain `dcp` topic as Bybit's docs do.

LIVE_STREAMS = {"ping_interval_s": 2.0, "stale_after_s": 6.0, "backoff_initial_s": 0.05,
                "backoff_max_s": 0.5}


def _live_session(sim: ExchangeSimServer) -> Any:
    from trade.live import BybitRest, Credentials, LiveSession, make_session

    creds = Credentials(KEY, SECRET)
    rest = BybitRest(make_session("live", endpoint=sim.base_url, credentials=creds,
                                  timeout_s=1.0))
    return LiveSession(rest, SYM, credentials=creds, ws_base=sim.ws_base, live=True,
                       stream_options=LIVE_STREAMS)


def _resting_limit(session: Any) -> str:
    from trade.core import OrderRequest, OrderType, Side
    from trade.live import LiveAdapter

    adapter = LiveAdapter(session)
    session.last_price = float(session.book.position(SYM).mark_price or 0) or 30_000.0
    price = round(session.last_price * 0.97, 1)
    order = adapter.submit(OrderRequest(SYM, Side.BUY, 0.01, OrderType.LIMIT, price=price))
    session.barrier()
    return str(order.order_link_id or order.order_id)  # the adapter's key is the link id


def test_live_session_enables_dcp_and_its_reconnects_keep_it_armed(
    clock: SimulatedClock,
) -> None:
    with make_server(dcp_clock=clock) as sim:
        s = _live_session(sim)
        try:
            s.open()
            assert s.dcp_enabled
            status = sim.dcp_status()["DERIVATIVES"]
            assert status["window_s"] == s.dcp_window_s == 10 and status["connections"] == 1
            _resting_limit(s)
            assert len(_open_links(sim)) == 1
            sim.close_connections("private")  # the live watchdog reconnects and resubscribes
            assert wait_until(lambda: _connections(sim) == 1)
            clock.advance(3_600_000)
            assert sim.check_dcp() == []
            assert len(_open_links(sim)) == 1
        finally:
            s.close()


def test_after_the_live_process_goes_away_dcp_cancels_its_resting_orders(
    clock: SimulatedClock,
) -> None:
    """A clean stop closes the private stream too: with DCP on, Bybit then cancels the
    resting orders after the window (the position and its TP/SL stay)."""
    with make_server(dcp_clock=clock) as sim:
        s = _live_session(sim)
        try:
            s.open()
            link = _resting_limit(s)
        finally:
            s.close()
        assert wait_until(lambda: _connections(sim) == 0)
        clock.advance(10_001)
        fired = sim.check_dcp()
        assert [len(t.order_ids) for t in fired] == [1]
        assert _open_links(sim) == set()
        hist = _http(sim).get_order_history(category="linear", symbol=SYM)["result"]["list"]
        assert [(r["orderLinkId"], r["orderId"], r["cancelType"]) for r in hist] == [
            (link, fired[0].order_ids[0], "CancelByDCP")]


def test_demo_sessions_do_not_enable_dcp(clock: SimulatedClock) -> None:
    from trade.live import BybitRest, Credentials, LiveSession, make_session

    creds = Credentials(KEY, SECRET)
    with make_server(dcp_clock=clock) as sim:
        rest = BybitRest(make_session("demo", endpoint=sim.base_url, credentials=creds,
                                      timeout_s=1.0))
        s = LiveSession(rest, SYM, credentials=creds, ws_base=sim.ws_base, demo=True,
                        stream_options=LIVE_STREAMS)
        try:
            s.open()
            assert not s.dcp_enabled
            assert sim.dcp_status()["DERIVATIVES"] == {"window_s": None, "connections": 0,
                                                       "down_s": None}
        finally:
            s.close()


def test_the_runner_in_live_mode_enables_dcp(clock: SimulatedClock, tmp_path: Any) -> None:
    """`trade run --mode live` builds its session through LiveRunner (after the
    TRADE_CONFIRM_LIVE / --confirm-live check in trade/cli/run_cmd.py)."""
    from trade.live import Credentials, LiveRunner, RunConfig, read_journal

    class Idle:
        adapter: Any = None

        def on_bar(self, *bar: Any) -> None:
            return None

        def finish(self) -> None:
            return None

    cfg = RunConfig(symbol=SYM, mode="live", endpoint=None, credentials=Credentials(KEY, SECRET),
                    journal_path=tmp_path / "journal.jsonl", stream_options=LIVE_STREAMS,
                    rest_timeout_s=1.0, history_bars=10)
    with make_server(dcp_clock=clock) as sim:
        cfg.endpoint = sim.base_url
        runner = LiveRunner(cfg, lambda adapter: Idle())
        thread = threading.Thread(target=runner.run, name="live-engine-dcp")
        thread.start()
        try:
            assert runner.ready.wait(20), runner.error
            status = sim.dcp_status()["DERIVATIVES"]
            assert status["window_s"] == 10 and status["connections"] == 1
        finally:
            runner.stop()
            thread.join(10)
        assert not thread.is_alive()
    starts = [r for r in read_journal(tmp_path / "journal.jsonl") if r.get("kind") == "start"]
    assert starts and starts[0]["dcp"] is True
