"""WebSocket streams with explicit state, a health monitor and our own reconnection.

pybit's `WebSocket` still speaks the protocol (connect, its auth message, websocket-client
threads), but everything that makes it fragile is overridden, through
`trade.exchange_sim.pybit_client.CallbackWebSocket` (the one home of pybit's private hooks),
by callbacks of this manager:

* every incoming message goes to `StreamManager._on_raw`, which parses it and only enqueues
  typed events (trade.live.events) through the sink; it never raises (an exception in a
  pybit callback ends the stream for good);
* subscriptions are sent by the manager with a `req_id` and their acks are matched here,
  so an instant ack cannot race a callback registration and a refused topic is an event,
  not an exception; a failed auth is detected (with a timeout) and retried;
* pybit's reconnect loop is off (`restart_on_error=False`; `_on_error` only records):
  the manager's supervisor thread watches the connection (connected flag, last-message age,
  pong age) and recreates it with exponential backoff and jitter, re-authenticates,
  resubscribes, then reports `StreamState(SUBSCRIBED, reconnected=True)` so the engine
  reconciles over REST before trading again;
* the auth signature uses the time-synced clock, not the raw system clock.

States: CONNECTING -> (AUTHENTICATING) -> SUBSCRIBED -> STALE/RECONNECTING -> ... -> CLOSED.

Threads: `start`/`stop`/`state`/`wait_for_state` may be called from any thread. The
supervisor thread ("live-ws-<name>") is the only one that creates or closes connections.
`stop()` waits for conditions (the supervisor and pybit's socket threads joined), never a
fixed sleep, and nothing global is installed.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import websocket

from trade.core import Clock, WallClock
from trade.exchange_sim.pybit_client import (
    CallbackRedirectedWebSocket,
    CallbackWebSocket,
    SocketCallbacks,
    close_socket,
    join_socket,
    send_text,
    ws_auth_signature,
)
from trade.live.events import ConnState, Failure, KlinePush, LiveEvent, PrivatePush, StreamState
from trade.live.secrets import Credentials, redact


def _dumps(value: Any) -> str:
    """A WebSocket text frame (orjson)."""
    return orjson.dumps(value).decode("utf-8")


log = logging.getLogger(__name__)
Sink = Callable[[LiveEvent], None]


class StreamManager:
    """One logical stream ("public" linear market data or "private" account data)."""

    def __init__(
        self,
        name: str,
        *,
        channel: str,
        topics: Sequence[str],
        sink: Sink,
        credentials: Credentials | None = None,
        ws_base: str | None = None,
        demo: bool = False,
        timestamp_ms: Callable[[], int] | None = None,
        clock: Clock | None = None,
        ping_interval_s: float = 5.0,
        stale_after_s: float = 20.0,
        pong_timeout_s: float = 10.0,
        auth_timeout_s: float = 5.0,
        subscribe_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 10.0,
        check_interval_s: float = 0.1,
        seed: int | None = None,
    ) -> None:
        if channel == "private" and credentials is None:
            raise ValueError("the private stream needs API credentials")
        self.name = name
        self.channel = channel
        self.topics = list(topics)
        self.sink = sink
        self.credentials = credentials if channel == "private" else None
        self.ws_base = ws_base
        self.demo = demo
        self.clock: Clock = clock or WallClock()
        self.timestamp_ms: Callable[[], int] = timestamp_ms or self.clock.now_ms
        self.ping_interval_s = ping_interval_s
        self.stale_after_s = stale_after_s
        self.pong_timeout_s = pong_timeout_s
        self.auth_timeout_s = auth_timeout_s
        self.subscribe_timeout_s = subscribe_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.check_interval_s = check_interval_s
        self._rng = random.Random(seed)
        self._lock = threading.Condition()
        self._state = ConnState.CLOSED
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: Any = None
        self._connected = False
        self._authed = threading.Event()
        self._auth_failed = threading.Event()
        self._pending_acks: dict[str, str] = {}  # req_id -> "" (waiting) | "ok" | error text
        self._last_msg = 0.0
        self._last_pong = 0.0
        self._last_ping = 0.0
        self.connects = 0
        self.reconnects = 0
        self.failures: list[str] = []

    # ------------------------------------------------------------------ public
    @property
    def state(self) -> ConnState:
        with self._lock:
            return self._state

    def health(self) -> dict[str, float]:
        now = self.clock.monotonic()
        return {"message_age_s": now - self._last_msg if self._last_msg else float("inf"),
                "pong_age_s": now - self._last_pong if self._last_pong else float("inf")}

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"stream {self.name} already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._supervise, name=f"live-ws-{self.name}",
                                        daemon=True)
        self._thread.start()

    def wait_for_state(self, state: ConnState, timeout_s: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._state == state, timeout_s)

    def drop(self) -> None:
        """Force a reconnect (tests, or the engine after an anomaly)."""
        self._wake.set()
        ws = self._ws
        if ws is not None:
            self._close_socket(ws)

    def begin_stop(self) -> None:
        """Ask the supervisor to finish and start closing the socket (returns at once)."""
        self._stop.set()
        self._wake.set()
        ws = self._ws
        app = getattr(ws, "ws", None) if ws is not None else None
        if app is not None:
            try:
                app.close()
            except (websocket.WebSocketException, OSError) as exc:
                log.debug("stream %s close: %s", self.name, exc)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the connection and join every thread this stream started."""
        self.begin_stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                raise RuntimeError(f"stream {self.name}: supervisor did not stop")
        self._thread = None
        self._set_state(ConnState.CLOSED)

    # ------------------------------------------------------------------ state
    def _set_state(self, state: ConnState, *, reconnected: bool = False, detail: str = ""
                   ) -> None:
        with self._lock:
            changed = state != self._state
            self._state = state
            self._lock.notify_all()
        if changed or reconnected:
            self._emit(StreamState(self.name, state, reconnected, detail))

    def _emit(self, event: LiveEvent) -> None:
        try:
            self.sink(event)
        except Exception as exc:  # noqa: BLE001 - a callback path must never raise
            # raising here would end pybit's thread: log it, keep it, report it as a Failure
            text = redact(f"event sink failed on {type(event).__name__}: "
                          f"{type(exc).__name__}: {exc}")
            log.error("stream %s: %s", self.name, text)
            self.failures.append(text)
            if not isinstance(event, Failure):
                try:
                    self.sink(Failure(f"ws-{self.name}", text))
                except Exception as again:  # noqa: BLE001 - same callback path
                    log.error("stream %s: event sink failed again: %s", self.name,
                              redact(str(again)))

    # ------------------------------------------------------------ socket hooks
    def _on_socket_open(self) -> None:
        self._connected = True
        self._last_msg = self.clock.monotonic()

    def _on_socket_closed(self) -> None:
        self._connected = False
        self._wake.set()

    def _on_socket_error(self, error: Exception) -> None:
        self._connected = False
        text = redact(f"{type(error).__name__}: {error}")
        self.failures.append(text)
        log.info("stream %s socket error: %s", self.name, text)
        self._wake.set()

    def _on_pong(self) -> None:
        self._last_pong = self._last_msg = self.clock.monotonic()

    def _auth_frame(self) -> str:
        """The auth frame, its expiry on the time-synced clock (pybit's is the raw one)."""
        creds = self.credentials
        assert creds is not None
        expires = self.timestamp_ms() + 10_000
        self._set_state(ConnState.AUTHENTICATING)
        return _dumps({"op": "auth",
                       "args": [creds.api_key, expires, ws_auth_signature(creds.api_secret,
                                                                          expires)]})

    def _on_raw(self, raw: str) -> None:
        """Every message: parse, classify, enqueue. Never raises."""
        try:
            now = self.clock.monotonic()
            self._last_msg = now
            message = orjson.loads(raw)
            if not isinstance(message, dict):
                return
            self._dispatch(message, now)
        except Exception as exc:  # noqa: BLE001 - raising here would end the pybit stream
            text = redact(f"{type(exc).__name__}: {exc}")
            log.error("stream %s: bad message dropped: %s", self.name, text)
            self._emit(Failure(f"ws-{self.name}", text))

    def _dispatch(self, message: dict[str, Any], now: float) -> None:
        op = message.get("op")
        if op == "pong" or message.get("ret_msg") == "pong":
            self._last_pong = now
            return
        if op == "auth":
            if message.get("success"):
                self._authed.set()
            else:
                self._auth_failed.set()
                self.failures.append(redact(f"auth refused: {message.get('ret_msg')}"))
            return
        if op in ("subscribe", "unsubscribe"):
            req_id = str(message.get("req_id") or "")
            with self._lock:
                if req_id in self._pending_acks:
                    self._pending_acks[req_id] = "ok" if message.get("success") else str(
                        message.get("ret_msg") or "refused")
                    self._lock.notify_all()
            return
        topic = message.get("topic")
        if not isinstance(topic, str):
            return
        data = message.get("data")
        if topic.startswith("kline."):
            _, interval, symbol = topic.split(".", 2)
            for row in data or []:
                self._emit(KlinePush(
                    symbol=symbol, interval=interval, start=int(row["start"]),
                    open=float(row["open"]), high=float(row["high"]), low=float(row["low"]),
                    close=float(row["close"]), volume=float(row.get("volume") or 0.0),
                    confirm=bool(row.get("confirm")), received_mono=now))
            return
        rows = tuple(data) if isinstance(data, list) else ((data,) if isinstance(data, dict)
                                                            else ())
        self._emit(PrivatePush(topic, rows, int(message.get("creationTime") or 0), now))

    # ------------------------------------------------------------ supervisor
    def _backoff(self, attempt: int) -> float:
        base = min(self.backoff_max_s, self.backoff_initial_s * (2 ** min(attempt, 16)))
        return float(base * (0.5 + self._rng.random() / 2))  # "equal jitter"

    def _supervise(self) -> None:
        attempt = 0
        first = True
        while not self._stop.is_set():
            self._set_state(ConnState.CONNECTING if first else ConnState.RECONNECTING)
            ok = self._open_once()
            if ok:
                self._set_state(ConnState.SUBSCRIBED, reconnected=not first)
                if not first:
                    self.reconnects += 1
                first = False
                attempt = 0
                reason = self._monitor()
                log.info("stream %s: %s", self.name, reason)
            if self._ws is not None:
                self._close_socket(self._ws)
                self._ws = None
            if self._stop.is_set():
                break
            self._set_state(ConnState.RECONNECTING)
            delay = self._backoff(attempt)
            attempt += 1
            self._stop.wait(delay)  # real-time backoff; returns at once on stop()
        if self._ws is not None:
            self._close_socket(self._ws)
            self._ws = None
        self._set_state(ConnState.CLOSED)

    def _open_once(self) -> bool:
        self._connected = False
        self._authed.clear()
        self._auth_failed.clear()
        kwargs: dict[str, Any] = {
            "callbacks": SocketCallbacks(
                on_message=self._on_raw, on_error=self._on_socket_error,
                on_close=self._on_socket_closed, on_open=self._on_socket_open,
                on_pong=self._on_pong, auth_frame=self._auth_frame),
            "ping_interval": max(int(self.ping_interval_s), 2),
            "ping_timeout": 1,
            "retries": 2,  # pybit: one attempt (it raises once its counter reaches zero)
            "restart_on_error": False,
        }
        if self.credentials is not None:
            kwargs["api_key"] = self.credentials.api_key
            kwargs["api_secret"] = self.credentials.api_secret
        try:
            self.connects += 1
            if self.ws_base is not None:
                ws: Any = CallbackRedirectedWebSocket(self.channel, ws_base=self.ws_base,
                                                      testnet=False, **kwargs)
            else:
                ws = CallbackWebSocket(self.channel, testnet=False,
                                       demo=self.demo and self.channel == "private", **kwargs)
        except (websocket.WebSocketException, OSError) as exc:
            self.failures.append(redact(f"connect: {exc}"))
            return False
        self._ws = ws
        if not ws.is_connected():
            return False
        self._connected = True
        now = self.clock.monotonic()
        self._last_msg = self._last_pong = self._last_ping = now
        if self.credentials is not None and not self._wait_event(
                self._authed, self.auth_timeout_s, self._auth_failed):
            self.failures.append("auth failed or timed out")
            return False
        return self._subscribe(ws)

    def _wait_event(self, ok: threading.Event, timeout_s: float, bad: threading.Event) -> bool:
        deadline = self.clock.monotonic() + timeout_s
        while not self._stop.is_set():
            if ok.is_set():
                return True
            if bad.is_set() or not self._connected:
                return False
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return False
            ok.wait(min(left, self.check_interval_s))
        return False

    def _subscribe(self, ws: Any) -> bool:
        if not self.topics:
            return True
        req_id = uuid.uuid4().hex
        with self._lock:
            self._pending_acks[req_id] = ""
        try:
            send_text(ws, _dumps({"op": "subscribe", "req_id": req_id, "args": self.topics}))
        except (websocket.WebSocketException, OSError) as exc:
            self.failures.append(redact(f"subscribe send: {exc}"))
            return False
        with self._lock:
            self._lock.wait_for(lambda: bool(self._pending_acks.get(req_id))
                                or self._stop.is_set() or not self._connected,
                                self.subscribe_timeout_s)
            answer = self._pending_acks.pop(req_id, "")
        if answer != "ok":
            self.failures.append(redact(f"subscribe {self.topics}: {answer or 'no ack'}"))
            return False
        return True

    def _monitor(self) -> str:
        """Watch the live connection; returns why it must be replaced."""
        while not self._stop.is_set():
            self._wake.wait(self.check_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return "stopping"
            if not self._connected or self._ws is None or not self._ws.is_connected():
                return "connection lost"
            now = self.clock.monotonic()
            if now - self._last_msg > self.stale_after_s:
                self._set_state(ConnState.STALE, detail="no message")
                return f"stale: no message for {now - self._last_msg:.1f} s"
            if self._last_ping > self._last_pong and now - self._last_ping > self.pong_timeout_s:
                self._set_state(ConnState.STALE, detail="no pong")
                return f"stale: no pong for {now - self._last_ping:.1f} s"
            if now - self._last_ping >= self.ping_interval_s:
                self._last_ping = now
                try:
                    send_text(self._ws, _dumps({"op": "ping", "req_id": uuid.uuid4().hex}))
                except (websocket.WebSocketException, OSError):
                    return "ping failed"
        return "stopping"

    def _close_socket(self, ws: Any) -> None:
        """Close one pybit connection and join its reader thread (a condition, not a sleep)."""
        try:
            close_socket(ws)
        except (websocket.WebSocketException, OSError) as exc:
            log.debug("stream %s close: %s", self.name, exc)
        if not join_socket(ws, 5.0):
            log.warning("stream %s: socket thread still running after close", self.name)
        self._connected = False
