"""Server-time sync: measure the offset to Bybit's clock and sign with corrected time.

`TimeSync.measure()` reads `/v5/market/time` and takes the midpoint of the round trip as
the instant the server stamped; `offset_ms = server - local`. `timestamp_ms()` is the
local clock plus that offset, and is what the client factory feeds into every request
signature (pybit's own timestamp is the raw system clock). `maybe_resync()` re-measures
once `interval_s` has passed; the REST client calls it before signed requests and calls
`resync()` after a 10002 (timestamp) error. Drift (the change of the offset between two
measurements) is recorded and logged.

Thread-safety: every method may be called from any thread (a lock guards the state).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from trade.core import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncSample:
    offset_ms: int
    rtt_ms: int
    at_ms: int  # local time of the sample


class TimeSync:
    """Offset between the exchange clock and `clock`; see the module docstring."""

    def __init__(self, clock: Clock, fetch_server_ms: Callable[[], int] | None = None, *,
                 interval_s: float = 300.0, warn_drift_ms: int = 500) -> None:
        self.clock = clock
        self._fetch = fetch_server_ms
        self.interval_s = interval_s
        self.warn_drift_ms = warn_drift_ms
        self._lock = threading.Lock()
        self._measure_lock = threading.Lock()
        self.offset_ms = 0
        self.samples: list[SyncSample] = []
        self._last_sync_mono: float | None = None

    def bind(self, fetch_server_ms: Callable[[], int]) -> None:
        self._fetch = fetch_server_ms

    def timestamp_ms(self) -> int:
        """Our best estimate of the exchange's clock now."""
        with self._lock:
            return self.clock.now_ms() + self.offset_ms

    def measure(self) -> SyncSample:
        """One round trip to the server clock; corrects the offset."""
        if self._fetch is None:
            raise RuntimeError("TimeSync has no server-time source (call bind())")
        with self._measure_lock:
            t0 = self.clock.now_ms()
            server = self._fetch()
            t1 = self.clock.now_ms()
            offset = int(server - (t0 + t1) / 2)
            sample = SyncSample(offset, t1 - t0, t1)
            with self._lock:
                drift = offset - self.offset_ms
                self.offset_ms = offset
                self.samples.append(sample)
                del self.samples[:-50]
                self._last_sync_mono = self.clock.monotonic()
            if len(self.samples) > 1 and abs(drift) > self.warn_drift_ms:
                log.warning("clock drift %+d ms since the last sync: corrected (offset now "
                            "%+d ms)", drift, offset)
            else:
                log.debug("server time offset %+d ms (rtt %d ms)", offset, sample.rtt_ms)
            return sample

    def resync(self) -> SyncSample:
        return self.measure()

    def due(self) -> bool:
        with self._lock:
            last = self._last_sync_mono
        return last is None or self.clock.monotonic() - last >= self.interval_s

    def maybe_resync(self) -> None:
        if self._fetch is not None and self.due():
            self.measure()
