"""Client-side, endpoint-aware rate limiting: rolling one-second windows fed by Bybit's
limit headers.

Each REST path has a window (Bybit's default per-second limits; market data shares one
per-IP window). `acquire(path)` records a request when fewer than the limit were sent in the
last second, else waits through the injected `Clock` until the oldest leaves the window.
Bybit counts in a rolling window too, so this never sends more than it allows (a token
bucket of the same rate lets up to twice the limit through in one second: a full bucket
spent at once, then the refill). `observe(path, headers)` reads `X-Bapi-Limit`,
`X-Bapi-Limit-Status` (remaining) and `X-Bapi-Limit-Reset-Timestamp`: the window takes the
server's limit, counts at least what the server has counted, and, when the server says
nothing remains, holds every request until the reset time.

Thread-safety: any thread may call `acquire`/`observe`; a lock guards the buckets.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from trade.core import Clock
from trade.core.bybit_limits import BYBIT_RATE_LIMITS

#: Bybit V5 per-UID limits (requests/second) for the endpoints the live stack uses.
DEFAULT_LIMITS: dict[str, float] = {k: float(v) for k, v in BYBIT_RATE_LIMITS.items()}
PUBLIC_KEY = "/v5/market/*"
PUBLIC_LIMIT = 100.0  # Bybit: 600 requests per 5 s per IP for market data; stay below


@dataclass(slots=True)
class _Window:
    rate: float  # requests allowed in any one-second window
    sent: deque[float] = field(default_factory=deque)  # monotonic seconds of recent requests
    blocked_until_server_ms: int = 0

    def trim(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - _WINDOW_S:
            self.sent.popleft()


_WINDOW_S = 1.0


class RateLimiter:
    """Token buckets per endpoint; see the module docstring."""

    def __init__(self, clock: Clock, *, limits: Mapping[str, float] | None = None,
                 server_now_ms: Callable[[], int] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.clock = clock
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._server_now = server_now_ms or clock.now_ms
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()
        self._buckets: dict[str, _Window] = {}
        self.waits = 0  # how many acquisitions had to wait (for tests and stats)

    @staticmethod
    def key(path: str) -> str:
        return PUBLIC_KEY if path.startswith("/v5/market/") else path

    def _bucket(self, key: str, now: float) -> _Window:
        b = self._buckets.get(key)
        if b is None:
            b = _Window(float(self.limits.get(key, PUBLIC_LIMIT)))
            self._buckets[key] = b
        b.trim(now)
        return b

    def _delay(self, key: str) -> float:
        """Record a request (returns 0) or say how long to wait (seconds)."""
        now = self.clock.monotonic()
        with self._lock:
            b = self._bucket(key, now)
            if b.blocked_until_server_ms:
                wait_ms = b.blocked_until_server_ms - self._server_now()
                if wait_ms > 0:
                    return wait_ms / 1000.0
                b.blocked_until_server_ms = 0
            if len(b.sent) < b.rate:
                b.sent.append(now)
                return 0.0
            # full: wait until the oldest request leaves the one-second window
            return b.sent[0] + _WINDOW_S - now

    def acquire(self, path: str, timeout_s: float = 30.0) -> None:
        """Block (through the clock) until a request to `path` is allowed."""
        key = self.key(path)
        waited = 0.0
        while True:
            delay = self._delay(key)
            if delay <= 0:
                return
            if self._stop.is_set():
                raise RuntimeError("rate limiter stopped")
            if waited >= timeout_s:
                raise TimeoutError(f"rate limit for {path} did not clear within {timeout_s} s")
            self.waits += 1
            step = max(min(delay, timeout_s - waited, 1.0), 0.001)  # >= 1 ms: clocks tick in ms
            self.clock.wait(self._stop, step)
            waited += step

    def observe(self, path: str, headers: Mapping[str, str] | None) -> None:
        """Align the bucket with the server's X-Bapi-Limit* headers."""
        if not headers:
            return
        try:
            limit = headers.get("X-Bapi-Limit")
            status = headers.get("X-Bapi-Limit-Status")
            reset = headers.get("X-Bapi-Limit-Reset-Timestamp")
            limit_v = float(limit) if limit else None
            status_v = float(status) if status is not None and status != "" else None
            reset_v = int(reset) if reset else None
        except (TypeError, ValueError):
            return
        key = self.key(path)
        now = self.clock.monotonic()
        with self._lock:
            b = self._bucket(key, now)
            if limit_v and limit_v > 0 and key != PUBLIC_KEY:
                b.rate = limit_v  # the server's limit for this UID wins over the defaults
            if status_v is not None:
                # never believe fewer were sent than the server counted in its window
                counted = int(b.rate - max(status_v, 0.0))
                # the server's window frees at its reset time: date the padding to leave then
                at = now if reset_v is None else min(
                    now, now + (reset_v - self._server_now()) / 1000.0 - _WINDOW_S)
                while len(b.sent) < min(counted, int(b.rate)):
                    b.sent.appendleft(at)
                if status_v <= 0 and reset_v is not None:
                    b.blocked_until_server_ms = max(b.blocked_until_server_ms, reset_v)

    def block_until(self, path: str, reset_server_ms: int) -> None:
        """After a 10006 reply: no request to `path` before the server's reset time."""
        with self._lock:
            b = self._bucket(self.key(path), self.clock.monotonic())
            b.blocked_until_server_ms = max(b.blocked_until_server_ms, reset_server_ms)
