"""`trade run --mode demo --dashboard 127.0.0.1:0` against the exchange simulator.

The CLI runs as a subprocess (the wiring under test is trade/cli/run_cmd.py), the
simulator replays bars on a SimulatedClock that the test steps, and the dashboard is read
over HTTP (`/state`, the SSE stream `/events`) and rendered in headless Chromium. Every
wait is on a condition with a timeout; everything binds 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser import Browser, non_background_fraction

from tests.conftest_exsim import KEY, SECRET, fast_cross_play_yaml, make_server, synthetic_bars
from trade.engine import DEFAULT_INSTRUMENT, order_plan, sim_config
from trade.exchange_sim import ExchangeSimServer
from trade.play import load_play

WARM = 20
PLAY_YAML = fast_cross_play_yaml("dashboard_fast_cross")


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    idle = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        idle.wait(0.02)
    assert pred(), f"timed out after {timeout} s waiting for {what}"


@dataclass
class LiveRun:
    sim: ExchangeSimServer
    proc: subprocess.Popen[str]
    journal: Path
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    url: str = ""

    def get(self, path: str) -> tuple[int, str, bytes]:
        with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=5) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()

    def state(self) -> dict[str, Any]:
        status, ctype, body = self.get("/state")
        assert status == 200 and ctype == "application/json"
        data: dict[str, Any] = json.loads(body)
        return data

    def step(self) -> tuple[int, dict[str, Any]]:
        """Close the next 1m bar; return its index and the dashboard state once it shows it."""
        i = self.sim.fed
        self.sim.step()
        close_ms = int(self.sim.market.ts[i]) + 60_000
        wait_until(lambda: self.state()["ts"] == close_ms or self.proc.poll() is not None,
                   20, f"the dashboard to show bar {i}")
        assert self.proc.poll() is None, "".join(self.err[-30:])
        return i, self.state()


def _pump(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    tmp = tmp_path_factory.mktemp("dash")
    play_file = tmp / "fast.yml"
    play_file.write_text(PLAY_YAML)
    play = load_play(play_file)
    plan = order_plan(play, DEFAULT_INSTRUMENT)
    journal = tmp / "run.jsonl"
    env = dict(os.environ, BYBIT_DEMO_API_KEY=KEY, BYBIT_DEMO_API_SECRET=SECRET,
               PYTHONUNBUFFERED="1")
    bars = synthetic_bars(n=400, seed=11)
    with make_server(bars, warm=WARM, sim_config=sim_config(play, plan, DEFAULT_INSTRUMENT)
                     ) as sim:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trade", "run", str(play_file), "--mode", "demo",
             "--endpoint", sim.base_url, "--journal", str(journal),
             "--dashboard", "127.0.0.1:0", "--history-bars", "200"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lr = LiveRun(sim, proc, journal)
        readers = [threading.Thread(target=_pump, args=(proc.stdout, lr.out), daemon=True),
                   threading.Thread(target=_pump, args=(proc.stderr, lr.err), daemon=True)]
        for t in readers:
            t.start()
        try:
            wait_until(lambda: any(x.startswith("dashboard: ") for x in lr.out)
                       or proc.poll() is not None, 30, "the dashboard address")
            assert proc.poll() is None, "".join(lr.err[-30:])
            lr.url = next(x for x in lr.out if x.startswith("dashboard: ")).split(" ", 1)[1]
            lr.url = lr.url.strip()
            wait_until(lambda: (journal.exists() and '"kind":"ready"' in journal.read_text())
                       or proc.poll() is not None, 30, "the runner to be ready")
            assert proc.poll() is None, "".join(lr.err[-30:])
            yield lr
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for t in readers:
                t.join(5)
        assert proc.returncode == 0, "".join(lr.err[-30:])
        assert any(x.startswith("stopped:") for x in lr.out)


class SseReader:
    """A client of `/events`: each `next_event()` is one `id:`/`data:` message."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        self.conn.request("GET", "/events")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        assert self.resp.getheader("Content-Type") == "text/event-stream"

    def next_event(self) -> tuple[int, dict[str, Any]]:
        ident, data = None, None
        while True:
            line = self.resp.fp.readline().decode()
            assert line, "the event stream ended"
            if line.startswith("id: "):
                ident = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "\n" and data is not None:
                assert ident == data["version"]
                return ident, data

    def close(self) -> None:
        self.conn.close()


def _venue(sim: ExchangeSimServer) -> tuple[int, float, float]:
    return sim.inspect(lambda v: (int(v.engine.position().side), v.engine.position().size,
                                  v.engine.balance().equity))


def test_state_and_event_stream_follow_the_session(run: LiveRun) -> None:
    status, ctype, page = run.get("/")
    assert status == 200 and ctype.startswith("text/html") and b"EventSource" in page
    start = run.state()
    sse = SseReader(run.url)
    try:
        first_id, first = sse.next_event()  # the current snapshot, at once
        assert first_id == start["version"]
        n0 = len(start["equity"])
        sides: list[int] = []
        for k in range(1, 41):
            i, state = run.step()
            # bars: one equity point per closed bar, stamped with the bar's close
            assert len(state["equity"]) == n0 + k
            assert state["equity"][-1][0] == state["ts"] == int(run.sim.market.ts[i]) + 60_000
            assert state["info"]["close"] == pytest.approx(float(run.sim.market.close[i]))
            # the bar's close-to-decision lag (bar clock), and whether entries are open
            assert 0 <= state["info"]["lag_ms"] < 60_000
            assert state["info"]["entries"] == "open"
            # position and equity: the exchange's own books after the bar
            side, size, equity = _venue(run.sim)
            pos = state["position"]
            assert pos["symbol"] == "BTCUSDT"
            # shown at the instrument's precision: a quantity step of 0.001 writes 3 decimals
            assert (pos["side"], float(pos["size"]) if pos["size"] else 0.0) == \
                (side, pytest.approx(size))
            assert not pos["size"] or len(str(pos["size"]).partition(".")[2]) == 3
            assert state["equity"][-1][1] == pytest.approx(equity, rel=1e-6)
            sides.append(side)
            # connection health: both streams subscribed, message ages measured
            conn = state["connection"]
            assert conn["public_ws"] == conn["private_ws"] == "subscribed"
            assert 0 <= conn["public_message_age_s"] < 60
            assert conn["private_message_age_s"] >= 0
        assert any(s != 0 for s in sides), "the Play never opened a position"
        assert len({e[1] for e in run.state()["equity"][n0:]}) > 1  # equity moved

        # The stream delivered the updates in order, ending at the latest state.
        last = run.state()["version"]
        versions: list[int] = []
        equity_lengths: list[int] = []
        while not versions or versions[-1] < last:
            ident, snap = sse.next_event()
            versions.append(ident)
            equity_lengths.append(len(snap["equity"]))
        assert versions == sorted(set(versions)) and versions[0] > first_id
        assert equity_lengths == sorted(equity_lengths) and equity_lengths[-1] == n0 + 40
        assert first["equity"] == start["equity"]
    finally:
        sse.close()


def test_dashboard_page_renders_and_updates_in_chromium(run: LiveRun) -> None:
    run.step()  # at least one bar on the page
    with Browser(width=1200, height=900) as browser:
        shown = run.state()
        page = browser.open(run.url, ready=f"window.DASH_VERSION >= {shown['version']}")
        health = page.eval("document.getElementById('health').textContent")
        assert "public_ws" in health and "subscribed" in health
        assert page.eval("document.getElementById('stream').textContent") == "live"
        eq_text = page.eval("document.getElementById('eqlast').textContent")
        assert float(eq_text.replace(",", "").split()[0]) == pytest.approx(
            shown["equity"][-1][1], abs=0.006)
        canvas = page.element_screenshot("#equity")
        assert non_background_fraction(canvas) > 0.01, "the equity chart is blank"

        before = page.eval("document.getElementById('sub').textContent")
        points = page.eval("document.querySelectorAll('#kpis .kpi').length")
        assert points == 6
        for _ in range(3):
            _, state = run.step()
            page.wait_for(f"window.DASH_VERSION >= {state['version']}", timeout=20)
        after = page.eval("document.getElementById('sub').textContent")
        assert after != before and "updated" in after
        eq_text = page.eval("document.getElementById('eqlast').textContent")
        assert float(eq_text.replace(",", "").split()[0]) == pytest.approx(
            state["equity"][-1][1], abs=0.006)
        shown_pos = page.eval(
            "(function(){var o={},dt=document.querySelectorAll('#position dt');"
            "dt.forEach(function(d){o[d.textContent]=d.nextElementSibling.textContent;});"
            "return o;})()")
        assert float(shown_pos["size"]) == pytest.approx(float(state["position"]["size"] or 0))
        assert int(shown_pos["side"]) == state["position"]["side"]
        assert shown_pos["symbol"] == "BTCUSDT"
        assert page.errors == []
        origin = run.url.rstrip("/")
        assert all(u.startswith((origin, "data:", "about:")) for u in page.requests), \
            page.requests
