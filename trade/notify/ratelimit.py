"""Token buckets per notification kind, on the injected Clock.

Each kind (`fill`, `rejection`, ...) has its own bucket: `burst` messages at once, then
one every `1/per_minute` minutes. A message refused by its bucket is counted, not queued;
the counts are handed to the next message that goes out (`take_dropped`).

Thread-safety: every method takes the limiter's lock; any thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from trade.core.clock import Clock


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`burst` messages at once, refilled at `per_minute` messages a minute."""

    burst: float = 5.0
    per_minute: float = 6.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_minute <= 0:
            raise ValueError(f"a rate limit needs burst >= 1 and per_minute > 0, got {self}")


#: messages per category: a burst, then so many a minute (the rest summarised later)
DEFAULT_LIMITS: dict[str, RateLimit] = {
    "fill": RateLimit(burst=10, per_minute=20),
    "rejection": RateLimit(burst=5, per_minute=6),
    "error": RateLimit(burst=5, per_minute=6),
    "breaker": RateLimit(burst=3, per_minute=2),
    "reconnect": RateLimit(burst=3, per_minute=2),
    "summary": RateLimit(burst=2, per_minute=1),
}
FALLBACK = RateLimit()  # a kind without its own limit (e.g. a session hook's `paused`)


class KindLimiter:
    """See the module docstring."""

    def __init__(self, clock: Clock, limits: dict[str, RateLimit] | None = None) -> None:
        self.clock = clock
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._tokens: dict[str, float] = {}
        self._at: dict[str, float] = {}
        self._dropped: Counter[str] = Counter()
        self.dropped_total: Counter[str] = Counter()
        self._lock = threading.Lock()

    def allow(self, kind: str) -> bool:
        """Take one token of `kind`'s bucket; False (and counted) when it is empty."""
        limit = self.limits.get(kind, FALLBACK)
        now = self.clock.monotonic()
        with self._lock:
            last = self._at.get(kind, now)
            tokens = self._tokens.get(kind, limit.burst)
            # refill: per_minute tokens a minute, never above the burst
            tokens = min(limit.burst, tokens + (now - last) * limit.per_minute / 60.0)
            self._at[kind] = now
            if tokens >= 1.0:
                self._tokens[kind] = tokens - 1.0
                return True
            self._tokens[kind] = tokens
            self._dropped[kind] += 1
            self.dropped_total[kind] += 1
            return False

    def count_dropped(self, kind: str) -> None:
        """Count a message dropped for another reason (the delivery queue was full)."""
        with self._lock:
            self._dropped[kind] += 1
            self.dropped_total[kind] += 1

    def give_back(self, dropped: dict[str, int]) -> None:
        """Return counts taken by `take_dropped` whose message did not go out after all."""
        with self._lock:
            self._dropped.update(dropped)

    def take_dropped(self) -> dict[str, int]:
        """The drops since the last call (to summarise in the next message), then reset."""
        with self._lock:
            out = dict(self._dropped)
            self._dropped.clear()
            return out


__all__ = ["DEFAULT_LIMITS", "FALLBACK", "KindLimiter", "RateLimit"]
