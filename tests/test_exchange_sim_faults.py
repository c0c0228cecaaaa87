"""Fault injection, reconnects, the CLI and clean shutdown of the exchange simulator."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
import websocket
from pybit.exceptions import FailedRequestError, InvalidRequestError

from tests.conftest_exsim import (
    KEY,
    SECRET,
    Collector,
    close_ws,
    make_server,
    synthetic_bars,
    ws_kwargs,
)
from trade.core import InputError
from trade.exchange_sim import FaultConfig, FaultInjector, make_http, make_websocket


def test_fault_decisions_are_seeded() -> None:
    cfg = FaultConfig(seed=42, rest_error_rate=0.3, rest_timeout_rate=0.1, ws_drop_rate=0.5)
    a, b = FaultInjector(cfg), FaultInjector(cfg)
    seq_a = [a.rest_fault("/v5/order/create") for _ in range(200)]
    assert seq_a == [b.rest_fault("/v5/order/create") for _ in range(200)]
    assert 30 < seq_a.count("http_error") < 90 and "timeout" in seq_a and "ok" in seq_a
    other = FaultInjector(FaultConfig(seed=43, rest_error_rate=0.3))
    assert [other.rest_fault("/x") for _ in range(200)] != seq_a


def test_faults_file_yaml_json_and_errors(tmp_path: Path) -> None:
    y = tmp_path / "f.yml"
    y.write_text("seed: 3\nrest_error_rate: 0.25\nws_close_after: 10\n")
    assert FaultConfig.from_file(y).rest_error_rate == 0.25
    j = tmp_path / "f.json"
    j.write_text(json.dumps({"clock_skew_ms": -500}))
    assert FaultConfig.from_file(j).clock_skew_ms == -500
    bad = tmp_path / "bad.yml"
    bad.write_text("rest_error_rate: 2\n")
    with pytest.raises(InputError, match=r"bad\.yml"):
        FaultConfig.from_file(bad)
    typo = tmp_path / "typo.yml"
    typo.write_text("rest_eror_rate: 0.1\n")
    with pytest.raises(InputError, match="rest_eror_rate"):
        FaultConfig.from_file(typo)


def test_rest_faults_5xx_timeout_and_rate_limit() -> None:
    with make_server(synthetic_bars(50)) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET, retry_codes={-1},
                         timeout=5)
        sim.configure_faults(FaultConfig(rest_error_rate=1.0, rest_paths=("/v5/order/",)))
        with pytest.raises(FailedRequestError) as err:
            http.get_open_orders(category="linear", symbol="BTCUSDT")
        assert err.value.status_code == 503
        assert http.get_positions(category="linear", symbol="BTCUSDT")["retCode"] == 0
        sim.configure_faults(FaultConfig(rest_timeout_rate=1.0, rest_timeout_s=0.2))
        with pytest.raises(requests.exceptions.ConnectionError):
            http.get_positions(category="linear", symbol="BTCUSDT")
        sim.configure_faults(FaultConfig(rest_rate_limit_rate=1.0))
        with pytest.raises(InvalidRequestError) as err2:
            http.get_positions(category="linear", symbol="BTCUSDT")
        assert err2.value.status_code == 10006
        assert err2.value.resp_headers["X-Bapi-Limit-Status"] == "0"
        sim.configure_faults(FaultConfig())
        assert http.get_positions(category="linear", symbol="BTCUSDT")["retCode"] == 0


def _raw_public(sim_url: str) -> websocket.WebSocket:
    ws = websocket.create_connection(sim_url, timeout=5)
    ws.send(json.dumps({"op": "subscribe", "req_id": "r1", "args": ["publicTrade.BTCUSDT"]}))
    ack = json.loads(ws.recv())
    assert ack["success"] is True and ack["req_id"] == "r1" and ack["op"] == "subscribe"
    return ws


def _trade_times(ws: websocket.WebSocket, n: int) -> list[int]:
    return [json.loads(ws.recv())["data"][0]["T"] for _ in range(n)]


def test_ws_drop_duplicate_reorder() -> None:
    with make_server(synthetic_bars(100), warm=5) as sim:
        ws = _raw_public(sim.ws_public_url)
        try:
            sim.configure_faults(FaultConfig(ws_duplicate_rate=1.0))
            sim.step(2)
            t = _trade_times(ws, 4)
            assert t[0] == t[1] and t[2] == t[3] and t[0] < t[2]
            sim.configure_faults(FaultConfig(ws_reorder_rate=1.0))
            sim.step(2)
            t = _trade_times(ws, 2)
            assert t[0] > t[1]  # the first was held back behind the second
            sim.configure_faults(FaultConfig(ws_drop_rate=1.0))
            sim.step(3)
            sim.configure_faults(FaultConfig())
            sim.step(1)
            (only,) = _trade_times(ws, 1)
            assert only == int(sim.market.ts[sim.fed - 1]) + 59_999  # the dropped never came
            ws.send(json.dumps({"op": "ping", "req_id": "p"}))
            pong = json.loads(ws.recv())
            assert pong["ret_msg"] == "pong" and pong["op"] == "ping"
        finally:
            ws.close()


def test_ws_delay_holds_a_push_back_then_delivers_it() -> None:
    with make_server(synthetic_bars(100), warm=5) as sim:
        ws = _raw_public(sim.ws_public_url)
        try:
            sim.configure_faults(FaultConfig(ws_delay_rate=1.0, ws_delay_s=1.5))
            sim.step(1)  # returns once undelayed pushes are written: this one is held back
            ws.settimeout(0.2)
            with pytest.raises(websocket.WebSocketTimeoutException):
                ws.recv()
            ws.settimeout(10)
            (late,) = _trade_times(ws, 1)
            assert late == int(sim.market.ts[sim.fed - 1]) + 59_999  # late, but it came
        finally:
            ws.close()


def test_ws_close_after_n_pushes_ends_the_connection() -> None:
    with make_server(synthetic_bars(100), warm=5) as sim:
        sim.configure_faults(FaultConfig(ws_close_after=2))
        ws = _raw_public(sim.ws_public_url)
        try:
            sim.step(3)
            assert len(_trade_times(ws, 2)) == 2
            ws.settimeout(10)
            with pytest.raises((websocket.WebSocketConnectionClosedException,
                                ConnectionError)):
                ws.recv()
                ws.recv()  # a close frame may come first as an empty read
        finally:
            ws.close()


def test_private_ws_auth_refused_and_accepted() -> None:
    with make_server(synthetic_bars(50)) as sim:
        ws = websocket.create_connection(sim.ws_private_url, timeout=5)
        try:
            ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
            assert json.loads(ws.recv())["success"] is False  # not authenticated yet
            import hashlib
            import hmac
            import time

            expires = time.time_ns() // 1_000_000 + 5000
            bad = hmac.new(b"wrong", f"GET/realtime{expires}".encode(), hashlib.sha256)
            ws.send(json.dumps({"op": "auth", "args": [KEY, expires, bad.hexdigest()]}))
            reply = json.loads(ws.recv())
            assert reply["op"] == "auth" and reply["success"] is False
            good = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256)
            ws.send(json.dumps({"op": "auth", "args": [KEY, expires, good.hexdigest()]}))
            assert json.loads(ws.recv())["success"] is True
            ws.send(json.dumps({"op": "ping", "req_id": "x"}))
            pong = json.loads(ws.recv())
            assert pong["op"] == "pong" and pong["req_id"] == "x"
        finally:
            ws.close()


def test_pybit_reconnects_after_a_dropped_connection() -> None:
    with make_server(synthetic_bars(100)) as sim:
        http = make_http(sim.base_url, api_key=KEY, api_secret=SECRET)
        col = Collector()
        ws = make_websocket(sim.ws_base, "private", api_key=KEY, api_secret=SECRET,
                            **ws_kwargs())
        try:
            ws.order_stream(col)
            ready = threading.Event()

            def subscribed() -> bool:
                return any("order" in c.topics for c in list(sim._conns.values()))

            while not subscribed():
                ready.wait(0.01)
            assert sim.close_connections("private", abort=True) == 1
            while not subscribed():  # pybit reconnects, re-authenticates and resubscribes
                ready.wait(0.01)
            http.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                             qty="0.01", price="20000", orderLinkId="after-drop")
            assert col.wait_for(lambda _: any(r["orderLinkId"] == "after-drop"
                                              for r in col.rows("order")))
        finally:
            close_ws(ws)


def test_stop_leaves_no_threads_or_sockets() -> None:
    before = set(threading.enumerate())
    sim = make_server(synthetic_bars(50)).start()
    port = sim.port
    ws = websocket.create_connection(sim.ws_public_url, timeout=5)
    assert any(t.name == "exchange-sim" for t in threading.enumerate())
    sim.stop()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/v5/market/time", timeout=2)
    ws.settimeout(2)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
        ws.recv()
        ws.recv()
    ws.close()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    bars = tmp_path / "bars.parquet"
    pq.write_table(synthetic_bars(200), bars)
    faults = tmp_path / "faults.yml"
    faults.write_text("seed: 1\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trade", "exchange-sim", "--data-dir", str(bars),
         "--port", "0", "--speed", "600", "--faults", str(faults)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as a terminal delivers it: a process started with SIGINT ignored (as
        # anything the test process started may have left it) would never see it
        preexec_fn=_default_sigint,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "REST http://127.0.0.1:" in line, line + proc.stderr.read()
        base = line.split("REST ")[1].split()[0]
        body = requests.get(base + "/v5/market/instruments-info",
                            params={"category": "linear", "symbol": "BTCUSDT"}, timeout=5).json()
        assert body["result"]["list"][0]["symbol"] == "BTCUSDT"
    finally:
        proc.send_signal(2)
        # read both pipes while waiting: a child blocked on a full pipe never exits
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a hung server behind
            proc.communicate()
            raise
    assert proc.returncode in (0, 130), out + err


def test_cli_rejects_a_bad_faults_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("ws_drop_rate: -1\n")
    out = subprocess.run(
        [sys.executable, "-m", "trade", "exchange-sim", "--data-dir", str(tmp_path),
         "--faults", str(bad)], capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and "bad.yml" in out.stderr


@pytest.mark.parametrize("grace", ["-0.1", "nan", "11"])
def test_cli_rejects_a_bad_bracket_grace(tmp_path: Path, grace: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "trade", "exchange-sim", "--data-dir", str(tmp_path),
         "--bracket-grace", grace], capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 2 and "--bracket-grace" in out.stderr
