"""MarketFeed: the market builtins (`funding_rate`, `open_interest`) of a live run, from Bybit.

A Play's `funding_rate` is the last *settled* funding rate known at a bar's close and its
`open_interest` the latest open interest stated by then (docs/play_reference.md, the
Conditions' evaluation rules). The backtest reads both from the store
(`trade.data.series`); live trading reads the same two series from the exchange:

* funding: `GET /v5/market/funding/history` (settlement time, rate), the series
  `trade data fetch` stores. The ticker's `fundingRate` (REST or the `tickers` stream) is
  not used: it is the *predicted* rate of the next settlement and moves until then, which
  no stored history holds.
* open interest: `GET /v5/market/open-interest` with `intervalTime=5min` (the interval
  `trade data fetch` stores), not the ticker's continuously moving `openInterest`.

Both are kept as records (time, value) and turned into per-bar values by the backtest's
own rule, `trade.data.series.known_at` (the latest record stated at or before the close,
carried forward for at most three of the series' intervals), so a bar sees the value the
backtest sees on the same records.

Requests: `warm` reads the history behind the warm-up bars (a few pages, at start-up);
afterwards `prefetch(close)` (called when a bar arrives) starts a read on a worker thread,
only when a new record can exist (the close has reached the latest record plus the series'
interval): about once per 5 minutes for open interest and once per funding interval for
funding, each one small public GET. `values(close)` (at the bar's decision) waits for a
read in flight at most `wait_s`; one still in flight then leaves the bar with the records
already known (counted in `late`), so a hanging request never holds the engine longer than
that. A record the exchange has not published yet at the close is picked up by the next
bar's read. A failed read is logged and counted (`failures`) and the run goes on with the
records it has (a value older than its carry limit becomes NaN, so a condition on it is
false rather than stale).

Thread-safety: `warm`, `prefetch`, `values` and `close` are called by the runner's engine
thread; the worker thread only merges records, under a lock.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from trade.data.series import (
    DEFAULT_FUNDING_INTERVAL_MS,
    DEFAULT_OPEN_INTEREST_INTERVAL_MS,
    cadence_ms,
    funding_stale_ms,
    known_at,
    open_interest_stale_ms,
)
from trade.live.client import CATEGORY, BybitRest
from trade.live.errors import BybitError

log = logging.getLogger(__name__)
I64 = npt.NDArray[np.int64]

#: the records read per request (Bybit's largest page for both endpoints)
PAGE = 200
#: at most this many pages per read (a warm-up of 1000 1m bars needs two of open interest)
MAX_PAGES = 20
#: the open-interest interval read live (the one `trade data fetch` stores)
OI_INTERVAL = "5min"
#: the times a new record can appear on: funding settles on the hour (1h to 8h intervals),
#: open interest is stated every 5 minutes
FUNDING_GRID_MS = 60 * 60_000
OPEN_INTEREST_GRID_MS = 5 * 60_000
#: a record not published yet when expected is asked for at every close this long after
RETRY_WINDOW_MS = 10 * 60_000


class _Series:
    """One record series: (time ms, value) records, their interval and carry limit."""

    def __init__(self, name: str, default_interval: int, grid: int,
                 stale: Callable[[I64], int]) -> None:
        self.name = name
        self.default_interval = default_interval
        self.grid = grid
        self.last_read = -1  # the close up to which a read was started
        self._stale = stale
        self.records: dict[int, float] = {}
        self._ts = np.zeros(0, dtype=np.int64)
        self._values = np.zeros(0, dtype=np.float64)
        self.stale_ms = stale(self._ts)

    def merge(self, rows: list[tuple[int, float]]) -> None:
        changed = False
        for t, v in rows:
            if self.records.get(t) != v:
                self.records[t] = v
                changed = True
        if changed:
            order = sorted(self.records)
            self._ts = np.asarray(order, dtype=np.int64)
            self._values = np.asarray([self.records[t] for t in order], dtype=np.float64)
            self.stale_ms = self._stale(self._ts)

    @property
    def last_ts(self) -> int | None:
        return int(self._ts[-1]) if len(self._ts) else None

    def due(self, close_ms: int) -> bool:
        """A record not read yet can exist at `close_ms`.

        The time `g` a record can next appear at is the latest plus the series' interval
        (once two records tell the interval), else, and once that record is overdue by
        `RETRY_WINDOW_MS`, the latest time on the series' grid. A read is due when `g` has
        passed since the last read, and again at every close for `RETRY_WINDOW_MS` after a
        `g` on the series' schedule whose record has not been read (it may be published
        late)."""
        if close_ms <= self.last_read:
            return False
        last = self.last_ts
        n = len(self._ts)
        if n >= 2 and last is not None:
            cad = cadence_ms(self._ts, self.default_interval)
            if close_ms < last + cad:
                return False  # the interval is known and the next record not due yet
            g = last + cad if close_ms < last + cad + RETRY_WINDOW_MS else \
                close_ms - close_ms % self.grid
        else:
            cad = self.default_interval
            g = close_ms - close_ms % self.grid
        if last is not None and g <= last:
            return False
        on_schedule = last is not None and (g - last) % cad == 0
        return g > self.last_read or (on_schedule and close_ms < g + RETRY_WINDOW_MS)

    def at(self, close_ms: int) -> float:
        return float(known_at(self._ts, self._values, np.array([close_ms], dtype=np.int64),
                              self.stale_ms)[0])


class MarketFeed:
    """The market builtins `names` of `symbol` at each bar close, read from Bybit's REST
    history (see the module docstring).

    Parameters
    ----------
    rest : BybitRest
        The run's REST client (public endpoints, no keys needed).
    symbol : str
        The traded symbol.
    names : iterable of str
        The builtins needed: any of "funding_rate", "open_interest".
    wait_s : float
        The longest `values` waits for a read in flight.
    """

    def __init__(self, rest: BybitRest, symbol: str, names: frozenset[str] | set[str], *,
                 wait_s: float = 2.0) -> None:
        self.rest = rest
        self.symbol = symbol
        self.names = frozenset(names)
        self.wait_s = wait_s
        self.funding = _Series("funding_rate", DEFAULT_FUNDING_INTERVAL_MS, FUNDING_GRID_MS,
                               funding_stale_ms)
        self.open_interest = _Series("open_interest", DEFAULT_OPEN_INTEREST_INTERVAL_MS,
                                     OPEN_INTEREST_GRID_MS, open_interest_stale_ms)
        self.requests = 0
        self.failures = 0
        self.late = 0  # decisions taken while a read was still in flight
        self._lock = threading.Lock()  # the records (the worker merges, the engine reads)
        self._worker: threading.Thread | None = None

    def _series(self) -> list[_Series]:
        return [s for s in (self.funding, self.open_interest) if s.name in self.names]

    # ------------------------------------------------------------ reads
    def _page(self, series: _Series, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """One page of records in [start_ms, end_ms], newest first."""
        q: dict[str, Any] = {"category": CATEGORY, "symbol": self.symbol, "limit": PAGE,
                             "startTime": start_ms, "endTime": end_ms}
        self.requests += 1
        if series is self.funding:
            rows = self.rest.get("/v5/market/funding/history", q, auth=False).get("list") or []
            return [(int(r["fundingRateTimestamp"]), float(r["fundingRate"])) for r in rows]
        q["intervalTime"] = OI_INTERVAL
        rows = self.rest.get("/v5/market/open-interest", q, auth=False).get("list") or []
        return [(int(r["timestamp"]), float(r["openInterest"])) for r in rows]

    def _read(self, series: _Series, start_ms: int, end_ms: int) -> None:
        """Every record in [start_ms, end_ms], page by page from the newest back."""
        end = end_ms
        for _ in range(MAX_PAGES):
            rows = self._page(series, start_ms, end)
            with self._lock:
                series.merge([(t, v) for t, v in rows if math.isfinite(v)])
            if len(rows) < PAGE:
                return
            oldest = min(t for t, _ in rows)
            if oldest <= start_ms:
                return
            end = oldest - 1

    def _read_quietly(self, series: _Series, start_ms: int, end_ms: int) -> None:
        try:
            self._read(series, start_ms, end_ms)
        except (BybitError, KeyError, ValueError) as exc:  # a failed or malformed reply
            self.failures += 1
            log.warning("%s %s could not be read (%s); the last known value is kept within "
                        "its carry limit", self.symbol, series.name, exc)

    def warm(self, first_close_ms: int, last_close_ms: int) -> None:
        """Read the records behind bars closing from `first_close_ms` to `last_close_ms`
        (and those carried into the first: three default intervals before it)."""
        for s in self._series():
            lookback = 3 * max(s.default_interval, s.stale_ms)
            self._read_quietly(s, first_close_ms - lookback, last_close_ms)
            s.last_read = last_close_ms

    def _refresh(self, reads: list[tuple[_Series, int, int]]) -> None:
        for s, start, end in reads:
            self._read_quietly(s, start, end)

    def prefetch(self, close_ms: int) -> None:
        """Start reading, on a worker thread, what may have been stated since the latest
        record up to `close_ms` (nothing when a read is in flight or no series is due)."""
        if self._worker is not None and self._worker.is_alive():
            return
        with self._lock:
            reads = [(s, close_ms - 3 * s.default_interval if s.last_ts is None
                      else s.last_ts + 1, close_ms)
                     for s in self._series() if s.due(close_ms)]
        if not reads:
            return
        for s, _, _ in reads:
            s.last_read = close_ms
        self._worker = threading.Thread(target=self._refresh, args=(reads,),
                                        name="live-market", daemon=True)
        self._worker.start()

    def values(self, close_ms: int) -> dict[str, float]:
        """The builtins known at `close_ms` (NaN where no record is, or it is too old), as
        keyword arguments of `PlayEngine.on_bar`; reads what is due first, waiting at most
        `wait_s` for it."""
        self.prefetch(close_ms)
        worker = self._worker
        if worker is not None and worker.is_alive():
            worker.join(self.wait_s)
            if worker.is_alive():
                self.late += 1
                log.warning("%s market data read still in flight after %.1f s: bar closing "
                            "at %d decided on the values known before", self.symbol,
                            self.wait_s, close_ms)
        with self._lock:
            return {s.name: s.at(close_ms) for s in self._series()}

    def close(self, timeout_s: float = 5.0) -> None:
        """Wait for a read in flight to end (the runner stops REST first, so it gives up)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout_s)


__all__ = ["MarketFeed"]
