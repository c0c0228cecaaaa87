"""The simulator's clocks: the market clock of the replay and the time clients see.

* Real time (`--speed 1`): the replay is laid onto the wall clock. Every bar is shifted by
  the same whole number of minutes (`wall_shift_ms`) so that the requested start falls on
  the current wall-clock minute; bars, orders, executions, `/v5/market/time` and every
  envelope `time` then agree, as on Bybit.
* Faster replays (`ReplayClock` with speed != 1): `/v5/market/time`, the envelope `time`
  and the private pong report the *market* clock, so `fetch_ohlcv(since=time - 1h)` and a
  staleness check see the replay. A signed request's `X-BAPI-TIMESTAMP` is accepted when it
  lies in Bybit's window (`now - recv_window <= ts < now + 1000`) around either
  - the wall clock: what unmodified ccxt and pybit sign with (they never ask the server's
    time), or
  - the market clock as a client that copied it from `/v5/market/time` at some moment
    since the start sees it: the offset `market - wall` such a client holds lies between
    its value at the start and its value now (`signed_window`).
* A `SimulatedClock` (tests step the replay): the server clock (wall time) is reported, as
  before; the market clock moves only when the test steps it.
"""

from __future__ import annotations

import threading

from trade.core import Clock, WallClock

MINUTE_MS = 60_000


class ReplayClock:
    """Market time = `start_ms` + elapsed real time x `speed` (speed 1 = real time).

    Reads real time through a `Clock` (WallClock by default), never the system clock
    directly; `wait` waits in real time for the market-time equivalent. Immutable after
    construction, so any thread may read it. ValueError unless `speed` > 0.
    """

    def __init__(self, start_ms: int, speed: float = 1.0, base: Clock | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self.base: Clock = base or WallClock()
        self._t0 = self.base.monotonic()
        self.wall_start_ms = self.base.now_ms()  # the wall clock when the replay started

    def now_ms(self) -> int:
        """The market time (ms since the epoch)."""
        return self.start_ms + int((self.base.monotonic() - self._t0) * 1000.0 * self.speed)

    def wait(self, event: threading.Event, timeout_s: float) -> bool:
        """Wait for `event` up to `timeout_s` market seconds (timeout_s / speed real
        seconds); True when the event was set."""
        return self.base.wait(event, timeout_s / self.speed)

    def monotonic(self) -> float:
        """The market time in seconds (never goes back: it follows the base's monotonic)."""
        return self.now_ms() / 1000.0


def wall_shift_ms(start_ms: int, wall_now_ms: int) -> int:
    """Whole minutes to add to every bar so that `start_ms` lands on the wall clock's
    current minute (bars stay on minute boundaries)."""
    return (wall_now_ms - start_ms) // MINUTE_MS * MINUTE_MS


def reports_market_clock(clock: Clock) -> bool:
    """A replay faster (or slower) than real time shows its market clock to clients."""
    return isinstance(clock, ReplayClock) and clock.speed != 1.0


def timestamp_ok(ts: int, recv_window: int, wall_now_ms: int, clock: Clock) -> bool:
    """Bybit's recv-window rule, against the wall clock or a copied market clock (above)."""
    # Bybit's window: server_time - recv_window <= timestamp < server_time + 1000
    if wall_now_ms - recv_window <= ts < wall_now_ms + 1000:
        return True
    if not reports_market_clock(clock):
        return False
    assert isinstance(clock, ReplayClock)
    offset_start = clock.start_ms - clock.wall_start_ms
    offset_now = clock.now_ms() - wall_now_ms
    lo, hi = min(offset_start, offset_now), max(offset_start, offset_now)
    return wall_now_ms + lo - recv_window <= ts < wall_now_ms + hi + 1000


def expires_ok(expires_ms: int, wall_now_ms: int, clock: Clock) -> bool:
    """A private-stream auth `expires` still in the future, by the wall clock or by a
    market clock copied from `/v5/market/time` (the oldest such copy is the most behind)."""
    if expires_ms > wall_now_ms:
        return True
    if not reports_market_clock(clock):
        return False
    assert isinstance(clock, ReplayClock)
    behind = min(clock.start_ms - clock.wall_start_ms, clock.now_ms() - wall_now_ms)
    return expires_ms > wall_now_ms + behind
