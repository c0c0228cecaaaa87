"""The live dashboard server: state merging, thread safety, HTTP and SSE over loopback."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from trade.core.clock import SimulatedClock
from trade.core.errors import InputError
from trade.report import DashboardServer, parse_address
from trade.report.dashboard import MAX_FILLS


@pytest.fixture
def server() -> Iterator[DashboardServer]:
    srv = DashboardServer(clock=SimulatedClock(1_700_000_000_000)).start()
    try:
        yield srv
    finally:
        srv.stop()


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read()


def test_binds_loopback_and_serves_page_and_state(server: DashboardServer) -> None:
    assert server.host == "127.0.0.1" and server.port > 0
    status, ctype, body = get(server.url)
    assert status == 200 and ctype.startswith("text/html")
    assert b"EventSource" in body and b"http" not in body.lower().replace(b"http-equiv", b"")
    server.publish({"equity": 10_000.0, "symbol": "BTCUSDT"})
    status, ctype, body = get(server.url + "state")
    state = json.loads(body)
    assert state["equity"] == [[1_700_000_000_000, 10_000.0]]  # stamped by the injected clock
    assert state["info"] == {"symbol": "BTCUSDT"}
    with pytest.raises(urllib.error.HTTPError):
        get(server.url + "nope")


def test_merge_rules() -> None:
    srv = DashboardServer()
    srv.publish({"position": {"side": "Buy", "size": 0.1}, "connection": {"ws": "up"}, "ts": 5})
    srv.publish(
        {"connection": {"rest": "ok"}, "fill": {"price": 1.0}, "open_orders": [{"id": "a"}]}
    )
    srv.publish({"fills": [{"price": 2.0}, {"price": 3.0}], "equity": {"ts": 9, "equity": 7.5}})
    srv.publish({"position": None, "open_orders": []})
    s = srv.snapshot()
    assert s["position"] is None and s["open_orders"] == []
    assert s["connection"] == {"ws": "up", "rest": "ok"}
    assert [f["price"] for f in s["fills"]] == [3.0, 2.0, 1.0]  # newest first
    assert s["equity"] == [[9, 7.5]] and s["ts"] == 5 and s["version"] == 4
    with pytest.raises(InputError):
        srv.publish([1, 2])  # type: ignore[arg-type]


def test_concurrent_publishers_lose_nothing() -> None:
    srv = DashboardServer()
    n_threads, per = 8, 200

    def work(k: int) -> None:
        for i in range(per):
            srv.publish({"fill": {"k": k, "i": i}, "equity": float(i), "ts": i})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = srv.snapshot()
    assert s["version"] == n_threads * per
    assert len(s["fills"]) == MAX_FILLS
    assert len(s["equity"]) == n_threads * per


def test_sse_stream_pushes_each_update(server: DashboardServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(b"GET /events HTTP/1.0\r\nHost: x\r\n\r\n")
    f = sock.makefile("rb")

    def next_event() -> dict:
        data = None
        while True:
            line = f.readline()
            assert line, "stream closed"
            if line.startswith(b"data: "):
                data = json.loads(line[6:])
            elif line in (b"\r\n", b"\n") and data is not None:
                return data

    assert f.readline().startswith(b"HTTP/1.0 200")
    first = next_event()
    assert first["version"] == 0
    server.publish({"position": {"size": 1.5}})
    assert next_event()["position"] == {"size": 1.5}
    server.publish({"equity": 3.0, "ts": 42})
    assert next_event()["equity"] == [[42, 3.0]]
    server.stop()  # ends the stream and joins the server thread
    assert f.read() == b""
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8050") == ("127.0.0.1", 8050)
    assert parse_address(":8050") == ("127.0.0.1", 8050)
    assert parse_address("8050") == ("127.0.0.1", 8050)
    assert parse_address("[::1]:9000") == ("::1", 9000)
    with pytest.raises(InputError, match="port"):
        parse_address("127.0.0.1:http")
    with pytest.raises(InputError, match="range"):
        parse_address("127.0.0.1:70000")
