"""Client-side, endpoint-aware rate limiting: token buckets fed by Bybit's limit headers.

Each REST path has a bucket (Bybit's default per-second limits; market data shares one
per-IP bucket). `acquire(path)` takes a token, waiting through the injected `Clock` when
the bucket is empty. `observe(path, headers)` reads `X-Bapi-Limit`, `X-Bapi-Limit-Status`
(remaining) and `X-Bapi-Limit-Reset-Timestamp`: the bucket is resized to the server's
limit and, when the server says nothing remains, it is emptied until the reset time.

Thread-safety: any thread may call `acquire`/`observe`; a lock guards the buckets.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from trade.core import Clock
from trade.core.bybit_limits import BYBIT_RATE_LIMITS

#: Bybit V5 per-UID limits (requests/second) for the endpoints the live stack uses.
DEFAULT_LIMITS: dict[str, float] = {k: float(v) for k, v in BYBIT_RATE_LIMITS.items()}
PUBLIC_KEY = "/v5/market/*"
PUBLIC_LIMIT = 100.0  # Bybit: 600 requests per 5 s per IP for market data; stay below


@dataclass(slots=True)
class _Bucket:
    rate: float  # tokens per second (= capacity)
    tokens: float
    stamp: float  # monotonic seconds of the last refill
    blocked_until_server_ms: int = 0


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
        self._buckets: dict[str, _Bucket] = {}
        self.waits = 0  # how many acquisitions had to wait (for tests and stats)

    @staticmethod
    def key(path: str) -> str:
        return PUBLIC_KEY if path.startswith("/v5/market/") else path

    def _bucket(self, key: str, now: float) -> _Bucket:
        b = self._buckets.get(key)
        if b is None:
            rate = float(self.limits.get(key, PUBLIC_LIMIT))
            b = _Bucket(rate, rate, now)
            self._buckets[key] = b
        return b

    def _delay(self, key: str) -> float:
        """Take a token (returns 0) or say how long to wait (seconds)."""
        now = self.clock.monotonic()
        with self._lock:
            b = self._bucket(key, now)
            b.tokens = min(b.rate, b.tokens + (now - b.stamp) * b.rate)
            b.stamp = now
            if b.blocked_until_server_ms:
                wait_ms = b.blocked_until_server_ms - self._server_now()
                if wait_ms > 0:
                    return wait_ms / 1000.0
                b.blocked_until_server_ms = 0
            if b.tokens >= 1.0:
                b.tokens -= 1.0
                return 0.0
            return (1.0 - b.tokens) / b.rate

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
                b.tokens = min(b.tokens, status_v)  # never believe we have more than it says
                if status_v <= 0 and reset_v is not None:
                    b.blocked_until_server_ms = max(b.blocked_until_server_ms, reset_v)

    def block_until(self, path: str, reset_server_ms: int) -> None:
        """After a 10006 reply: no request to `path` before the server's reset time."""
        with self._lock:
            b = self._bucket(self.key(path), self.clock.monotonic())
            b.tokens = 0.0
            b.blocked_until_server_ms = max(b.blocked_until_server_ms, reset_server_ms)
