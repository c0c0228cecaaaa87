"""Injectable time (docs/architecture.md, invariant 8).

Nothing else reads the wall clock or sleeps."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """The time, and waits, for every component that needs them (docs/architecture.md,
    "The injected clock"): nothing else in `trade` reads the system clock or sleeps.

    Implementations: `WallClock` (real time), `SimulatedClock` (moves only when told; a
    wait advances it and returns at once), `trade.exchange_sim.ReplayClock` (market time
    N times faster than real time). All are thread-safe.
    """

    def now_ms(self) -> int:
        """Milliseconds since the epoch (UTC)."""
        ...

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Block until `event` is set or `timeout_s` passes.

        Parameters
        ----------
        event : threading.Event
            What to wait for.
        timeout_s : float
            The longest wait in seconds (<= 0: do not wait).

        Returns
        -------
        bool
            True if the event was set.
        """
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (for ages and rate limits)."""
        ...


class WallClock:
    """Real time. The only place in the package that reads the system clock."""

    def __init__(self, offset_ms: int = 0) -> None:
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        return event.wait(max(timeout_s, 0.0))

    def monotonic(self) -> float:
        return time.monotonic()


class SimulatedClock:
    """Time that moves only when told to. Waits return at once, advancing the clock.

    Thread-safe: tests may advance it from one thread while others read it.
    """

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return self._now

    def set(self, ms: int) -> None:
        with self._lock:
            if ms < self._now:
                raise ValueError(f"a simulated clock cannot go back ({ms} < {self._now})")
            self._now = ms

    def advance(self, ms: int) -> int:
        if ms < 0:
            raise ValueError(f"advance takes ms >= 0, got {ms}")
        with self._lock:
            self._now += ms
            return self._now

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        if event.is_set():
            return True
        self.advance(int(max(timeout_s, 0.0) * 1000))
        return event.is_set()

    def monotonic(self) -> float:
        return self.now_ms() / 1000.0
