"""A market clock that replays history N times faster than real time."""

from __future__ import annotations

import threading

from trade.core import Clock, WallClock


class ReplayClock:
    """Market time = `start_ms` + elapsed real time x `speed` (speed 1 = real time).

    Reads real time through a `Clock` (WallClock by default), never the system clock
    directly; `wait` waits in real time for the market-time equivalent.
    """

    def __init__(self, start_ms: int, speed: float = 1.0, base: Clock | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self.base: Clock = base or WallClock()
        self._t0 = self.base.monotonic()

    def now_ms(self) -> int:
        return self.start_ms + int((self.base.monotonic() - self._t0) * 1000.0 * self.speed)

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        return self.base.wait(event, timeout_s / self.speed)

    def monotonic(self) -> float:
        return self.now_ms() / 1000.0
