"""A small local live dashboard: one page, refreshed by Server-Sent Events.

    server = DashboardServer("127.0.0.1", 8050).start()
    server.publish({"position": {...}, "equity": 10_250.0, "ts": 1_700_000_000_000})
    ...
    server.stop()

Thread rules: `publish` may be called from any thread (the live runner's engine thread);
`start`/`stop` from the owning thread. The HTTP server runs on its own thread (one handler
thread per request); every client stream reads an immutable snapshot under the lock.

An update is a dict; recognised keys (others are shown under "info"):

* `position`: dict (symbol, side, size, entry_price, mark_price, unrealized_pnl, liq_price,
  leverage, ...) or None - replaces the shown position;
* `open_orders`: list of dicts - replaces the open orders;
* `fill` (dict) or `fills` (list of dicts): appended to the recent fills (last 50 kept);
* `equity`: a number (with the update's `ts`), or {"ts", "equity"}: appended to the curve;
* `connection`: dict of named health values (e.g. {"public_ws": "connected",
  "last_message_age_s": 0.4}) - merged;
* `ts`: ms UTC of the update; without it the injected Clock's time is used;
* `play` (str): the update is one Play's of a run of several (`trade run A.yml B.yml`): it
  replaces that Play's row in `plays` (its position, equity, open orders, entries state,
  lag, connection) and adds its fills to the recent fills, tagged with the Play; the
  page's single position, open orders and equity curve are left to updates without `play`.

With an `instrument`, prices and quantities in the position, orders and fills are shown at
its precision (`Instrument.price_text` / `qty_text`: tick and quantity-step decimals).
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from trade.core.clock import Clock
from trade.core.errors import InputError
from trade.core.instrument import Instrument
from trade.report._dashboard_page import DASHBOARD_HTML

MAX_FILLS = 50
MAX_EQUITY_POINTS = 5000
KEEPALIVE_S = 15.0
_KNOWN = {"position", "open_orders", "fill", "fills", "equity", "connection", "ts"}
_PLAY_KEYS = ("play_symbol", "play_mode", "equity", "entries", "lag_ms", "close")


def parse_address(text: str) -> tuple[str, int]:
    """A dashboard address: ``"127.0.0.1:8050"`` -> ``("127.0.0.1", 8050)``.

    Parameters
    ----------
    text : str
        ``HOST:PORT``; ``":8050"`` or ``"8050"`` mean loopback.

    Returns
    -------
    tuple of (str, int)

    Raises
    ------
    InputError
        The port is not a number in 0..65535.
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = "", text.strip()
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError as exc:
        raise InputError(f"dashboard address {text!r}: port {port!r} is not a number") from exc
    if not 0 <= number <= 65535:
        raise InputError(f"dashboard address {text!r}: port {number} is out of range")
    return host, number


PRICE_KEYS = frozenset({
    "price", "entry_price", "exit_price", "mark_price", "liq_price", "bust_price",
    "avg_price", "trigger", "trigger_price", "take_profit", "stop_loss", "tp", "sl",
    "exec_price", "fill_price",
})
QTY_KEYS = frozenset({"size", "qty", "filled", "filled_qty", "leaves_qty", "exec_qty",
                      "cum_exec_qty"})


def display_row(row: Any, instrument: Instrument | None) -> Any:
    """A position, order or fill as shown: its prices and quantities written at the
    instrument's precision (strings); zero sizes stay 0 (flat), everything else as is."""
    if instrument is None or not isinstance(row, Mapping):
        return row
    out: dict[str, Any] = {}
    for key, value in row.items():
        num = isinstance(value, int | float) and not isinstance(value, bool)
        if num and key in PRICE_KEYS and value:
            out[key] = instrument.price_text(float(value), missing="–")
        elif num and key in QTY_KEYS and value:
            out[key] = instrument.qty_text(float(value), missing="–")
        else:
            out[key] = value
    return out


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | deque):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        return _jsonable(obj.item())
    if hasattr(obj, "name") and hasattr(obj, "value"):  # enums
        return str(obj.name)
    return str(obj)


class DashboardServer:
    """Serves the dashboard page at `/`, the state at `/state` and a stream at `/events`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, clock: Clock | None = None,
                 instrument: Instrument | None = None) -> None:
        self.host = host
        self.instrument = instrument
        self.port = port
        self._clock = clock
        self._cond = threading.Condition()
        self._version = 0
        self._stopping = False
        self._position: dict[str, Any] | None = None
        self._orders: list[Any] = []
        self._fills: deque[Any] = deque(maxlen=MAX_FILLS)
        self._equity: deque[tuple[int | None, float]] = deque(maxlen=MAX_EQUITY_POINTS)
        self._connection: dict[str, Any] = {}
        self._info: dict[str, Any] = {}
        self._plays: dict[str, dict[str, Any]] = {}
        self._last_ts: int | None = None
        self._snapshot = "{}"
        self._dirty = True
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- state
    def publish(self, state_update: Mapping[str, Any]) -> None:
        """Merge one update into the shown state and wake every open stream (any thread)."""
        if not isinstance(state_update, Mapping):
            raise InputError(f"publish() takes a dict, got {type(state_update).__name__}")
        upd = dict(state_update)
        ts = upd.get("ts")
        if ts is None and self._clock is not None:
            ts = self._clock.now_ms()
        if isinstance(upd.get("play"), str):
            self._publish_play(upd, ts)
            return
        with self._cond:
            if "position" in upd:
                pos = upd["position"]
                self._position = None if pos is None else self._shown(pos)
            if "open_orders" in upd:
                self._orders = [self._shown(o) for o in upd["open_orders"] or []]
            if upd.get("fill") is not None:
                self._fills.append(self._shown(upd["fill"]))
            for fill in upd.get("fills") or []:
                self._fills.append(self._shown(fill))
            eq = upd.get("equity")
            if isinstance(eq, Mapping):
                self._equity.append((eq.get("ts", ts), float(eq["equity"])))
            elif eq is not None:
                self._equity.append((ts, float(eq)))
            if isinstance(upd.get("connection"), Mapping):
                self._connection.update(_jsonable(upd["connection"]))
            for key, value in upd.items():
                if key not in _KNOWN:
                    self._info[key] = _jsonable(value)
            if ts is not None:
                self._last_ts = int(ts)
            self._version += 1
            self._dirty = True
            self._cond.notify_all()

    def _publish_play(self, upd: dict[str, Any], ts: Any) -> None:
        """One Play's update in a run of several: its row in `plays`."""
        name = str(upd["play"])
        with self._cond:
            row = self._plays.setdefault(name, {"play": name})
            for key in _PLAY_KEYS:
                if key in upd:
                    row[key] = _jsonable(upd[key])
            if "position" in upd:
                row["position"] = (None if upd["position"] is None
                                   else self._shown(upd["position"]))
            if "open_orders" in upd:
                row["open_orders"] = [self._shown(o) for o in upd["open_orders"] or []]
            if isinstance(upd.get("connection"), Mapping):
                row.setdefault("connection", {}).update(_jsonable(upd["connection"]))
            fills = list(upd.get("fills") or []) + ([upd["fill"]] if upd.get("fill") else [])
            for fill in fills:
                shown = self._shown(fill)
                self._fills.append(({"play": name} | shown) if isinstance(shown, dict)
                                   else shown)
            if ts is not None:
                row["ts"] = int(ts)
                self._last_ts = max(self._last_ts or 0, int(ts))
            self._version += 1
            self._dirty = True
            self._cond.notify_all()

    def _shown(self, row: Any) -> Any:
        return display_row(_jsonable(row), self.instrument)

    def _render(self) -> str:
        """The JSON snapshot, rebuilt only after a change (caller holds the lock)."""
        if not self._dirty:
            return self._snapshot
        self._dirty = False
        self._snapshot = json.dumps(
            {
                "version": self._version,
                "ts": self._last_ts,
                "position": self._position,
                "open_orders": self._orders,
                "fills": list(self._fills)[::-1],
                "equity": [[t, e] for t, e in self._equity],
                "connection": self._connection,
                "info": self._info,
                "plays": [self._plays[k] for k in sorted(self._plays)],
            },
            allow_nan=False,
        )
        return self._snapshot

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            state: dict[str, Any] = json.loads(self._render())
            return state

    def _wait_change(self, seen: int, timeout: float) -> tuple[int, str] | None:
        """The next snapshot newer than `seen`, or None on timeout/stop."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != seen or self._stopping, timeout)
            if self._stopping or self._version == seen:
                return None
            return self._version, self._render()

    # ---------------------------------------------------------------- server
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("DashboardServer is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    def start(self) -> DashboardServer:
        if self._httpd is not None:
            raise RuntimeError("DashboardServer already started")
        handler = _make_handler(self)
        httpd = ThreadingHTTPServer((self.host, self.port), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = int(httpd.server_address[1])
        with self._cond:
            self._stopping = False
        self._thread = threading.Thread(
            target=httpd.serve_forever, name=f"dashboard:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every stream, stop serving and join the server thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    @property
    def stopping(self) -> bool:
        with self._cond:
            return self._stopping

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _make_handler(server: DashboardServer) -> type[BaseHTTPRequestHandler]:
    page = DASHBOARD_HTML.encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        server_version = "trade-dashboard"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: the live runner logs what matters

        def _send(self, status: HTTPStatus, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
            elif path == "/state":
                body = json.dumps(server.snapshot()).encode()
                self._send(HTTPStatus.OK, "application/json", body)
            elif path == "/events":
                self._stream()
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = -1
            try:
                while not server.stopping:
                    nxt = server._wait_change(seen, KEEPALIVE_S)
                    if nxt is None:
                        if server.stopping:
                            break
                        self.wfile.write(b": keepalive\n\n")
                    else:
                        seen, snap = nxt
                        self.wfile.write(f"id: {seen}\ndata: {snap}\n\n".encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the browser went away

    return Handler
