"""Per-endpoint rolling one-second rate limits with Bybit's X-Bapi-Limit* headers."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from trade.core.bybit_limits import BYBIT_RATE_LIMITS

#: Bybit's default per-UID limits (requests per second) for the endpoints simulated here.
DEFAULT_LIMITS: dict[str, int] = dict(BYBIT_RATE_LIMITS)
PUBLIC_LIMIT = 120  # per second per client for market endpoints (Bybit: 600 per 5 s per IP)
WINDOW_MS = 1000


@dataclass(frozen=True, slots=True)
class LimitStatus:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


class RateLimiter:
    """Rolling window per (client, endpoint). `check` counts the call when it is allowed.

    `limits` (path -> requests per second) override Bybit's defaults; other paths get
    `public_limit`. Thread-safe: one lock guards the windows."""

    def __init__(self, limits: dict[str, int] | None = None, public_limit: int = PUBLIC_LIMIT):
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}  # overrides on top of Bybit's
        self.public_limit = public_limit
        self._hits: dict[tuple[str, str], deque[int]] = {}
        self._lock = threading.Lock()

    def limit_for(self, path: str) -> int:
        """The requests per second allowed on `path`."""
        return self.limits.get(path, self.public_limit)

    def check(self, client: str, path: str, now_ms: int) -> LimitStatus:
        """Count one call of `client` on `path` at `now_ms` if the last second leaves room.

        Returns whether it is allowed, the limit, the calls left, and the reset time (when
        refused: when the oldest call leaves the window); `headers()` gives Bybit's
        X-Bapi-Limit* headers."""
        limit = self.limit_for(path)
        with self._lock:
            hits = self._hits.setdefault((client, path), deque())
            while hits and hits[0] <= now_ms - WINDOW_MS:
                hits.popleft()
            if len(hits) >= limit:
                # Exceeded: the reset is when the oldest call leaves the window.
                return LimitStatus(False, limit, 0, hits[0] + WINDOW_MS)
            hits.append(now_ms)
            # Within the limit Bybit reports the current time as the reset timestamp.
            return LimitStatus(True, limit, limit - len(hits), now_ms)
